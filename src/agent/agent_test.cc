// Runs the real kata-agent binary (argv[1]) on a unix socket in a temp dir and talks to it
// with a ttRPC client.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/version.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/protocols/health.ttrpc.pb.h"
#include "src/libs/trace/frame.h"
#include "src/libs/ttrpc/address.h"
#include "src/libs/ttrpc/client.h"

namespace {

using ::testing::HasSubstr;

std::string g_agent_binary;

// Waits for `pid` up to `timeout`; the wait status, or -1 on timeout.
int WaitFor(pid_t pid, absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (absl::Now() > until) return -1;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

class AgentBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(g_agent_binary.empty()) << "pass the kata-agent binary as argv[1]";
    ASSERT_TRUE(kata::WriteStringToFile(dir_ + "/keep", "not the agent's").ok());
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Starts the agent with `args`; its stderr goes to log_.
  void Spawn(std::vector<std::string> args) {
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) dup2(fd, STDERR_FILENO);
      unsetenv("KATA_AGENT_SERVER_ADDR");
      unsetenv("KATA_AGENT_LOG_LEVEL");
      std::vector<char*> argv;
      argv.push_back(g_agent_binary.data());
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(g_agent_binary.c_str(), argv.data());
      _exit(127);
    }
  }

  // The agent's stderr so far ("" before it wrote any).
  std::string Log() const { return kata::ReadFileToString(log_).value_or(""); }

  kata::testing::TempDir tmp_{"/tmp"};  // short: unix socket paths are limited to 108 bytes
  const std::string dir_ = tmp_.path();
  const std::string socket_ = dir_ + "/agent.sock";
  const std::string log_ = dir_ + "/agent.log";
  pid_t pid_ = -1;
};

kata::ttrpc::CallOptions Bounded() {
  kata::ttrpc::CallOptions o;
  o.timeout = absl::Seconds(5);
  return o;
}

TEST_F(AgentBinaryTest, ServesHealthAndAgentAndStopsOnSigterm) {
  Spawn({"--server-addr", "unix://" + socket_, "--log-level", "debug"});
  auto client = kata::ttrpc::Client::Dial("unix://" + socket_, absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status() << "\n" << Log();

  grpc::HealthTtrpc::Client health(client->get());
  grpc::HealthCheckResponse check;
  absl::Status s = health.Check(grpc::CheckRequest(), &check, Bounded());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(check.status(), grpc::HealthCheckResponse::SERVING);

  grpc::VersionCheckResponse version;
  s = health.Version(grpc::CheckRequest(), &version, Bounded());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(version.agent_version(), kata::agent::kAgentVersion);

  grpc::AgentServiceTtrpc::Client agent(client->get());
  grpc::GuestDetailsRequest details_req;
  details_req.set_mem_block_size(true);
  details_req.set_mem_hotplug_probe(true);
  grpc::GuestDetailsResponse details;
  s = agent.GetGuestDetails(details_req, &details, Bounded());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(details.agent_details().version(), kata::agent::kAgentVersion);
  EXPECT_FALSE(details.agent_details().init_daemon());

  // An rpc the agent does not implement (yet) keeps the generated UNIMPLEMENTED answer.
  grpc::MemAgentMemcgConfig memcg;
  google::protobuf::Empty empty;
  s = agent.MemAgentMemcgSet(memcg, &empty, Bounded());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_THAT(s.message(), HasSubstr("MemAgentMemcgSet"));

  // Container rpcs answer for real: an unknown container is NOT_FOUND.
  grpc::StartContainerRequest start_req;
  start_req.set_container_id("c1");
  s = agent.StartContainer(start_req, &empty, Bounded());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;

  client->reset();
  ASSERT_EQ(kill(pid_, SIGTERM), 0);
  const absl::Time start = absl::Now();
  int status = WaitFor(pid_, absl::Seconds(5));
  ASSERT_NE(status, -1) << "kata-agent did not exit after SIGTERM\n" << Log();
  pid_ = -1;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << Log();
  struct stat st;
  EXPECT_EQ(stat((dir_ + "/keep").c_str(), &st), 0) << "the agent removed a file not its own";

  const std::string log = Log();
  EXPECT_THAT(log, HasSubstr("level=info msg=serving addr=unix://"));
  EXPECT_THAT(log, HasSubstr("level=info msg=stopping signal=SIGTERM"));
}

TEST_F(AgentBinaryTest, ReadsTheCmdlineFile) {
  ASSERT_TRUE(
      kata::WriteStringToFile(
          dir_ + "/cmdline",
          absl::StrCat("console=hvc0 agent.log=debug agent.bogus=1 agent.server_addr=unix://",
                       socket_, "\n"))
          .ok());
  Spawn({"--cmdline-file", dir_ + "/cmdline"});
  auto client = kata::ttrpc::Client::Dial("unix://" + socket_, absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status() << "\n" << Log();
  grpc::HealthTtrpc::Client health(client->get());
  grpc::HealthCheckResponse check;
  EXPECT_TRUE(health.Check(grpc::CheckRequest(), &check, Bounded()).ok());
  client->reset();
  ASSERT_EQ(kill(pid_, SIGINT), 0);
  int status = WaitFor(pid_, absl::Seconds(5));
  pid_ = -1;
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_THAT(Log(), HasSubstr("level=warn msg=\"unknown kernel parameter agent.bogus ignored\""));
}

// The agent's children (those of every thread), from /proc.
std::string Children(pid_t pid) {
  std::string all;
  const std::string tasks = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(tasks.c_str());
  if (d == nullptr) return "?";
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    all += kata::ReadFileToString(absl::StrCat(tasks, "/", e->d_name, "/children")).value_or("");
  }
  closedir(d);
  return all;
}

TEST_F(AgentBinaryTest, DebugConsoleOnlyWithItsKernelParameter) {
  const std::string console = dir_ + "/dc.sock";
  for (const bool enabled : {false, true}) {
    SCOPED_TRACE(enabled ? "agent.debug_console" : "no agent.debug_console");
    ASSERT_TRUE(kata::WriteStringToFile(dir_ + "/cmdline",
                                        absl::StrCat("agent.server_addr=unix://", socket_,
                                                     enabled ? " agent.debug_console" : "", "\n"))
                    .ok());
    Spawn({"--cmdline-file", dir_ + "/cmdline", "--debug-console-addr", "unix://" + console});
    auto client = kata::ttrpc::Client::Dial("unix://" + socket_, absl::Seconds(10));
    ASSERT_TRUE(client.ok()) << client.status() << "\n" << Log();
    struct stat st;
    if (!enabled) {
      // Serving, and no console: no socket, no shell, nothing said about it.
      EXPECT_NE(stat(console.c_str(), &st), 0) << "a console socket without the parameter";
      EXPECT_EQ(Children(pid_), "");
      EXPECT_THAT(Log(), ::testing::Not(HasSubstr("debug console")));
    } else {
      // The console starts beside the RPC service, never before it: wait for its socket.
      for (int i = 0; i < 200 && stat(console.c_str(), &st) != 0; ++i) usleep(50000);
      ASSERT_EQ(stat(console.c_str(), &st), 0) << Log();
      int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_un addr = {};
      addr.sun_family = AF_UNIX;
      snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", console.c_str());
      ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
      const std::string cmd = "echo via-$((2+2))-agent; exit 4\n";
      ASSERT_EQ(write(fd, cmd.data(), cmd.size()), static_cast<ssize_t>(cmd.size()));
      std::string out;
      char buf[1024];
      for (ssize_t n;
           out.find("exit=4\x07") == std::string::npos && (n = read(fd, buf, sizeof(buf))) > 0;) {
        out.append(buf, static_cast<size_t>(n));
      }
      close(fd);
      EXPECT_THAT(out, HasSubstr("via-4-agent"));
      EXPECT_THAT(out, HasSubstr("\x1b]kata-debug-console;exit=4\x07"));
    }
    client->reset();
    ASSERT_EQ(kill(pid_, SIGTERM), 0);
    int status = WaitFor(pid_, absl::Seconds(5));
    pid_ = -1;
    ASSERT_NE(status, -1) << Log();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << Log();
  }
}

// agent.trace: the boot's spans join the kernel command line's traceparent, a call that
// carries a traceparent is a server span named after its method, the child of the caller's
// span; a call without one is not traced; all reach the host as OTLP frames, the last ones on
// SIGTERM.
TEST_F(AgentBinaryTest, TracesBootAndTracedCallsToTheHost) {
  const std::string boot_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const std::string call_parent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
  const std::string cmdline = dir_ + "/cmdline";
  ASSERT_TRUE(
      kata::WriteStringToFile(cmdline, "agent.trace agent.trace_parent=" + boot_parent).ok());
  const std::string trace_addr = "unix://" + dir_ + "/trace.sock";
  absl::StatusOr<kata::ttrpc::Address> a = kata::ttrpc::ParseAddress(trace_addr);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<int> lfd = kata::ttrpc::Listen(*a);
  ASSERT_TRUE(lfd.ok()) << lfd.status();
  kata::UniqueFd listener(*lfd);
  Spawn({"--server-addr", "unix://" + socket_, "--cmdline-file", cmdline, "--trace-addr",
         trace_addr});
  auto client = kata::ttrpc::Client::Dial("unix://" + socket_, absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status() << "\n" << Log();
  grpc::HealthTtrpc::Client health(client->get());
  grpc::HealthCheckResponse check;
  ASSERT_TRUE(health.Check(grpc::CheckRequest(), &check, Bounded()).ok());  // untraced
  grpc::AgentServiceTtrpc::Client agent(client->get());
  kata::ttrpc::CallOptions traced = Bounded();
  traced.metadata = {{"traceparent", call_parent}};
  grpc::GuestDetailsResponse details;
  ASSERT_TRUE(agent.GetGuestDetails(grpc::GuestDetailsRequest(), &details, traced).ok());
  grpc::RemoveContainerRequest bad;  // an error is the span's status
  bad.set_container_id("nope");
  google::protobuf::Empty empty;
  EXPECT_FALSE(agent.RemoveContainer(bad, &empty, traced).ok());
  kill(pid_, SIGTERM);
  ASSERT_EQ(WaitFor(pid_, absl::Seconds(10)), 0) << Log();
  pid_ = -1;

  kata::UniqueFd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  ASSERT_TRUE(conn) << "the agent never connected\n" << Log();
  std::string bytes;
  char buf[65536];
  ssize_t n;
  while ((n = read(conn.get(), buf, sizeof(buf))) > 0) bytes.append(buf, static_cast<size_t>(n));
  kata::trace::FrameDecoder decoder;
  std::map<std::string, opentelemetry::proto::trace::v1::Span> spans;
  for (const auto& r : decoder.Feed(bytes)) {
    for (const auto& rs : r.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& s : ss.spans()) spans[s.name()] = s;
      }
    }
  }
  EXPECT_EQ(decoder.dropped(), 0u);
  const std::string trace_id = absl::HexStringToBytes("0af7651916cd43dd8448eb211c80319c");
  ASSERT_EQ(spans.count("agent.init"), 1u) << Log();
  EXPECT_EQ(spans["agent.init"].trace_id(), trace_id);
  EXPECT_EQ(spans["agent.init"].parent_span_id(), absl::HexStringToBytes("b7ad6b7169203331"));
  ASSERT_EQ(spans.count("agent.start"), 1u);
  EXPECT_EQ(spans["agent.start"].parent_span_id(), spans["agent.init"].span_id());
  const auto& call = spans["grpc.AgentService/GetGuestDetails"];
  EXPECT_EQ(call.trace_id(), trace_id);
  EXPECT_EQ(call.parent_span_id(), absl::HexStringToBytes("00f067aa0ba902b7"));
  EXPECT_EQ(call.kind(), opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
  EXPECT_LE(call.start_time_unix_nano(), call.end_time_unix_nano());
  ASSERT_EQ(spans.count("grpc.AgentService/RemoveContainer"), 1u);
  EXPECT_EQ(spans["grpc.AgentService/RemoveContainer"].status().code(),
            opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(spans.count("grpc.Health/Check"), 0u);
}

TEST_F(AgentBinaryTest, BadConfigExitsNonZeroNamingTheKey) {
  ASSERT_TRUE(kata::WriteStringToFile(dir_ + "/cmdline", "agent.log=loud\n").ok());
  Spawn({"--cmdline-file", dir_ + "/cmdline"});
  int status = WaitFor(pid_, absl::Seconds(5));
  pid_ = -1;
  ASSERT_NE(status, -1);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_THAT(Log(), HasSubstr("agent.log"));
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) g_agent_binary = argv[1];
  signal(SIGPIPE, SIG_IGN);
  return RUN_ALL_TESTS();
}
