// The container engine end to end through grpc.AgentService on a real ttRPC
// connection: busybox rootfs in a temp dir, new pid/mount/uts/ipc namespaces, a
// real cgroup (v1 or v2, whatever the host has) under a test-unique name. Needs
// root, outside Bazel's sandbox.
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/container/test_util.h"
#include "src/agent/rpc/agent_service.h"
#include "src/agent/rpc/test_client.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace agent {
namespace {

using ::kata::testing::ReadFileOrDie;
using ::testing::HasSubstr;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

class ContainerRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test needs root (mounts, namespaces, cgroups)";
    absl::StatusOr<std::string> rootfs = testing::MakeBusyboxRootfs(dir_.path());
    ASSERT_TRUE(rootfs.ok()) << rootfs.status();
    rootfs_ = *rootfs;
    cgroup_parent_ = absl::StrCat("kata-ctr-test-", getpid(), "-", absl::ToUnixNanos(absl::Now()));

    ASSERT_TRUE(server_.Register(&agent_).ok());
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_TRUE(server_.ServeFd(sv[0]).ok());
    api_ = std::make_unique<testing::AgentApi>(std::make_unique<ttrpc::Client>(sv[1]),
                                               absl::Seconds(20));
  }

  void TearDown() override {
    api_.reset();
    server_.Shutdown(absl::Seconds(1));
    // Only mounts under the test's directory count: other tests on this host mount too.
    EXPECT_EQ(ReadFileOrDie("/proc/self/mountinfo").find(dir_.path()), std::string::npos)
        << "mounts left behind";
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

  std::vector<pid_t> Pids(const std::string& cgdir) {
    std::vector<pid_t> pids;
    for (absl::string_view l : absl::StrSplit(ReadFileOrDie(cgdir + "/cgroup.procs"), '\n')) {
      if (!l.empty()) pids.push_back(std::stoi(std::string(l)));
    }
    return pids;
  }

  kata::testing::TempDir dir_;
  AgentService agent_{AgentService::Options()};
  ttrpc::Server server_;
  std::unique_ptr<testing::AgentApi> api_;
  std::string rootfs_, cgroup_parent_;
};

TEST_F(ContainerRpcTest, RunsInitInNamespacesAndCleansUp) {
  ASSERT_TRUE(api_->Create(Request("c1", {"sh", "-c", "echo hello; hostname; exit 3"})).ok());
  std::string cg = CgroupDir("c1");
  ASSERT_FALSE(cg.empty()) << "no cgroup dir for " << cgroup_parent_;
  std::vector<pid_t> pids = Pids(cg);
  ASSERT_EQ(pids.size(),
            1u);  // the init, waiting for Start, already in the cgroup
  if (Exists(cg + "/memory.limit_in_bytes")) {
    EXPECT_EQ(ReadFileOrDie(cg + "/memory.limit_in_bytes"), "67108864\n");
  } else {
    EXPECT_EQ(ReadFileOrDie(cg + "/memory.max"), "67108864\n");
  }
  // Not started: nothing was written yet.
  ASSERT_TRUE(api_->Start("c1").ok());
  EXPECT_EQ(api_->Start("c1").code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::string> out = api_->ReadAll("c1", "c1");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "hello\nc1\n");
  absl::StatusOr<int> code = api_->Wait("c1", "c1");
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3);
  absl::Status s = api_->Remove("c1");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(Exists(cg));
  EXPECT_FALSE(AnyCgroupLeft());
  EXPECT_NE(kill(pids[0], 0), 0);
  EXPECT_EQ(api_->Start("c1").code(),
            absl::StatusCode::kNotFound);  // gone from the agent
}

TEST_F(ContainerRpcTest, CatEchoesStdin) {
  ASSERT_TRUE(api_->Create(Request("cat1", {"cat"})).ok());
  ASSERT_TRUE(api_->Start("cat1").ok());
  absl::StatusOr<uint32_t> written = api_->WriteStdin("cat1", "cat1", "one\ntwo\n");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 8u);
  ASSERT_TRUE(api_->CloseStdin("cat1", "cat1").ok());
  absl::StatusOr<std::string> out = api_->ReadAll("cat1", "cat1");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "one\ntwo\n");
  EXPECT_EQ(*api_->Wait("cat1", "cat1"), 0);
  ASSERT_TRUE(api_->Remove("cat1").ok());
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, SigkillIs137AndExecJoinsNamespaces) {
  ASSERT_TRUE(api_->Create(Request("k1", {"sleep", "1000"})).ok());
  const grpc::ExecProcessRequest e =
      testing::AgentApi::ExecRequest("k1", "e1", {"sh", "-c", "hostname; echo $$; exit 5"});
  EXPECT_EQ(api_->Exec(e).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(api_->Start("k1").ok());
  absl::Status s = api_->Exec(e);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(api_->Exec(e).code(), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<std::string> out = api_->ReadAll("k1", "e1");
  ASSERT_TRUE(out.ok()) << out.status();
  // The container's hostname, and a small pid: it is in the container's pid
  // namespace.
  EXPECT_EQ(*out, "c1\n2\n");
  EXPECT_EQ(*api_->Wait("k1", "e1"), 5);
  std::vector<pid_t> pids = Pids(CgroupDir("k1"));
  ASSERT_EQ(pids.size(), 1u);

  ASSERT_TRUE(api_->Signal("k1", "k1", SIGKILL).ok());
  EXPECT_EQ(*api_->Wait("k1", "k1"), 137);
  EXPECT_EQ(api_->Signal("k1", "k1", SIGKILL).code(),
            absl::StatusCode::kNotFound);  // exited
  ASSERT_TRUE(api_->Remove("k1").ok());
  EXPECT_NE(kill(pids[0], 0), 0);
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, SignalWithoutExecIdReachesEveryProcess) {
  grpc::CreateContainerRequest req = Request("all1", {"sleep", "1000"});
  grpc::LinuxNamespace* net = req.mutable_oci()->mutable_linux()->add_namespaces();
  net->set_type("network");
  ASSERT_TRUE(api_->Create(req).ok());
  ASSERT_TRUE(api_->Start("all1").ok());
  ASSERT_TRUE(api_->Exec("all1", "e1", {"sleep", "1000"}).ok());
  EXPECT_EQ(Pids(CgroupDir("all1")).size(), 2u);

  // Not a terminal: no resize.
  EXPECT_EQ(api_->Resize("all1", "e1", 24, 80).code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(api_->Signal("all1", "", SIGKILL).ok());
  EXPECT_EQ(*api_->Wait("all1", "e1"), 137);
  EXPECT_EQ(*api_->Wait("all1", "all1"), 137);
  ASSERT_TRUE(api_->Remove("all1").ok());
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, TerminalCarriesOutput) {
  ASSERT_TRUE(api_->Create(Request("t1", {"sh", "-c", "echo on-tty"}, /*terminal=*/true)).ok());
  EXPECT_TRUE(api_->Resize("t1", "t1", 40, 100).ok());
  ASSERT_TRUE(api_->Start("t1").ok());
  absl::StatusOr<std::string> out = api_->ReadAll("t1", "t1");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "on-tty\r\n");
  EXPECT_EQ(*api_->Wait("t1", "t1"), 0);
  ASSERT_TRUE(api_->Remove("t1").ok());
}

TEST_F(ContainerRpcTest, RemoveBeforeStartKillsTheWaitingInit) {
  ASSERT_TRUE(api_->Create(Request("r1", {"sh", "-c", "echo never"})).ok());
  std::vector<pid_t> pids = Pids(CgroupDir("r1"));
  ASSERT_EQ(pids.size(), 1u);
  EXPECT_EQ(api_->Create(Request("r1", {"sh"})).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(api_->Remove("r1").ok());
  EXPECT_NE(kill(pids[0], 0), 0);
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, FailedSetupLeavesNothing) {
  grpc::CreateContainerRequest req = Request("f1", {"sh"});
  grpc::Mount* m = req.mutable_oci()->add_mounts();
  m->set_destination("/../../escape");
  m->set_type("tmpfs");
  m->set_source("tmpfs");
  absl::Status s = api_->Create(req);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("f1"));
  EXPECT_FALSE(AnyCgroupLeft());
  EXPECT_EQ(api_->Start("f1").code(), absl::StatusCode::kNotFound);
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
  absl::StatusOr<std::string> out = api_->RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(*out, HasSubstr("ok\n"));
  EXPECT_THAT(*out, HasSubstr("Operation not permitted"));
  EXPECT_THAT(*out, HasSubstr("rc=1"));
  EXPECT_FALSE(Exists(rootfs_ + "/tmp/x"));

  // An exec'd process gets the container's profile too.
  const grpc::LinuxSeccomp profile = *sc;
  req = Request("sc2", {"sleep", "1000"});
  *req.mutable_oci()->mutable_linux()->mutable_seccomp() = profile;
  absl::Status s = api_->Create(req);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(api_->Start("sc2").ok());
  ASSERT_TRUE(api_->Exec("sc2", "e1", {"busybox", "mkdir", "/tmp/y"}).ok());
  EXPECT_EQ(*api_->Wait("sc2", "e1"), 1);
  EXPECT_FALSE(Exists(rootfs_ + "/tmp/y"));
  ASSERT_TRUE(api_->Remove("sc2").ok());

  // A bad profile fails Create, naming the entry, and leaves nothing.
  req = Request("sc3", {"sh"});
  sc = req.mutable_oci()->mutable_linux()->mutable_seccomp();
  sc->set_defaultaction("SCMP_ACT_ALLOW");
  sc->add_syscalls()->set_action("SCMP_ACT_BOGUS");
  s = api_->Create(req);
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
  absl::StatusOr<std::string> out = api_->RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(*out, HasSubstr("Operation not permitted"));
  EXPECT_THAT(*out, HasSubstr("rc=1"));

  req = Request("cap2", {"sh", "-c", "busybox rm -f /tmp/f; " + args[2]});
  caps = req.mutable_oci()->mutable_process()->mutable_capabilities();
  caps->add_bounding("CAP_CHOWN");
  caps->add_effective("CAP_CHOWN");
  caps->add_permitted("CAP_CHOWN");
  out = api_->RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "rc=0");

  // The effective set of a root process is its bounding set (CAP_CHOWN = bit 0).
  req = Request("cap3", {"sh", "-c", "busybox grep CapEff /proc/self/status"});
  req.mutable_oci()->mutable_process()->mutable_capabilities()->add_bounding("CAP_CHOWN");
  out = api_->RunToEnd(req);
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
  out = api_->RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "CapEff:\t0000000000000001\nCapAmb:\t0000000000000001\n1000\nrc=0");

  req = Request("cap4", {"sh"});
  req.mutable_oci()->mutable_process()->mutable_capabilities()->add_bounding("CAP_NOPE");
  absl::Status s = api_->Create(req);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("CAP_NOPE"));
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, RlimitsAndNoNewPrivileges) {
  grpc::CreateContainerRequest req =
      Request("rl1", {"sh", "-c", "ulimit -n; busybox grep NoNewPrivs /proc/self/status"});
  grpc::POSIXRlimit* rl = req.mutable_oci()->mutable_process()->add_rlimits();
  rl->set_type("RLIMIT_NOFILE");
  rl->set_soft(64);
  rl->set_hard(128);
  req.mutable_oci()->mutable_process()->set_nonewprivileges(true);
  absl::StatusOr<std::string> out = api_->RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "64\nNoNewPrivs:\t1\nrc=0");

  // Without them: the agent's limit, and no NoNewPrivs.
  req = Request("rl2", {"sh", "-c", "busybox grep NoNewPrivs /proc/self/status"});
  out = api_->RunToEnd(req);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "NoNewPrivs:\t0\nrc=0");

  // An exec'd process gets its own.
  ASSERT_TRUE(api_->Create(Request("rl3", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("rl3").ok());
  grpc::ExecProcessRequest e =
      testing::AgentApi::ExecRequest("rl3", "e1", {"sh", "-c", "ulimit -n"});
  rl = e.mutable_process()->add_rlimits();
  rl->set_type("RLIMIT_NOFILE");
  rl->set_soft(77);
  rl->set_hard(77);
  ASSERT_TRUE(api_->Exec(e).ok());
  absl::StatusOr<std::string> eout = api_->ReadAll("rl3", "e1");
  ASSERT_TRUE(eout.ok()) << eout.status();
  EXPECT_EQ(*eout, "77\n");
  EXPECT_EQ(*api_->Wait("rl3", "e1"), 0);
  ASSERT_TRUE(api_->Remove("rl3").ok());

  req = Request("rl4", {"sh"});
  req.mutable_oci()->mutable_process()->add_rlimits()->set_type("RLIMIT_BOGUS");
  EXPECT_EQ(api_->Create(req).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(AnyCgroupLeft());
}

// The first line of a cgroup file of container `id` in the hierarchy that has `file`
// (v1 controller directories or the v2 root), "" when there is none.
std::string CgroupFileOf(const std::string& parent, const std::string& id,
                         const std::string& file) {
  for (const char* root : {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup"}) {
    std::string p = absl::StrCat(root, "/", parent, "/", id, "/", file);
    if (Exists(p)) return std::string(absl::StripAsciiWhitespace(ReadFileOrDie(p)));
  }
  return "";
}

TEST_F(ContainerRpcTest, StatsOfRunningContainer) {
  ASSERT_TRUE(api_->Create(Request("st1", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("st1").ok());
  absl::StatusOr<grpc::StatsContainerResponse> resp = api_->Stats("st1");
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_GE(resp->cgroup_stats().pids_stats().current(), 1u);
  EXPECT_GT(resp->cgroup_stats().memory_stats().usage().usage(), 0u);
  EXPECT_EQ(resp->cgroup_stats().memory_stats().usage().limit(), 64u << 20);
  EXPECT_EQ(api_->Stats("nope").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(api_->Remove("st1").ok());
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, PauseFreezesAndResumeThaws) {
  const std::string loop = "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.01; done";
  ASSERT_TRUE(api_->Create(Request("p1", {"sh", "-c", loop})).ok());
  // Not started yet: neither is legal.
  EXPECT_EQ(api_->Pause("p1").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(api_->Start("p1").ok());
  EXPECT_EQ(api_->Resume("p1").code(), absl::StatusCode::kFailedPrecondition);
  const std::string counter = rootfs_ + "/tmp/n";
  auto count = [&] { return ReadFileToString(counter).value_or(""); };
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (count().empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_FALSE(count().empty());

  absl::Status s = api_->Pause("p1");
  ASSERT_TRUE(s.ok()) << s;
  std::string state = CgroupFileOf(cgroup_parent_, "p1", "freezer.state");
  if (state.empty() && CgroupFileOf(cgroup_parent_, "p1", "cgroup.freeze") == "1") {
    state = "FROZEN";  // cgroup v2
  }
  EXPECT_EQ(state, "FROZEN");
  std::string frozen = count();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(count(), frozen);
  EXPECT_EQ(api_->Pause("p1").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(api_->Exec("p1", "e1", {"true"}).code(), absl::StatusCode::kFailedPrecondition);

  s = api_->Resume("p1");
  ASSERT_TRUE(s.ok()) << s;
  deadline = absl::Now() + absl::Seconds(10);
  while (count() == frozen && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_NE(count(), frozen);
  EXPECT_EQ(api_->Resume("p1").code(), absl::StatusCode::kFailedPrecondition);

  // A paused container can be removed (it is thawed so that SIGKILL works).
  ASSERT_TRUE(api_->Pause("p1").ok());
  s = api_->Remove("p1");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(AnyCgroupLeft());
  EXPECT_EQ(api_->Pause("p1").code(), absl::StatusCode::kNotFound);
}

TEST_F(ContainerRpcTest, UpdateSetsTheMemoryLimit) {
  ASSERT_TRUE(api_->Create(Request("u1", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("u1").ok());
  grpc::UpdateContainerRequest u;
  u.set_container_id("u1");
  u.mutable_resources()->mutable_memory()->set_limit(32 << 20);
  google::protobuf::Empty empty;
  absl::Status s = api_->service().UpdateContainer(u, &empty, api_->opts());
  ASSERT_TRUE(s.ok()) << s;
  std::string limit = CgroupFileOf(cgroup_parent_, "u1", "memory.limit_in_bytes");
  if (limit.empty()) limit = CgroupFileOf(cgroup_parent_, "u1", "memory.max");
  EXPECT_EQ(limit, "33554432");
  u.set_container_id("nope");
  EXPECT_EQ(api_->service().UpdateContainer(u, &empty, api_->opts()).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(api_->Remove("u1").ok());
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, GetOOMEventNamesTheContainer) {
  ASSERT_TRUE(api_->Create(Request("calm", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("calm").ok());
  grpc::OOMEvent ev;
  absl::Status oom;
  std::thread waiter([&] {
    ttrpc::CallOptions o;
    o.timeout = absl::Seconds(30);
    oom = api_->service().GetOOMEvent(grpc::GetOOMEventRequest(), &ev, o);
  });
  // A shell doubling a string until the 16 MiB limit kills it.
  grpc::CreateContainerRequest req =
      Request("oom1", {"sh", "-c", "x=aaaaaaaa; while :; do x=$x$x; done"});
  req.mutable_oci()->mutable_linux()->mutable_resources()->mutable_memory()->set_limit(16 << 20);
  absl::Status s = api_->Create(req);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(api_->Start("oom1").ok());
  waiter.join();
  ASSERT_TRUE(oom.ok()) << oom;
  EXPECT_EQ(ev.container_id(), "oom1");
  EXPECT_EQ(*api_->Wait("oom1", "oom1"), 137);
  ASSERT_TRUE(api_->Remove("oom1").ok());
  ASSERT_TRUE(api_->Remove("calm").ok());
  EXPECT_FALSE(AnyCgroupLeft());
}

TEST_F(ContainerRpcTest, GetOOMEventEndsOnTimeoutAndShutdown) {
  ttrpc::CallOptions o;
  o.timeout = absl::Milliseconds(300);
  grpc::OOMEvent ev;
  absl::Time start = absl::Now();
  EXPECT_EQ(api_->service().GetOOMEvent(grpc::GetOOMEventRequest(), &ev, o).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  absl::Status oom;
  std::thread waiter([&] {
    ttrpc::CallOptions forever;
    forever.timeout = absl::Seconds(30);
    oom = api_->service().GetOOMEvent(grpc::GetOOMEventRequest(), &ev, forever);
  });
  absl::SleepFor(absl::Milliseconds(200));  // let the call reach the handler
  start = absl::Now();
  server_.Shutdown(absl::Seconds(1));  // the handler is cancelled after the grace at the latest
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  waiter.join();
  EXPECT_FALSE(oom.ok());
}

TEST_F(ContainerRpcTest, BadAndUnknownIds) {
  EXPECT_EQ(api_->Start("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Wait("nope", "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Signal("nope", "", SIGKILL).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Remove("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Start("..").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(api_->Start("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(api_->Start("a/b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(api_->Wait("c1", "../x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(api_->Create(Request("..", {"sh"})).code(), absl::StatusCode::kInvalidArgument);
  grpc::CreateContainerRequest no_spec;
  no_spec.set_container_id("c1");
  EXPECT_EQ(api_->Create(no_spec).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(AnyCgroupLeft());
}

}  // namespace
}  // namespace agent
}  // namespace kata
