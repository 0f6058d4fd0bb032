// The real kata-agent end to end (agent_e2e_fixture.h), the container's processes: pids and
// memory limits, seccomp, sysctls, the terminal (its own pty, resize), signals, exec, stdin,
// and bad requests.
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
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/agent_e2e_fixture.h"
#include "src/libs/base/testing/threads.h"
#include "src/libs/oci/spec_proto.h"
#include "src/libs/ttrpc/client.h"

namespace kata {
namespace agent {
namespace e2e {
namespace {

using ::kata::testing::ReadFileOrDie;
using ::testing::HasSubstr;

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

// WaitProcess and a read with no output yet are deferred calls (agent_service.h): 100 of them
// blocked on one live process add no thread to the agent, and the agent's shutdown (SIGTERM:
// the server's Shutdown, then the service) does not wait for them.
TEST_F(AgentE2eTest, BlockedWaitProcessCallsHoldNoThreadNorShutdown) {
  constexpr int kCalls = 100;
  ASSERT_TRUE(api_->Create(Request("w1", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("w1").ok());
  auto client = kata::ttrpc::Client::Dial(absl::StrCat("unix://", dir_, "/agent.sock"));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::Mutex mu;
  int answered = 0;
  auto call = [&](const std::string& method, const std::string& payload) {
    kata::ttrpc::CallOptions opts;
    opts.timeout = absl::Seconds(60);
    ASSERT_TRUE((*client)
                    ->CallAsync("grpc.AgentService", method, payload, opts,
                                [&](absl::StatusOr<std::string>) {
                                  absl::MutexLock lock(&mu);
                                  ++answered;
                                })
                    .ok());
  };
  grpc::WaitProcessRequest wait;
  wait.set_container_id("w1");
  wait.set_exec_id("w1");
  grpc::ReadStreamRequest read;
  read.set_container_id("w1");
  read.set_exec_id("w1");
  // One of each first: every thread a blocked call could need at all is started by them.
  call("WaitProcess", wait.SerializeAsString());
  call("ReadStdout", read.SerializeAsString());
  // A call answered at once, after the agent has read every call sent before it.
  auto sync = [&] {
    grpc::WaitProcessRequest bad;
    bad.set_container_id("w1");
    bad.set_exec_id("no-such-exec");
    grpc::WaitProcessResponse resp;
    EXPECT_EQ((*client)->Call("grpc.AgentService", "WaitProcess", bad, &resp).code(),
              absl::StatusCode::kNotFound);
  };
  sync();
  absl::SleepFor(absl::Milliseconds(300));
  const int before = kata::testing::ThreadCount(agent_);
  for (int i = 0; i < kCalls; ++i) call("WaitProcess", wait.SerializeAsString());
  sync();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_LE(kata::testing::ThreadCount(agent_), before) << "blocked WaitProcess calls took threads";
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(answered, 0);
  }
  const absl::Time stop = absl::Now();
  kill(agent_, SIGTERM);
  EXPECT_EQ(WaitAgent(absl::Seconds(15)), 0) << AgentLog();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(5)) << "the shutdown waited for blocked calls";
  client->reset();  // every call gets its callback (the agent is gone)
  absl::MutexLock lock(&mu);
  EXPECT_EQ(answered, kCalls + 2);
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
}  // namespace e2e
}  // namespace agent
}  // namespace kata
