#include "src/runtime/agent/ttrpc_agent_client.h"

#include <unistd.h>

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/agent/testing/fake_agent.h"

namespace kata::runtime {
namespace {

using ::testing::HasSubstr;

class TtrpcAgentClientTest : public ::testing::Test {
 protected:
  void SetUp() override { socket_ = dir_.Join("agent.sock"); }
  void TearDown() override { agent_.Stop(); }
  kata::testing::TempDir dir_{"/tmp"};  // /tmp: a unix socket path must stay short
  std::string socket_;
  testing::FakeAgent agent_;
};

TEST_F(TtrpcAgentClientTest, WaitsForAnAgentThatComesUpLater) {
  ASSERT_TRUE(agent_.Start(socket_, absl::Milliseconds(400)).ok());
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<AgentClient>> client =
      DialAgent("unix://" + socket_, {.dial_timeout = absl::Seconds(10)});
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(350));
  EXPECT_GE(agent_.Requests("Check").size(), 1u);
  absl::StatusOr<::grpc::VersionCheckResponse> v = (*client)->Version();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->agent_version(), "fake-agent 0");
}

TEST_F(TtrpcAgentClientTest, NoAgentIsDeadlineExceededNamingTheAddress) {
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<AgentClient>> client =
      DialAgent("unix://" + socket_, {.dial_timeout = absl::Milliseconds(300)});
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kDeadlineExceeded) << client.status();
  EXPECT_THAT(client.status().message(), HasSubstr("agent unix://" + socket_ + ": not ready"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(TtrpcAgentClientTest, ContainerLifecycleOverTheWire) {
  ASSERT_TRUE(agent_.Start(socket_).ok());
  auto client = DialAgent("unix://" + socket_, {.dial_timeout = absl::Seconds(5)});
  ASSERT_TRUE(client.ok()) << client.status();
  AgentClient& a = **client;

  ::grpc::CreateContainerRequest create;
  create.set_container_id("c1");
  create.mutable_oci()->mutable_process()->add_args("echo");
  create.mutable_oci()->mutable_process()->add_args("hello");
  ASSERT_TRUE(a.CreateContainer(create).ok());
  ::grpc::StartContainerRequest start;
  start.set_container_id("c1");
  ASSERT_TRUE(a.StartContainer(start).ok());

  ::grpc::ReadStreamRequest read;
  read.set_container_id("c1");
  read.set_exec_id("c1");
  read.set_len(1024);
  auto out = a.ReadStdout(read);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->data(), "hello\n");
  auto eof = a.ReadStdout(read);
  EXPECT_EQ(eof.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(eof.status().message(), HasSubstr("agent ReadStdout: "));

  ::grpc::WaitProcessRequest wait;
  wait.set_container_id("c1");
  wait.set_exec_id("c1");
  auto st = a.WaitProcess(wait);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->status(), 0);

  auto created = agent_.RequestsAs<::grpc::CreateContainerRequest>("CreateContainer");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].oci().process().args(1), "hello");
}

TEST_F(TtrpcAgentClientTest, AgentErrorsKeepTheirCodeAndNameTheRpc) {
  ASSERT_TRUE(agent_.Start(socket_).ok());
  auto client = DialAgent("unix://" + socket_, {.dial_timeout = absl::Seconds(5)});
  ASSERT_TRUE(client.ok()) << client.status();
  ::grpc::StartContainerRequest start;
  start.set_container_id("nope");
  absl::Status s = (*client)->StartContainer(start);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("agent StartContainer: "));
  EXPECT_THAT(s.message(), HasSubstr("container nope"));

  agent_.FailNext("CreateSandbox", absl::InternalError("mount kataShared: ENODEV"));
  s = (*client)->CreateSandbox({});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("agent CreateSandbox: mount kataShared: ENODEV"));
}

TEST_F(TtrpcAgentClientTest, ABlockedWaitEndsUnavailableWhenTheAgentGoes) {
  ASSERT_TRUE(agent_.Start(socket_).ok());
  auto client = DialAgent("unix://" + socket_, {.dial_timeout = absl::Seconds(5)});
  ASSERT_TRUE(client.ok()) << client.status();
  ::grpc::CreateContainerRequest create;
  create.set_container_id("c1");
  create.mutable_oci()->mutable_process()->add_args("sleep");
  ASSERT_TRUE((*client)->CreateContainer(create).ok());
  ASSERT_TRUE((*client)
                  ->StartContainer([] {
                    ::grpc::StartContainerRequest r;
                    r.set_container_id("c1");
                    return r;
                  }())
                  .ok());
  std::thread stopper([this] {
    absl::SleepFor(absl::Milliseconds(200));
    agent_.Stop();
  });
  ::grpc::WaitProcessRequest wait;
  wait.set_container_id("c1");
  wait.set_exec_id("c1");
  auto st = (*client)->WaitProcess(wait);
  stopper.join();
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(absl::IsUnavailable(st.status()) || absl::IsCancelled(st.status())) << st.status();
}

// The asynchronous faces: answers through the callback, no thread per pending call, and every
// pending call ends UNAVAILABLE once the client is closed (a later one at once, inline).
TEST_F(TtrpcAgentClientTest, AsyncWaitsAndReadsCompleteThroughTheirCallbacks) {
  ASSERT_TRUE(agent_.Start(socket_).ok());
  auto client = DialAgent("unix://" + socket_, {.dial_timeout = absl::Seconds(5)});
  ASSERT_TRUE(client.ok()) << client.status();
  AgentClient& a = **client;
  auto start = [&a](const std::string& id, std::vector<std::string> args) {
    ::grpc::CreateContainerRequest create;
    create.set_container_id(id);
    for (const std::string& arg : args) create.mutable_oci()->mutable_process()->add_args(arg);
    ASSERT_TRUE(a.CreateContainer(create).ok());
    ::grpc::StartContainerRequest r;
    r.set_container_id(id);
    ASSERT_TRUE(a.StartContainer(r).ok());
  };
  start("echo", {"echo", "hello"});
  start("sleep", {"sleep"});

  struct Got {
    absl::Notification done;
    absl::StatusOr<::grpc::ReadStreamResponse> read;
    absl::StatusOr<::grpc::WaitProcessResponse> wait;
  };
  Got out, eof, echo_exit, sleeper_exit, late;
  ::grpc::ReadStreamRequest read;
  read.set_container_id("echo");
  read.set_exec_id("echo");
  read.set_len(1024);
  a.ReadStdoutAsync(read, [&out](auto r) {
    out.read = std::move(r);
    out.done.Notify();
  });
  ASSERT_TRUE(out.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(out.read.ok()) << out.read.status();
  EXPECT_EQ(out.read->data(), "hello\n");
  a.ReadStdoutAsync(read, [&eof](auto r) {
    eof.read = std::move(r);
    eof.done.Notify();
  });
  ASSERT_TRUE(eof.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(eof.read.status().code(), absl::StatusCode::kOutOfRange) << eof.read.status();
  EXPECT_THAT(eof.read.status().message(), HasSubstr("agent ReadStdout: "));

  auto wait = [&a](const std::string& id, Got* got) {
    ::grpc::WaitProcessRequest w;
    w.set_container_id(id);
    w.set_exec_id(id);
    a.WaitProcessAsync(w, [got](auto r) {
      got->wait = std::move(r);
      got->done.Notify();
    });
  };
  wait("echo", &echo_exit);
  ASSERT_TRUE(echo_exit.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(echo_exit.wait.ok()) << echo_exit.wait.status();
  EXPECT_EQ(echo_exit.wait->status(), 0);

  wait("sleep", &sleeper_exit);  // pending until the client closes
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(sleeper_exit.done.HasBeenNotified());
  a.Close();
  ASSERT_TRUE(sleeper_exit.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(sleeper_exit.wait.status().code(), absl::StatusCode::kUnavailable)
      << sleeper_exit.wait.status();
  EXPECT_THAT(sleeper_exit.wait.status().message(), HasSubstr("agent WaitProcess: "));

  wait("sleep", &late);  // cannot start: completes on this thread, before returning
  EXPECT_TRUE(late.done.HasBeenNotified());
  EXPECT_EQ(late.wait.status().code(), absl::StatusCode::kUnavailable) << late.wait.status();
}

TEST(AgentAddressTest, Forms) {
  hypervisor::AgentChannel serial{hypervisor::AgentChannelKind::kVirtioSerial,
                                  "/run/vc/vm/s/a.sock"};
  EXPECT_EQ(AgentAddress(serial), "unix:///run/vc/vm/s/a.sock");
  hypervisor::AgentChannel vsock{hypervisor::AgentChannelKind::kVsock, "", 3, 1024};
  EXPECT_EQ(AgentAddress(vsock), "vsock://3:1024");
}

}  // namespace
}  // namespace kata::runtime
