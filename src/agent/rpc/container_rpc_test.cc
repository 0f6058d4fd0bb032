// The container engine end to end through grpc.AgentService on a real ttRPC
// connection: busybox rootfs in a temp dir, new pid/mount/uts/ipc namespaces, a
// real cgroup (v1 or v2, whatever the host has) under a test-unique name. Needs
// root, outside Bazel's sandbox.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/container/test_calls.h"
#include "src/agent/container/test_util.h"
#include "src/agent/rpc/agent_service.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace agent {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

class ContainerRpcTest : public ::testing::Test, protected testing::AgentApiCalls {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test needs root (mounts, namespaces, cgroups)";
    const char* base = getenv("TEST_TMPDIR");
    std::string templ = absl::StrCat(base != nullptr ? base : "/tmp", "/ctrXXXXXX");
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    absl::StatusOr<std::string> rootfs = testing::MakeBusyboxRootfs(dir_);
    ASSERT_TRUE(rootfs.ok()) << rootfs.status();
    rootfs_ = *rootfs;
    cgroup_parent_ = absl::StrCat("kata-ctr-test-", getpid(), "-", absl::ToUnixNanos(absl::Now()));

    ASSERT_TRUE(server_.Register(&agent_).ok());
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_TRUE(server_.ServeFd(sv[0]).ok());
    client_ = std::make_unique<ttrpc::Client>(sv[1]);
    api_ = std::make_unique<grpc::AgentServiceTtrpc::Client>(client_.get());
    opts_.timeout = absl::Seconds(20);
  }

  void TearDown() override {
    api_.reset();
    client_.reset();
    server_.Shutdown(absl::Seconds(1));
    // Only mounts under the test's directory count: other tests on this host mount too.
    EXPECT_EQ(ReadFile("/proc/self/mountinfo").find(dir_), std::string::npos)
        << "mounts left behind";
    if (!dir_.empty()) {
      std::string cmd = absl::StrCat("rm -rf '", dir_, "'");
      EXPECT_EQ(system(cmd.c_str()), 0);
    }
  }

  // The cgroup directory of container `id` (first hierarchy that has memory).
  std::string CgroupDir(const std::string& id) {
    for (const char* root : {"/sys/fs/cgroup/memory", "/sys/fs/cgroup"}) {
      std::string d = absl::StrCat(root, "/", cgroup_parent_, "/", id);
      if (Exists(d)) return d;
    }
    return "";
  }
  bool AnyCgroupLeft() { return testing::CgroupParentExists(cgroup_parent_); }

  grpc::CreateContainerRequest Request(const std::string& id, std::vector<std::string> args,
                                       bool terminal = false) {
    return testing::BusyboxContainerRequest(id, rootfs_, cgroup_parent_ + "/" + id, std::move(args),
                                            terminal);
  }

  // Everything on stdout up to EOF (OUT_OF_RANGE).
  absl::StatusOr<std::string> ReadAll(const std::string& id, const std::string& exec) {
    std::string out;
    for (;;) {
      grpc::ReadStreamRequest r;
      r.set_container_id(id);
      r.set_exec_id(exec);
      r.set_len(4096);
      grpc::ReadStreamResponse resp;
      absl::Status s = api_->ReadStdout(r, &resp, opts_);
      if (s.code() == absl::StatusCode::kOutOfRange) return out;  // EOF
      if (!s.ok()) return s;
      if (resp.data().empty()) return absl::InternalError("empty read before EOF");
      out += resp.data();
    }
  }
  // Creates, starts and runs container `req` to its end; "<stdout>rc=<exit code>", or the
  // first failing step's status. Removes the container.
  absl::StatusOr<std::string> RunToEnd(const grpc::CreateContainerRequest& req) {
    const std::string& id = req.container_id();
    absl::Status s = Create(req);
    if (!s.ok()) return s;
    s = Start(id);
    absl::StatusOr<std::string> out = s.ok() ? ReadAll(id, id) : absl::StatusOr<std::string>(s);
    absl::StatusOr<int> code = out.ok() ? Wait(id, id) : absl::StatusOr<int>(out.status());
    s = Remove(id);
    if (!code.ok()) return code.status();
    if (!s.ok()) return s;
    return absl::StrCat(*out, "rc=", *code);
  }
  std::vector<pid_t> Pids(const std::string& cgdir) {
    std::vector<pid_t> pids;
    for (absl::string_view l : absl::StrSplit(ReadFile(cgdir + "/cgroup.procs"), '\n')) {
      if (!l.empty()) pids.push_back(std::stoi(std::string(l)));
    }
    return pids;
  }

  AgentService agent_{AgentService::Options()};
  ttrpc::Server server_;
  std::unique_ptr<ttrpc::Client> client_;
  std::string dir_, rootfs_, cgroup_parent_;
};

TEST_F(ContainerRpcTest, RunsInitInNamespacesAndCleansUp) {
  ASSERT_TRUE(Create(Request("c1", {"sh", "-c", "echo hello; hostname; exit 3"})).ok());
  std::string cg = CgroupDir("c1");
  ASSERT_FALSE(cg.empty()) << "no cgroup dir for " << cgroup_parent_;
  std::vector<pid_t> pids = Pids(cg);
  ASSERT_EQ(pids.size(),
            1u);  // the init, waiting for Start, already in the cgroup
  if (Exists(cg + "/memory.limit_in_bytes")) {
    EXPECT_EQ(ReadFile(cg + "/memory.limit_in_bytes"), "67108864\n");
  } else {
    EXPECT_EQ(ReadFile(cg + "/memory.max"), "67108864\n");
  }
  // Not started: nothing was written yet.
  ASSERT_TRUE(Start("c1").ok());
  EXPECT_EQ(Start("c1").code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::string> out = ReadAll("c1", "c1");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "hello\nc1\n");
  absl::StatusOr<int> code = Wait("c1", "c1");
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3);
  absl::Status s = Remove("c1");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(Exists(cg));
  EXPECT_FALSE(AnyCgroupLeft());
  EXPECT_NE(kill(pids[0], 0), 0);
  EXPECT_EQ(Start("c1").code(),
            absl::StatusCode::kNotFound);  // gone from the agent
}

TEST_F(ContainerRpcTest, CatEchoesStdin) {
  ASSERT_TRUE(Create(Request("cat1", {"cat"})).ok());
  ASSERT_TRUE(Start("cat1").ok());
  grpc::WriteStreamRequest w;
  w.set_container_id("cat1");
  w.set_exec_id("cat1");
  w.set_data("one\ntwo\n");
  grpc::WriteStreamResponse wr;
  ASSERT_TRUE(api_->WriteStdin(w, &wr, opts_).ok());
  EXPECT_EQ(wr.len(), 8u);
  grpc::CloseStdinRequest c;
  c.set_container_id("cat1");
  c.set_exec_id("cat1");
  ASSERT_TRUE(api_->CloseStdin(c, &empty_, opts_).ok());
  absl::StatusOr<std::string> out = ReadAll("cat1", "cat1");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "one\ntwo\n");
  EXPECT_EQ(*Wait("cat1", "cat1"), 0);
  ASSERT_TRUE(Remove("cat1").ok());
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, SigkillIs137AndExecJoinsNamespaces) {
  ASSERT_TRUE(Create(Request("k1", {"sleep", "1000"})).ok());
  grpc::ExecProcessRequest e;
  e.set_container_id("k1");
  e.set_exec_id("e1");
  e.mutable_process()->add_args("sh");
  e.mutable_process()->add_args("-c");
  e.mutable_process()->add_args("hostname; echo $$; exit 5");
  e.mutable_process()->add_env("PATH=/bin");
  e.mutable_process()->set_cwd("/");
  EXPECT_EQ(api_->ExecProcess(e, &empty_, opts_).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Start("k1").ok());
  absl::Status s = api_->ExecProcess(e, &empty_, opts_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(api_->ExecProcess(e, &empty_, opts_).code(), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<std::string> out = ReadAll("k1", "e1");
  ASSERT_TRUE(out.ok()) << out.status();
  // The container's hostname, and a small pid: it is in the container's pid
  // namespace.
  EXPECT_EQ(*out, "c1\n2\n");
  EXPECT_EQ(*Wait("k1", "e1"), 5);
  std::vector<pid_t> pids = Pids(CgroupDir("k1"));
  ASSERT_EQ(pids.size(), 1u);

  ASSERT_TRUE(Signal("k1", "k1", SIGKILL).ok());
  EXPECT_EQ(*Wait("k1", "k1"), 137);
  EXPECT_EQ(Signal("k1", "k1", SIGKILL).code(),
            absl::StatusCode::kNotFound);  // exited
  ASSERT_TRUE(Remove("k1").ok());
  EXPECT_NE(kill(pids[0], 0), 0);
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, SignalWithoutExecIdReachesEveryProcess) {
  grpc::CreateContainerRequest req = Request("all1", {"sleep", "1000"});
  grpc::LinuxNamespace* net = req.mutable_oci()->mutable_linux()->add_namespaces();
  net->set_type("network");
  ASSERT_TRUE(Create(req).ok());
  ASSERT_TRUE(Start("all1").ok());
  grpc::ExecProcessRequest e;
  e.set_container_id("all1");
  e.set_exec_id("e1");
  e.mutable_process()->add_args("sleep");
  e.mutable_process()->add_args("1000");
  e.mutable_process()->add_env("PATH=/bin");
  e.mutable_process()->set_cwd("/");
  ASSERT_TRUE(api_->ExecProcess(e, &empty_, opts_).ok());
  EXPECT_EQ(Pids(CgroupDir("all1")).size(), 2u);

  // Not a terminal: no resize.
  grpc::TtyWinResizeRequest tty;
  tty.set_container_id("all1");
  tty.set_exec_id("e1");
  tty.set_row(24);
  tty.set_column(80);
  EXPECT_EQ(api_->TtyWinResize(tty, &empty_, opts_).code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(Signal("all1", "", SIGKILL).ok());
  EXPECT_EQ(*Wait("all1", "e1"), 137);
  EXPECT_EQ(*Wait("all1", "all1"), 137);
  ASSERT_TRUE(Remove("all1").ok());
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, TerminalCarriesOutput) {
  ASSERT_TRUE(Create(Request("t1", {"sh", "-c", "echo on-tty"}, /*terminal=*/true)).ok());
  grpc::TtyWinResizeRequest tty;
  tty.set_container_id("t1");
  tty.set_exec_id("t1");
  tty.set_row(40);
  tty.set_column(100);
  EXPECT_TRUE(api_->TtyWinResize(tty, &empty_, opts_).ok());
  ASSERT_TRUE(Start("t1").ok());
  absl::StatusOr<std::string> out = ReadAll("t1", "t1");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "on-tty\r\n");
  EXPECT_EQ(*Wait("t1", "t1"), 0);
  ASSERT_TRUE(Remove("t1").ok());
}

TEST_F(ContainerRpcTest, RemoveBeforeStartKillsTheWaitingInit) {
  ASSERT_TRUE(Create(Request("r1", {"sh", "-c", "echo never"})).ok());
  std::vector<pid_t> pids = Pids(CgroupDir("r1"));
  ASSERT_EQ(pids.size(), 1u);
  EXPECT_EQ(Create(Request("r1", {"sh"})).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(Remove("r1").ok());
  EXPECT_NE(kill(pids[0], 0), 0);
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, FailedSetupLeavesNothing) {
  grpc::CreateContainerRequest req = Request("f1", {"sh"});
  grpc::Mount* m = req.mutable_oci()->add_mounts();
  m->set_destination("/../../escape");
  m->set_type("tmpfs");
  m->set_source("tmpfs");
  absl::Status s = Create(req);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("f1"));
  EXPECT_FALSE(AnyCgroupLeft());
  EXPECT_EQ(Start("f1").code(), absl::StatusCode::kNotFound);
}

TEST_F(ContainerRpcTest, SeccompProfileDeniesMkdirInInitAndExec) {
  grpc::CreateContainerRequest req =
      Request("sc1", {"sh", "-c", "echo ok; busybox mkdir /tmp/x 2>&1; exit $?"});
  grpc::LinuxSeccomp* sc = req.mutable_oci()->mutable_linux()->mutable_seccomp();
  sc->set_defaultaction("SCMP_ACT_ALLOW");
  sc->add_architectures("SCMP_ARCH_X86_64");
  grpc::LinuxSyscall* deny = sc->add_syscalls();
  deny->add_names("mkdir");
  deny->add_names("mkdirat");
  deny->add_names("no_such_syscall");  // skipped, as runc does
  deny->set_action("SCMP_ACT_ERRNO");
  deny->set_errnoret(EPERM);
  absl::StatusOr<std::string> out = RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(*out, HasSubstr("ok\n"));
  EXPECT_THAT(*out, HasSubstr("Operation not permitted"));
  EXPECT_THAT(*out, HasSubstr("rc=1"));
  EXPECT_FALSE(Exists(rootfs_ + "/tmp/x"));

  // An exec'd process gets the container's profile too.
  const grpc::LinuxSeccomp profile = *sc;
  req = Request("sc2", {"sleep", "1000"});
  *req.mutable_oci()->mutable_linux()->mutable_seccomp() = profile;
  absl::Status s = Create(req);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(Start("sc2").ok());
  grpc::ExecProcessRequest e;
  e.set_container_id("sc2");
  e.set_exec_id("e1");
  for (const char* a : {"busybox", "mkdir", "/tmp/y"}) e.mutable_process()->add_args(a);
  e.mutable_process()->add_env("PATH=/bin");
  e.mutable_process()->set_cwd("/");
  ASSERT_TRUE(api_->ExecProcess(e, &empty_, opts_).ok());
  EXPECT_EQ(*Wait("sc2", "e1"), 1);
  EXPECT_FALSE(Exists(rootfs_ + "/tmp/y"));
  ASSERT_TRUE(Remove("sc2").ok());

  // A bad profile fails Create, naming the entry, and leaves nothing.
  req = Request("sc3", {"sh"});
  sc = req.mutable_oci()->mutable_linux()->mutable_seccomp();
  sc->set_defaultaction("SCMP_ACT_ALLOW");
  sc->add_syscalls()->set_action("SCMP_ACT_BOGUS");
  s = Create(req);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("syscalls[0]"));
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, BoundingSetDecidesChown) {
  const std::vector<std::string> args = {
      "sh", "-c", "busybox touch /tmp/f && busybox chown 1 /tmp/f 2>&1; exit $?"};
  grpc::CreateContainerRequest req = Request("cap1", args);
  grpc::LinuxCapabilities* caps = req.mutable_oci()->mutable_process()->mutable_capabilities();
  for (const char* c : {"CAP_KILL", "CAP_SETUID", "CAP_SETGID"}) {
    caps->add_bounding(c);
    caps->add_effective(c);
    caps->add_permitted(c);
  }
  absl::StatusOr<std::string> out = RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(*out, HasSubstr("Operation not permitted"));
  EXPECT_THAT(*out, HasSubstr("rc=1"));

  req = Request("cap2", {"sh", "-c", "busybox rm -f /tmp/f; " + args[2]});
  caps = req.mutable_oci()->mutable_process()->mutable_capabilities();
  caps->add_bounding("CAP_CHOWN");
  caps->add_effective("CAP_CHOWN");
  caps->add_permitted("CAP_CHOWN");
  out = RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "rc=0");

  // The effective set of a root process is its bounding set (CAP_CHOWN = bit 0).
  req = Request("cap3", {"sh", "-c", "busybox grep CapEff /proc/self/status"});
  req.mutable_oci()->mutable_process()->mutable_capabilities()->add_bounding("CAP_CHOWN");
  out = RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "CapEff:\t0000000000000001\nrc=0");

  // A non-root process keeps its ambient capabilities through the user switch and exec.
  req = Request("cap5", {"sh", "-c", "busybox grep -E 'CapEff|CapAmb' /proc/self/status; id -u"});
  req.mutable_oci()->mutable_process()->mutable_user()->set_uid(1000);
  req.mutable_oci()->mutable_process()->mutable_user()->set_gid(1000);
  caps = req.mutable_oci()->mutable_process()->mutable_capabilities();
  caps->add_bounding("CAP_CHOWN");
  caps->add_effective("CAP_CHOWN");
  caps->add_permitted("CAP_CHOWN");
  caps->add_inheritable("CAP_CHOWN");
  caps->add_ambient("CAP_CHOWN");
  out = RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "CapEff:\t0000000000000001\nCapAmb:\t0000000000000001\n1000\nrc=0");

  req = Request("cap4", {"sh"});
  req.mutable_oci()->mutable_process()->mutable_capabilities()->add_bounding("CAP_NOPE");
  absl::Status s = Create(req);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("CAP_NOPE"));
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, RlimitsAndNoNewPrivileges) {
  grpc::CreateContainerRequest req = Request(
      "rl1", {"sh", "-c", "ulimit -n; busybox grep NoNewPrivs /proc/self/status"});
  grpc::POSIXRlimit* rl = req.mutable_oci()->mutable_process()->add_rlimits();
  rl->set_type("RLIMIT_NOFILE");
  rl->set_soft(64);
  rl->set_hard(128);
  req.mutable_oci()->mutable_process()->set_nonewprivileges(true);
  absl::StatusOr<std::string> out = RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "64\nNoNewPrivs:\t1\nrc=0");

  // Without them: the agent's limit, and no NoNewPrivs.
  req = Request("rl2", {"sh", "-c", "busybox grep NoNewPrivs /proc/self/status"});
  out = RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "NoNewPrivs:\t0\nrc=0");

  // An exec'd process gets its own.
  ASSERT_TRUE(Create(Request("rl3", {"sleep", "1000"})).ok());
  ASSERT_TRUE(Start("rl3").ok());
  grpc::ExecProcessRequest e;
  e.set_container_id("rl3");
  e.set_exec_id("e1");
  for (const char* a : {"sh", "-c", "ulimit -n"}) e.mutable_process()->add_args(a);
  e.mutable_process()->add_env("PATH=/bin");
  e.mutable_process()->set_cwd("/");
  rl = e.mutable_process()->add_rlimits();
  rl->set_type("RLIMIT_NOFILE");
  rl->set_soft(77);
  rl->set_hard(77);
  ASSERT_TRUE(api_->ExecProcess(e, &empty_, opts_).ok());
  absl::StatusOr<std::string> eout = ReadAll("rl3", "e1");
  ASSERT_TRUE(eout.ok()) << eout.status();
  EXPECT_EQ(*eout, "77\n");
  EXPECT_EQ(*Wait("rl3", "e1"), 0);
  ASSERT_TRUE(Remove("rl3").ok());

  req = Request("rl4", {"sh"});
  req.mutable_oci()->mutable_process()->add_rlimits()->set_type("RLIMIT_BOGUS");
  EXPECT_EQ(Create(req).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(AnyCgroupLeft());
}

// The first line of a cgroup file of container `id` in the hierarchy that has `file`
// (v1 controller directories or the v2 root), "" when there is none.
std::string CgroupFileOf(const std::string& parent, const std::string& id,
                         const std::string& file) {
  for (const char* root : {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup"}) {
    std::string p = absl::StrCat(root, "/", parent, "/", id, "/", file);
    if (Exists(p)) return std::string(absl::StripAsciiWhitespace(ReadFile(p)));
  }
  return "";
}

TEST_F(ContainerRpcTest, StatsOfRunningContainer) {
  ASSERT_TRUE(Create(Request("st1", {"sleep", "1000"})).ok());
  ASSERT_TRUE(Start("st1").ok());
  grpc::StatsContainerRequest r;
  r.set_container_id("st1");
  grpc::StatsContainerResponse resp;
  absl::Status s = api_->StatsContainer(r, &resp, opts_);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_GE(resp.cgroup_stats().pids_stats().current(), 1u);
  EXPECT_GT(resp.cgroup_stats().memory_stats().usage().usage(), 0u);
  EXPECT_EQ(resp.cgroup_stats().memory_stats().usage().limit(), 64u << 20);
  r.set_container_id("nope");
  EXPECT_EQ(api_->StatsContainer(r, &resp, opts_).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(Remove("st1").ok());
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, PauseFreezesAndResumeThaws) {
  const std::string loop = "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.01; done";
  ASSERT_TRUE(Create(Request("p1", {"sh", "-c", loop})).ok());
  grpc::PauseContainerRequest pause;
  pause.set_container_id("p1");
  grpc::ResumeContainerRequest resume;
  resume.set_container_id("p1");
  // Not started yet: neither is legal.
  EXPECT_EQ(api_->PauseContainer(pause, &empty_, opts_).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Start("p1").ok());
  EXPECT_EQ(api_->ResumeContainer(resume, &empty_, opts_).code(),
            absl::StatusCode::kFailedPrecondition);
  const std::string counter = rootfs_ + "/tmp/n";
  auto count = [&] { return ReadFile(counter); };
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (count().empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_FALSE(count().empty());

  absl::Status s = api_->PauseContainer(pause, &empty_, opts_);
  ASSERT_TRUE(s.ok()) << s;
  std::string state = CgroupFileOf(cgroup_parent_, "p1", "freezer.state");
  if (state.empty() && CgroupFileOf(cgroup_parent_, "p1", "cgroup.freeze") == "1") {
    state = "FROZEN";  // cgroup v2
  }
  EXPECT_EQ(state, "FROZEN");
  std::string frozen = count();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(count(), frozen);
  EXPECT_EQ(api_->PauseContainer(pause, &empty_, opts_).code(),
            absl::StatusCode::kFailedPrecondition);
  grpc::ExecProcessRequest e;
  e.set_container_id("p1");
  e.set_exec_id("e1");
  e.mutable_process()->add_args("true");
  e.mutable_process()->add_env("PATH=/bin");
  e.mutable_process()->set_cwd("/");
  EXPECT_EQ(api_->ExecProcess(e, &empty_, opts_).code(), absl::StatusCode::kFailedPrecondition);

  s = api_->ResumeContainer(resume, &empty_, opts_);
  ASSERT_TRUE(s.ok()) << s;
  deadline = absl::Now() + absl::Seconds(10);
  while (count() == frozen && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_NE(count(), frozen);
  EXPECT_EQ(api_->ResumeContainer(resume, &empty_, opts_).code(),
            absl::StatusCode::kFailedPrecondition);

  // A paused container can be removed (it is thawed so that SIGKILL works).
  ASSERT_TRUE(api_->PauseContainer(pause, &empty_, opts_).ok());
  s = Remove("p1");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(AnyCgroupLeft());
  EXPECT_EQ(api_->PauseContainer(pause, &empty_, opts_).code(), absl::StatusCode::kNotFound);
}

TEST_F(ContainerRpcTest, UpdateSetsTheMemoryLimit) {
  ASSERT_TRUE(Create(Request("u1", {"sleep", "1000"})).ok());
  ASSERT_TRUE(Start("u1").ok());
  grpc::UpdateContainerRequest u;
  u.set_container_id("u1");
  u.mutable_resources()->mutable_memory()->set_limit(32 << 20);
  absl::Status s = api_->UpdateContainer(u, &empty_, opts_);
  ASSERT_TRUE(s.ok()) << s;
  std::string limit = CgroupFileOf(cgroup_parent_, "u1", "memory.limit_in_bytes");
  if (limit.empty()) limit = CgroupFileOf(cgroup_parent_, "u1", "memory.max");
  EXPECT_EQ(limit, "33554432");
  u.set_container_id("nope");
  EXPECT_EQ(api_->UpdateContainer(u, &empty_, opts_).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(Remove("u1").ok());
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, GetOOMEventNamesTheContainer) {
  ASSERT_TRUE(Create(Request("calm", {"sleep", "1000"})).ok());
  ASSERT_TRUE(Start("calm").ok());
  grpc::OOMEvent ev;
  absl::Status oom;
  std::thread waiter([&] {
    ttrpc::CallOptions o;
    o.timeout = absl::Seconds(30);
    oom = api_->GetOOMEvent(grpc::GetOOMEventRequest(), &ev, o);
  });
  // A shell doubling a string until the 16 MiB limit kills it.
  grpc::CreateContainerRequest req =
      Request("oom1", {"sh", "-c", "x=aaaaaaaa; while :; do x=$x$x; done"});
  req.mutable_oci()->mutable_linux()->mutable_resources()->mutable_memory()->set_limit(16 << 20);
  absl::Status s = Create(req);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(Start("oom1").ok());
  waiter.join();
  ASSERT_TRUE(oom.ok()) << oom;
  EXPECT_EQ(ev.container_id(), "oom1");
  EXPECT_EQ(*Wait("oom1", "oom1"), 137);
  ASSERT_TRUE(Remove("oom1").ok());
  ASSERT_TRUE(Remove("calm").ok());
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, GetOOMEventEndsOnTimeoutAndShutdown) {
  ttrpc::CallOptions o;
  o.timeout = absl::Milliseconds(300);
  grpc::OOMEvent ev;
  absl::Time start = absl::Now();
  EXPECT_EQ(api_->GetOOMEvent(grpc::GetOOMEventRequest(), &ev, o).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  absl::Status oom;
  std::thread waiter([&] {
    ttrpc::CallOptions forever;
    forever.timeout = absl::Seconds(30);
    oom = api_->GetOOMEvent(grpc::GetOOMEventRequest(), &ev, forever);
  });
  absl::SleepFor(absl::Milliseconds(200));  // let the call reach the handler
  start = absl::Now();
  server_.Shutdown(absl::Seconds(1));  // the handler is cancelled after the grace at the latest
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  waiter.join();
  EXPECT_FALSE(oom.ok());
}

TEST_F(ContainerRpcTest, BadAndUnknownIds) {
  EXPECT_EQ(Start("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Wait("nope", "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Signal("nope", "", SIGKILL).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Remove("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Start("..").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Start("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Start("a/b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Wait("c1", "../x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Create(Request("..", {"sh"})).code(), absl::StatusCode::kInvalidArgument);
  grpc::CreateContainerRequest no_spec;
  no_spec.set_container_id("c1");
  EXPECT_EQ(Create(no_spec).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(AnyCgroupLeft());
}

}  // namespace
}  // namespace agent
}  // namespace kata
