// The real kata-agent end to end (agent_e2e_fixture.h), the guest's duties: a sandbox with
// shared namespaces and storages, DestroySandbox ending the agent, a user-namespace container
// in a sandbox, orphan reaping, and a loop-backed block device rewritten into the spec.
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/agent_e2e_fixture.h"
#include "src/libs/oci/spec_proto.h"

namespace kata {
namespace agent {
namespace e2e {
namespace {

using ::kata::testing::ReadFileOrDie;
using ::testing::HasSubstr;

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
  std::string agent_comm = AgentBinary().substr(AgentBinary().rfind('/') + 1).substr(0, 15);
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

// Kata's runtime creates the sandbox without sandbox_pidns: the first container (the pod's
// pause) gives the pod its pid namespace, so it is PID 1 of the containers that join it.
TEST_F(AgentE2eTest, WithoutSandboxPidnsTheFirstContainerIsPid1OfThePodsPidNamespace) {
  grpc::CreateSandboxRequest sb;
  sb.set_sandbox_id("sb2");
  absl::Status s = api_->CreateSandbox(sb);
  ASSERT_TRUE(s.ok()) << s;
  // Before any container there is no pod pid namespace to join.
  grpc::CreateContainerRequest early = Request("early", {"true"});
  early.set_sandbox_pidns(true);
  s = api_->Create(early);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("no shared pid namespace"));

  ASSERT_TRUE(api_->Create(Request("pause", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("pause").ok());
  const std::string show = "busybox tr '\\0' ' ' </proc/1/cmdline; echo; echo pid=$$";
  grpc::CreateContainerRequest joined = Request("joined", {"sh", "-c", show});
  joined.set_sandbox_pidns(true);
  s = api_->Create(joined);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(api_->Start("joined").ok());
  absl::StatusOr<std::string> out = api_->ReadAll("joined", "joined");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*api_->Wait("joined", "joined"), 0);
  std::vector<std::string> lines = absl::StrSplit(*out, '\n');
  ASSERT_GE(lines.size(), 2u) << *out;
  EXPECT_EQ(lines[0], "sleep 1000 ") << "PID 1 of the pod's pid namespace is the first container";
  EXPECT_NE(lines[1], "pid=1");

  // A container without sandbox_pidns has a pid namespace of its own.
  ASSERT_TRUE(api_->Create(Request("own", {"sh", "-c", "echo pid=$$"})).ok());
  ASSERT_TRUE(api_->Start("own").ok());
  absl::StatusOr<std::string> own = api_->ReadAll("own", "own");
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(*own, "pid=1\n");
  ASSERT_TRUE(api_->DestroySandbox().ok());
  EXPECT_EQ(WaitAgent(absl::Seconds(10)), 0);
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
  oci::Spec spec = *oci::SpecFromProto(req.oci());
  std::vector<oci::LinuxNamespace> keep;
  for (const auto& ns : *spec.linux->namespaces) {
    if (ns.type != "pid") keep.push_back(ns);
  }
  *spec.linux->namespaces = keep;
  *req.mutable_oci() = oci::SpecToProto(spec);
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

}  // namespace
}  // namespace e2e
}  // namespace agent
}  // namespace kata
