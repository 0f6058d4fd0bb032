// The real kata-agent binary (argv[1]) on a unix socket runs a busybox
// container for a ttRPC client, the way the shim drives it: CreateContainer,
// StartContainer, ReadStdout to EOF, WaitProcess, RemoveContainer; then SIGTERM
// with a second container still running, which the agent must clean up on its
// way out. Needs root, outside Bazel's sandbox.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "src/agent/container/test_util.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"

namespace {

namespace kt = kata::agent::testing;

std::string g_agent_binary;

kata::ttrpc::CallOptions Bounded() {
  kata::ttrpc::CallOptions o;
  o.timeout = absl::Seconds(20);
  return o;
}

int WaitFor(pid_t pid, absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    if (absl::Now() > until) return -1;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

// Starts the agent serving `sock`, its stderr in <dir>/agent.log.
pid_t SpawnAgent(const std::string& dir, const std::string& sock) {
  pid_t agent = fork();
  if (agent == 0) {
    int fd = open((dir + "/agent.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) dup2(fd, STDERR_FILENO);
    execl(g_agent_binary.c_str(), g_agent_binary.c_str(), "--server-addr",
          ("unix://" + sock).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return agent;
}

// Container `c1` through its whole life: prints, exits 3, is removed with its cgroup.
void RunOneContainer(grpc::AgentServiceTtrpc::Client& api, const std::string& rootfs,
                     const std::string& cg) {
  google::protobuf::Empty empty;
  absl::Status s =
      api.CreateContainer(kt::BusyboxContainerRequest("c1", rootfs, cg + "/c1",
                                                      {"sh", "-c", "echo hello; hostname; exit 3"}),
                          &empty, Bounded());
  ASSERT_TRUE(s.ok()) << s;
  grpc::StartContainerRequest start;
  start.set_container_id("c1");
  ASSERT_TRUE(api.StartContainer(start, &empty, Bounded()).ok());
  std::string out;
  for (;;) {
    grpc::ReadStreamRequest r;
    r.set_container_id("c1");
    r.set_exec_id("c1");
    r.set_len(4096);
    grpc::ReadStreamResponse resp;
    s = api.ReadStdout(r, &resp, Bounded());
    if (s.code() == absl::StatusCode::kOutOfRange) break;  // EOF
    ASSERT_TRUE(s.ok()) << s;
    out += resp.data();
  }
  EXPECT_EQ(out, "hello\nc1\n");
  grpc::WaitProcessRequest w;
  w.set_container_id("c1");
  w.set_exec_id("c1");
  grpc::WaitProcessResponse wr;
  ASSERT_TRUE(api.WaitProcess(w, &wr, Bounded()).ok());
  EXPECT_EQ(wr.status(), 3);
  grpc::RemoveContainerRequest rm;
  rm.set_container_id("c1");
  s = api.RemoveContainer(rm, &empty, Bounded());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(kt::CgroupParentExists(cg));
}

TEST(AgentContainerTest, RunsAContainerOverTtrpc) {
  ASSERT_FALSE(g_agent_binary.empty()) << "pass the kata-agent binary as argv[1]";
  ASSERT_EQ(geteuid(), 0u) << "this test needs root (mounts, namespaces, cgroups)";
  kata::testing::TempDir tmp("/tmp");  // short: unix socket paths are limited to 108 bytes
  const std::string& dir = tmp.path();
  const std::string sock = dir + "/agent.sock";
  absl::StatusOr<std::string> rootfs = kt::MakeBusyboxRootfs(dir);
  ASSERT_TRUE(rootfs.ok()) << rootfs.status();
  const std::string cg = absl::StrCat("kata-agent-ctr-test-", getpid());

  pid_t agent = SpawnAgent(dir, sock);
  ASSERT_GE(agent, 0);
  {
    auto client = kata::ttrpc::Client::Dial("unix://" + sock, absl::Seconds(10));
    ASSERT_TRUE(client.ok()) << client.status();
    grpc::AgentServiceTtrpc::Client api(client->get());
    ASSERT_NO_FATAL_FAILURE(RunOneContainer(api, *rootfs, cg));

    // A second one left running: the agent removes it when it stops.
    google::protobuf::Empty empty;
    absl::Status s = api.CreateContainer(
        kt::BusyboxContainerRequest("c2", *rootfs, cg + "/c2", {"sleep", "1000"}), &empty,
        Bounded());
    ASSERT_TRUE(s.ok()) << s;
    grpc::StartContainerRequest start;
    start.set_container_id("c2");
    ASSERT_TRUE(api.StartContainer(start, &empty, Bounded()).ok());
    EXPECT_TRUE(kt::CgroupParentExists(cg));
  }
  ASSERT_EQ(kill(agent, SIGTERM), 0);
  int status = WaitFor(agent, absl::Seconds(10));
  if (status == -1) {
    kill(agent, SIGKILL);
    waitpid(agent, nullptr, 0);
  }
  ASSERT_NE(status, -1) << "the agent did not stop";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(kt::CgroupParentExists(cg));
  // Only mounts under the test's directory count: other tests on this host mount too.
  EXPECT_EQ(kata::testing::ReadFileOrDie("/proc/self/mountinfo").find(dir), std::string::npos)
      << "mounts left behind";
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) g_agent_binary = argv[1];
  signal(SIGPIPE, SIG_IGN);
  return RUN_ALL_TESTS();
}
