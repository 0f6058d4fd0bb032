// The real kata-agent binary (argv[1]) on a unix socket, driven the way the host runtime and
// the shim drive it: a sandbox with shared namespaces and storages, DestroySandbox ending the
// agent, orphan reaping, a loop-backed block device rewritten into the spec, pids and
// memory limits, tty resize, signals, exec, stdin, and bad requests. Every test checks that
// nothing is left behind (mounts, cgroups, children). Needs root, outside Bazel's sandbox.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/container/test_util.h"
#include "src/agent/rpc/test_client.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/oci/spec_proto.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"

namespace {

namespace kt = kata::agent::testing;
using ::kata::testing::ReadFileOrDie;
using ::testing::HasSubstr;

std::string g_agent_binary;

bool IsMounted(const std::string& p) {
  return absl::StrContains(ReadFileOrDie("/proc/self/mountinfo"), absl::StrCat(" ", p, " "));
}

int Shell(const std::string& cmd) { return system(cmd.c_str()); }

// Children of `parent`: (pid, state char, comm).
struct Proc {
  pid_t pid;
  char state;
  std::string comm;
};
std::vector<Proc> ChildrenOf(pid_t parent) {
  std::vector<Proc> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    int pid;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    // (It may be gone already: then it is no child.)
    std::string stat = kata::ReadFileToString(absl::StrCat("/proc/", pid, "/stat")).value_or("");
    size_t close = stat.rfind(')');
    size_t open = stat.find('(');
    if (close == std::string::npos || open == std::string::npos) continue;
    std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
    int ppid;
    if (f.size() < 2 || !absl::SimpleAtoi(f[1], &ppid) || ppid != parent) continue;
    out.push_back({pid, f[0][0], stat.substr(open + 1, close - open - 1)});
  }
  closedir(d);
  return out;
}

class AgentE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(g_agent_binary.empty()) << "pass the kata-agent binary as argv[1]";
    ASSERT_EQ(geteuid(), 0u) << "this test needs root (mounts, namespaces, cgroups)";
    dir_ = dir_holder_.path();
    cg_ = absl::StrCat("kata-agent-e2e-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
    absl::StatusOr<std::string> rootfs = kt::MakeBusyboxRootfs(dir_);
    ASSERT_TRUE(rootfs.ok()) << rootfs.status();
    rootfs_ = *rootfs;
    const std::string sock = dir_ + "/agent.sock";
    agent_ = fork();
    ASSERT_GE(agent_, 0);
    if (agent_ == 0) {
      int fd = open((dir_ + "/agent.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) dup2(fd, STDERR_FILENO);
      execl(g_agent_binary.c_str(), g_agent_binary.c_str(), "--server-addr",
            ("unix://" + sock).c_str(), "--log-level", "debug", static_cast<char*>(nullptr));
      _exit(127);
    }
    auto client = kata::ttrpc::Client::Dial("unix://" + sock, absl::Seconds(10));
    ASSERT_TRUE(client.ok()) << client.status();
    api_ = std::make_unique<kt::AgentApi>(std::move(*client), absl::Seconds(30));
  }

  void TearDown() override {
    api_.reset();
    if (agent_ > 0) {
      kill(agent_, SIGTERM);
      EXPECT_EQ(WaitAgent(absl::Seconds(15)), 0) << AgentLog();
    }
    // (Only mounts under the test's directory: other work on this host mounts things too.)
    EXPECT_THAT(ReadFileOrDie("/proc/self/mountinfo"), ::testing::Not(HasSubstr(dir_)))
        << "mounts left behind";
    // The containers' cgroups are gone (the parent a second container found existing is
    // not the agent's to remove: the test removes it).
    EXPECT_EQ(Shell(absl::StrCat("for d in /sys/fs/cgroup/*/", cg_, " /sys/fs/cgroup/", cg_,
                                 "; do [ -d $d ] || continue; ",
                                 "[ -z \"$(find $d -mindepth 1 -type d)\" ] || exit 1; ",
                                 "rmdir $d || exit 1; done")),
              0)
        << "container cgroups left behind";
    if (HasFailure()) std::cerr << "agent log:\n" << AgentLog();
  }

  std::string AgentLog() { return kata::ReadFileToString(dir_ + "/agent.log").value_or(""); }

  // Waits for the agent to exit; its exit status (0..255), or -1 after killing it.
  int WaitAgent(absl::Duration timeout) {
    const absl::Time until = absl::Now() + timeout;
    for (;;) {
      int status = 0;
      if (waitpid(agent_, &status, WNOHANG) == agent_) {
        agent_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (absl::Now() > until) {
        kill(agent_, SIGKILL);
        waitpid(agent_, nullptr, 0);
        agent_ = -1;
        return -1;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

  grpc::CreateContainerRequest Request(const std::string& id, std::vector<std::string> args,
                                       bool terminal = false, const std::string& rootfs = "") {
    return kt::BusyboxContainerRequest(id, rootfs.empty() ? rootfs_ : rootfs, cg_ + "/" + id,
                                       std::move(args), terminal);
  }
  std::string CgroupDir(const std::string& controller, const std::string& id) {
    for (const std::string& root :
         {absl::StrCat("/sys/fs/cgroup/", controller), std::string("/sys/fs/cgroup")}) {
      std::string d = absl::StrCat(root, "/", cg_, "/", id);
      struct stat st;
      if (stat(d.c_str(), &st) == 0) return d;
    }
    return "";
  }

  // In /tmp, not $TEST_TMPDIR (under /root, mode 0700): the mapped root of a user-namespace
  // container must reach its rootfs, and the agent's unix socket path must stay short.
  kata::testing::TempDir dir_holder_{"/tmp"};
  pid_t agent_ = -1;
  std::string dir_, rootfs_, cg_;
  std::unique_ptr<kt::AgentApi> api_;
};

grpc::Storage Storage(const std::string& driver, const std::string& source,
                      const std::string& mount_point, std::vector<std::string> options = {}) {
  grpc::Storage s;
  s.set_driver(driver);
  s.set_source(source);
  s.set_mount_point(mount_point);
  for (const std::string& o : options) s.add_options(o);
  return s;
}

// The runtime's flow: CreateSandbox with the shared directory (a bind storage standing in
// for the 9p share), containers whose root.path lies in it, sharing the sandbox's UTS, IPC
// and PID namespaces; a container storage ref-counted and unmounted on RemoveContainer;
// DestroySandbox answers, then the agent ends by itself ("sandbox destroyed").
TEST_F(AgentE2eTest, SandboxSharesNamespacesAndStoragesAndDestroyEndsTheAgent) {
  ASSERT_EQ(
      Shell(absl::StrCat("mkdir -p ", dir_, "/share/c1 ", dir_, "/share/c2 && cp -a ", rootfs_, " ",
                         dir_, "/share/c1/ && cp -a ", rootfs_, " ", dir_, "/share/c2/")),
      0);
  const std::string shared = dir_ + "/run/shared/containers";
  grpc::CreateSandboxRequest sb;
  sb.set_hostname("podhost");
  sb.set_sandbox_id("sb1");
  sb.set_sandbox_pidns(true);
  sb.add_dns("nameserver 10.0.0.1");
  *sb.add_storages() = Storage("bind", dir_ + "/share", shared);
  absl::Status s = api_->CreateSandbox(sb);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(IsMounted(shared));
  EXPECT_EQ(api_->CreateSandbox(sb).code(), absl::StatusCode::kAlreadyExists);

  grpc::CreateContainerRequest c1 = Request("c1", {"sleep", "1000"}, false, shared + "/c1/rootfs");
  c1.mutable_oci()->set_hostname("");
  c1.set_sandbox_pidns(true);
  s = api_->Create(c1);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(api_->Start("c1").ok());

  const std::string eph = dir_ + "/run/eph";
  grpc::CreateContainerRequest c2 =
      Request("c2",
              {"sh", "-c",
               "hostname; for n in ipc uts pid; do busybox readlink /proc/self/ns/$n; done; "
               "echo pid=$$"},
              false, shared + "/c2/rootfs");
  c2.mutable_oci()->set_hostname("");
  c2.set_sandbox_pidns(true);
  *c2.add_storages() = Storage("ephemeral", "tmpfs", eph, {"size=1m"});
  s = api_->Create(c2);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(IsMounted(eph));
  ASSERT_TRUE(api_->Start("c2").ok());
  absl::StatusOr<std::string> out2 = api_->ReadAll("c2", "c2");
  ASSERT_TRUE(out2.ok()) << out2.status();
  EXPECT_EQ(*api_->Wait("c2", "c2"), 0);
  std::vector<std::string> lines = absl::StrSplit(*out2, '\n');
  ASSERT_GE(lines.size(), 5u) << *out2;
  EXPECT_EQ(lines[0], "podhost");
  EXPECT_NE(lines[4], "pid=1") << "the holder is pid 1 of the shared pid namespace";

  // An exec in c1 sees the same namespaces as c2.
  ASSERT_TRUE(
      api_->Exec("c1", "e1",
                 {"sh", "-c", "for n in ipc uts pid; do busybox readlink /proc/self/ns/$n; done"})
          .ok());
  absl::StatusOr<std::string> out1 = api_->ReadAll("c1", "e1");
  ASSERT_TRUE(out1.ok()) << out1.status();
  EXPECT_EQ(*out1, absl::StrCat(lines[1], "\n", lines[2], "\n", lines[3], "\n"));
  char self_ipc[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/ipc", self_ipc, sizeof(self_ipc) - 1), 0);
  EXPECT_NE(lines[1], self_ipc);

  // An orphan in the shared pid namespace goes to its pid 1, the sandbox's holder (a child
  // of the agent that never exec'd, so it has the agent's name), which reaps it.
  ASSERT_TRUE(api_->Exec("c1", "e2", {"sh", "-c", "sh -c 'sleep 0.3 & exit 0'; sleep 1.5"}).ok());
  EXPECT_EQ(*api_->Wait("c1", "e2"), 0);
  pid_t holder = -1;
  std::string agent_comm = g_agent_binary.substr(g_agent_binary.rfind('/') + 1).substr(0, 15);
  for (const Proc& p : ChildrenOf(agent_)) {
    if (p.comm == agent_comm) holder = p.pid;
  }
  ASSERT_GT(holder, 0) << "no namespace holder among the agent's children";
  for (const Proc& p : ChildrenOf(holder)) {
    EXPECT_NE(p.state, 'Z') << "zombie in the shared pid namespace: " << p.pid << " " << p.comm;
  }

  ASSERT_TRUE(api_->Remove("c2").ok());
  EXPECT_FALSE(IsMounted(eph)) << "container storage released by RemoveContainer";
  EXPECT_TRUE(IsMounted(shared));

  s = api_->DestroySandbox();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(WaitAgent(absl::Seconds(10)), 0);
  EXPECT_THAT(AgentLog(), HasSubstr("sandbox destroyed"));
  EXPECT_FALSE(IsMounted(shared));
}

// Kata's flow with a user namespace: the container joins the sandbox's UTS and IPC
// namespaces (owned by the agent's user namespace) and creates its user, pid and mount
// namespaces: root inside is host uid 100000, /proc is mounted, the pod's hostname is kept
// (already set), and an exec joins the same namespaces.
TEST_F(AgentE2eTest, UserNamespaceContainerInASandbox) {
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);  // the mapped root walks to its rootfs
  grpc::CreateSandboxRequest sb;
  sb.set_hostname("podhost");
  sb.set_sandbox_id("sb1");
  absl::Status s = api_->CreateSandbox(sb);
  ASSERT_TRUE(s.ok()) << s;
  grpc::CreateContainerRequest c = Request(
      "u1", {"sh", "-c",
             "busybox id -u; cat /proc/self/uid_map; hostname; test -d /proc/1/ns && echo proc; "
             "busybox readlink /proc/self/ns/ipc; exec sleep 1000"});
  c.mutable_oci()->set_hostname("podhost");
  auto* linux = c.mutable_oci()->mutable_linux();
  grpc::LinuxNamespace* user = linux->add_namespaces();
  user->set_type("user");
  for (auto* m : {linux->add_uidmappings(), linux->add_gidmappings()}) {
    m->set_containerid(0);
    m->set_hostid(100000);
    m->set_size(65536);
  }
  s = api_->Create(c);
  ASSERT_TRUE(s.ok()) << s << "\n" << AgentLog();
  ASSERT_TRUE(api_->Start("u1").ok());
  std::string out;
  while (std::count(out.begin(), out.end(), '\n') < 5) {
    absl::StatusOr<std::string> d = api_->ReadSome("u1", "u1");
    ASSERT_TRUE(d.ok()) << d.status() << " after " << out;
    out += *d;
  }
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  EXPECT_EQ(lines[0], "0");
  EXPECT_EQ(absl::StrJoin(absl::StrSplit(lines[1], ' ', absl::SkipEmpty()), " "), "0 100000 65536");
  EXPECT_EQ(lines[2], "podhost");
  EXPECT_EQ(lines[3], "proc");
  ASSERT_TRUE(api_->Exec("u1", "e1",
                         {"sh", "-c", "busybox id -u; busybox readlink /proc/self/ns/ipc; echo $$"})
                  .ok());
  absl::StatusOr<std::string> eout = api_->ReadAll("u1", "e1");
  ASSERT_TRUE(eout.ok()) << eout.status();
  EXPECT_EQ(*api_->Wait("u1", "e1"), 0);
  std::vector<std::string> elines = absl::StrSplit(*eout, '\n');
  ASSERT_GE(elines.size(), 3u) << *eout;
  EXPECT_EQ(elines[0], "0");
  EXPECT_EQ(elines[1], lines[4]) << "the exec is in the sandbox's ipc namespace too";
  EXPECT_NE(elines[2], "1");
  ASSERT_TRUE(api_->Remove("u1").ok());
  s = api_->DestroySandbox();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(WaitAgent(absl::Seconds(10)), 0);
}

// The agent is a child subreaper on a host (PID 1 in the guest): an orphan of a container
// without its own pid namespace is re-parented to the agent and reaped when it exits; the
// container's own exit code still reaches WaitProcess.
TEST_F(AgentE2eTest, ReapsOrphansAndKeepsKnownExitCodes) {
  grpc::CreateContainerRequest req =
      Request("o1", {"sh", "-c", "sh -c 'sleep 2 & exit 0'; sleep 6; exit 7"});
  kata::oci::Spec spec = *kata::oci::SpecFromProto(req.oci());
  std::vector<kata::oci::LinuxNamespace> keep;
  for (const auto& ns : *spec.linux->namespaces) {
    if (ns.type != "pid") keep.push_back(ns);
  }
  *spec.linux->namespaces = keep;
  *req.mutable_oci() = kata::oci::SpecToProto(spec);
  absl::Status s = api_->Create(req);
  ASSERT_TRUE(s.ok()) << s;
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(api_->Start("o1").ok());
  // The inner shell exits at once: its sleeper is adopted by the agent (init + orphan).
  bool adopted = false;
  while (!adopted && absl::Now() < t0 + absl::Milliseconds(1900)) {
    adopted = ChildrenOf(agent_).size() == 2;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(adopted) << "the orphan was not re-parented to the agent";
  // The orphan exits at ~2 s and must be reaped: only the init stays, and it is no zombie.
  bool reaped = false;
  std::vector<Proc> children;
  while (!reaped && absl::Now() < t0 + absl::Milliseconds(5500)) {
    absl::SleepFor(absl::Milliseconds(50));
    children = ChildrenOf(agent_);
    reaped =
        absl::Now() > t0 + absl::Seconds(2) && children.size() == 1 && children[0].state != 'Z';
  }
  EXPECT_TRUE(reaped) << "the orphan was not reaped (" << children.size() << " children)";
  EXPECT_EQ(*api_->Wait("o1", "o1"), 7);
  ASSERT_TRUE(api_->Remove("o1").ok());
}

// A device passed as a loop-backed block device: the spec names it /dev/xda with made-up
// host numbers; the agent finds the guest node, rewrites the entry and allows it in the
// device cgroup.
TEST_F(AgentE2eTest, LoopDeviceIsRewrittenIntoTheSpec) {
  const std::string img = dir_ + "/disk.img";
  ASSERT_EQ(Shell("truncate -s 1M " + img), 0);
  FILE* f = popen(("PATH=$PATH:/usr/sbin:/sbin losetup -f --show " + img).c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[64] = {};
  ASSERT_NE(fgets(buf, sizeof(buf), f), nullptr);
  ASSERT_EQ(pclose(f), 0);
  const std::string loop(absl::StripTrailingAsciiWhitespace(buf));
  struct Detach {
    std::string dev;
    ~Detach() { system(("PATH=$PATH:/usr/sbin:/sbin losetup -d " + dev).c_str()); }
  } detach{loop};
  struct stat st;
  ASSERT_EQ(stat(loop.c_str(), &st), 0);

  grpc::CreateContainerRequest req =
      Request("d1", {"sh", "-c",
                     "busybox stat -c '%t:%T' /dev/xda; busybox head -c 512 /dev/xda "
                     "| busybox wc -c; busybox sleep 1000"});
  grpc::LinuxDevice* dev = req.mutable_oci()->mutable_linux()->add_devices();
  dev->set_path("/dev/xda");
  dev->set_type("b");
  dev->set_major(250);
  dev->set_minor(7);
  dev->set_filemode(0660);
  grpc::LinuxDeviceCgroup* deny =
      req.mutable_oci()->mutable_linux()->mutable_resources()->add_devices();
  deny->set_allow(false);
  deny->set_access("rwm");
  grpc::Device* d = req.add_devices();
  d->set_id("xda");
  d->set_type("mmioblk");
  d->set_vm_path(loop);
  d->set_container_path("/dev/xda");
  absl::Status s = api_->Create(req);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(api_->Start("d1").ok());
  std::string out;
  while (std::count(out.begin(), out.end(), '\n') < 2) {
    absl::StatusOr<std::string> d2 = api_->ReadSome("d1", "d1");
    ASSERT_TRUE(d2.ok()) << d2.status() << " after " << out;
    out += *d2;
  }
  char want[32];
  snprintf(want, sizeof(want), "%x:%x\n", major(st.st_rdev), minor(st.st_rdev));
  EXPECT_EQ(out, absl::StrCat(want, "512\n"));
  std::string devices = CgroupDir("devices", "d1");
  if (!devices.empty() && absl::StrContains(devices, "/devices/")) {  // cgroup v1
    EXPECT_THAT(ReadFileOrDie(devices + "/devices.list"),
                HasSubstr(absl::StrCat("b ", major(st.st_rdev), ":", minor(st.st_rdev), " rwm")));
  }
  ASSERT_TRUE(api_->Remove("d1").ok());

  // A device that never shows up fails Create within the hotplug timeout, leaving nothing.
  req = Request("d2", {"sh"});
  d = req.add_devices();
  d->set_type("mmioblk");
  d->set_vm_path("/dev/kata-no-such-disk");
  d->set_container_path("/dev/xdb");
  absl::Time t0 = absl::Now();
  s = api_->Create(req);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - t0, absl::Seconds(6));
}

TEST_F(AgentE2eTest, ForkBombStopsAtThePidsLimit) {
  // Forks sleepers until fork fails at the limit. The init (pid 1 of the container's pid
  // namespace) ends either way, taking the sleepers along.
  grpc::CreateContainerRequest req =
      Request("fb", {"sh", "-c",
                     "exec 2>&1; for i in $(busybox seq 1 60); do sleep 100 >/dev/null & done; "
                     "echo spawned $(busybox cat /sys/fs/cgroup/pids/pids.current 2>/dev/null)"});
  req.mutable_oci()->mutable_linux()->mutable_resources()->mutable_pids()->set_limit(16);
  absl::Status s = api_->Create(req);
  ASSERT_TRUE(s.ok()) << s;
  std::string pids = CgroupDir("pids", "fb");
  ASSERT_FALSE(pids.empty());
  EXPECT_EQ(absl::StripAsciiWhitespace(ReadFileOrDie(pids + "/pids.max")), "16");
  ASSERT_TRUE(api_->Start("fb").ok());
  absl::StatusOr<std::string> out = api_->ReadAll("fb", "fb");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(*out, HasSubstr("can't fork")) << *out;
  std::string events = ReadFileOrDie(pids + "/pids.events");
  int refused = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripPrefix(events, "max")), &refused))
      << events;
  EXPECT_GT(refused, 0) << "no fork was refused at the limit";
  ASSERT_TRUE(api_->Wait("fb", "fb").ok());
  ASSERT_TRUE(api_->Remove("fb").ok());
}

TEST_F(AgentE2eTest, MemoryLimitIsVisibleAndEnforced) {
  grpc::CreateContainerRequest req = Request(
      "m1", {"sh", "-c",
             "busybox yes | busybox head -c 200000000 | busybox tail -c 150000000 | busybox wc -c;"
             " echo done; sleep 1000"});
  absl::Status s = api_->Create(req);
  ASSERT_TRUE(s.ok()) << s;
  std::string mem = CgroupDir("memory", "m1");
  ASSERT_FALSE(mem.empty());
  const bool v1 = absl::StrContains(mem, "/memory/");
  EXPECT_EQ(absl::StripAsciiWhitespace(
                ReadFileOrDie(mem + (v1 ? "/memory.limit_in_bytes" : "/memory.max"))),
            "67108864");
  ASSERT_TRUE(api_->Start("m1").ok());
  std::string out;
  while (!absl::StrContains(out, "done")) {
    absl::StatusOr<std::string> d = api_->ReadSome("m1", "m1");
    ASSERT_TRUE(d.ok()) << d.status() << " after " << out;
    out += *d;
  }
  EXPECT_THAT(out, ::testing::Not(HasSubstr("150000000")));  // tail was OOM-killed
  std::string oom = ReadFileOrDie(mem + (v1 ? "/memory.oom_control" : "/memory.events"));
  EXPECT_THAT(oom, ::testing::Not(HasSubstr("oom_kill 0"))) << oom;
  ASSERT_TRUE(api_->Remove("m1").ok());
}

TEST_F(AgentE2eTest, SeccompDeniesASyscall) {
  grpc::CreateContainerRequest req =
      Request("sc", {"sh", "-c", "busybox mkdir /tmp/x 2>&1; exit $?"});
  grpc::LinuxSeccomp* sc = req.mutable_oci()->mutable_linux()->mutable_seccomp();
  sc->set_defaultaction("SCMP_ACT_ALLOW");
  grpc::LinuxSyscall* deny = sc->add_syscalls();
  deny->add_names("mkdir");
  deny->add_names("mkdirat");
  deny->set_action("SCMP_ACT_ERRNO");
  deny->set_errnoret(EPERM);
  absl::StatusOr<std::string> out = api_->RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(*out, HasSubstr("Operation not permitted"));
  EXPECT_THAT(*out, HasSubstr("rc=1"));
}

TEST_F(AgentE2eTest, SysctlInTheContainersNamespaces) {
  const std::string host_shmmax = ReadFileOrDie("/proc/sys/kernel/shmmax");
  grpc::CreateContainerRequest req =
      Request("sy", {"sh", "-c", "busybox cat /proc/sys/kernel/shmmax"});
  (*req.mutable_oci()->mutable_linux()->mutable_sysctl())["kernel.shmmax"] = "12345678";
  absl::StatusOr<std::string> out = api_->RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "12345678\nrc=0");
  EXPECT_EQ(ReadFileOrDie("/proc/sys/kernel/shmmax"), host_shmmax);

  // A sysctl outside the container's namespaces is refused, leaving nothing.
  req = Request("sy2", {"sh"});
  (*req.mutable_oci()->mutable_linux()->mutable_sysctl())["vm.swappiness"] = "1";
  EXPECT_EQ(api_->Create(req).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AgentE2eTest, TtyProcessIsResized) {
  grpc::CreateContainerRequest req =
      Request("t1", {"sh", "-c", "busybox stty size; read x; busybox stty size"}, true);
  ASSERT_TRUE(api_->Create(req).ok());
  ASSERT_TRUE(api_->Start("t1").ok());
  absl::StatusOr<std::string> first = api_->ReadSome("t1", "t1");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(api_->Resize("t1", "t1", 40, 100).ok());
  ASSERT_TRUE(api_->WriteStdin("t1", "t1", "go\n").ok());
  absl::StatusOr<std::string> rest = api_->ReadAll("t1", "t1");
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_THAT(*first + *rest, HasSubstr("40 100"));
  EXPECT_EQ(*api_->Wait("t1", "t1"), 0);
  ASSERT_TRUE(api_->Remove("t1").ok());
}

// The terminal is the container's own, as with runc: allocated from the container's devpts
// (mounted as containerd's default spec does), so `tty` names a /dev/pts entry that exists in
// the container and is stdin, stdout and stderr; the same for a terminal exec, which gets the
// next pty of the same devpts.
TEST_F(AgentE2eTest, TerminalIsTheContainersOwnPty) {
  const std::string check =
      "t=$(busybox tty); echo \"tty=$t\"; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; "
      "[ -c \"$t\" ] && echo exists-inside; echo end";
  grpc::CreateContainerRequest req = Request("tt", {"sh", "-c", check + "; exec sleep 1000"}, true);
  grpc::Mount* pts = req.mutable_oci()->add_mounts();
  pts->set_destination("/dev/pts");
  pts->set_type("devpts");
  pts->set_source("devpts");
  for (const char* o : {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}) {
    pts->add_options(o);
  }
  absl::Status s = api_->Create(req);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(api_->Start("tt").ok());
  std::string out;
  while (!absl::StrContains(out, "end\r\n")) {
    absl::StatusOr<std::string> d = api_->ReadSome("tt", "tt");
    ASSERT_TRUE(d.ok()) << d.status() << " after " << out;
    out += *d;
  }
  EXPECT_EQ(out, "tty=/dev/pts/0\r\nall-ttys\r\nexists-inside\r\nend\r\n");

  ASSERT_TRUE(api_->Exec("tt", "e1", {"sh", "-c", check}, /*terminal=*/true).ok());
  absl::StatusOr<std::string> eout = api_->ReadAll("tt", "e1");
  ASSERT_TRUE(eout.ok()) << eout.status();
  EXPECT_EQ(*eout, "tty=/dev/pts/1\r\nall-ttys\r\nexists-inside\r\nend\r\n");
  EXPECT_EQ(*api_->Wait("tt", "e1"), 0);
  ASSERT_TRUE(api_->Remove("tt").ok());
}

TEST_F(AgentE2eTest, SigtermAndSigkill) {
  ASSERT_TRUE(api_->Create(Request("s1", {"sh", "-c",
                                          "trap 'exit 3' TERM; while true; do sleep 0.1; done"}))
                  .ok());
  ASSERT_TRUE(api_->Create(Request("s2", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("s1").ok());
  ASSERT_TRUE(api_->Start("s2").ok());
  absl::SleepFor(absl::Milliseconds(300));  // let the trap be installed
  ASSERT_TRUE(api_->Signal("s1", "s1", SIGTERM).ok());
  EXPECT_EQ(*api_->Wait("s1", "s1"), 3);
  ASSERT_TRUE(api_->Signal("s2", "s2", SIGKILL).ok());
  EXPECT_EQ(*api_->Wait("s2", "s2"), 137);
  ASSERT_TRUE(api_->Remove("s1").ok());
  ASSERT_TRUE(api_->Remove("s2").ok());
}

TEST_F(AgentE2eTest, ExecAndStdinToCat) {
  ASSERT_TRUE(api_->Create(Request("x1", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("x1").ok());
  ASSERT_TRUE(api_->Exec("x1", "cat", {"cat"}).ok());
  absl::StatusOr<uint32_t> written = api_->WriteStdin("x1", "cat", "hello agent\n");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 12u);
  ASSERT_TRUE(api_->CloseStdin("x1", "cat").ok());
  EXPECT_EQ(*api_->ReadAll("x1", "cat"), "hello agent\n");
  EXPECT_EQ(*api_->Wait("x1", "cat"), 0);
  ASSERT_TRUE(api_->Exec("x1", "e5", {"sh", "-c", "exit 5"}).ok());
  EXPECT_EQ(*api_->Wait("x1", "e5"), 5);
  ASSERT_TRUE(api_->Remove("x1").ok());
  EXPECT_TRUE(ChildrenOf(agent_).empty()) << "processes left behind";
}

TEST_F(AgentE2eTest, BadRequestsGetErrorsAndChangeNothing) {
  for (const std::string& id : {std::string("/"), std::string(".."), std::string(""),
                                std::string(300, 'a'), std::string("a/b")}) {
    absl::Status s = api_->Create(Request(id, {"sh"}));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "id \"" << id << "\": " << s;
  }
  EXPECT_EQ(api_->Start("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Remove("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Signal("nope", "", SIGKILL).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Wait("nope", "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Exec("nope", "e1", {"sh"}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Stats("nope").status().code(), absl::StatusCode::kNotFound);

  grpc::CreateSandboxRequest sb;
  sb.set_sandbox_id("/");
  EXPECT_EQ(api_->CreateSandbox(sb).code(), absl::StatusCode::kInvalidArgument);
  sb.set_sandbox_id("sb");
  *sb.add_storages() = Storage("bind", dir_ + "/missing", dir_ + "/mnt");
  EXPECT_FALSE(api_->CreateSandbox(sb).ok());
  struct stat s;
  EXPECT_NE(stat((dir_ + "/mnt").c_str(), &s), 0) << "mount point left behind";
  // A container whose storage fails is not created and leaves no mount.
  grpc::CreateContainerRequest req = Request("c1", {"sh"});
  *req.add_storages() = Storage("ephemeral", "tmpfs", dir_ + "/eph");
  *req.add_storages() = Storage("nosuchdriver", "x", dir_ + "/x");
  EXPECT_EQ(api_->Create(req).code(), absl::StatusCode::kUnimplemented);
  EXPECT_FALSE(IsMounted(dir_ + "/eph"));
  EXPECT_EQ(api_->Start("c1").code(), absl::StatusCode::kNotFound);
  // Nothing changed: a valid sandbox and container still work.
  sb.clear_storages();
  ASSERT_TRUE(api_->CreateSandbox(sb).ok());
  absl::StatusOr<std::string> out = api_->RunToEnd(Request("ok", {"sh", "-c", "echo fine"}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "fine\nrc=0");
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) g_agent_binary = argv[1];
  signal(SIGPIPE, SIG_IGN);
  return RUN_ALL_TESTS();
}
