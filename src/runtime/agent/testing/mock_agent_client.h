// A gMock AgentClient mirroring agent_client.h one for one, for tests of the sandbox code.
// By default each asynchronous call (WaitProcessAsync, ...) runs its blocking mocked
// counterpart (WaitProcess, ...) on a thread of the mock and completes with its answer, so a
// test states a guest's behaviour once, on the blocking method; the destructor joins those
// threads (their calls must have returned: a hung call must end on Close).
#ifndef KATA_SRC_RUNTIME_AGENT_TESTING_MOCK_AGENT_CLIENT_H_
#define KATA_SRC_RUNTIME_AGENT_TESTING_MOCK_AGENT_CLIENT_H_

#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "src/runtime/agent/agent_client.h"

namespace kata::runtime::testing {

class MockAgentClient : public AgentClient {
 public:
  MockAgentClient() {
    EXPECT_CALL(*this, WaitProcessAsync)
        .Times(::testing::AnyNumber());  // plumbing, not a test's concern
    EXPECT_CALL(*this, ReadStdoutAsync)
        .Times(::testing::AnyNumber());  // plumbing, not a test's concern
    EXPECT_CALL(*this, ReadStderrAsync)
        .Times(::testing::AnyNumber());  // plumbing, not a test's concern
    EXPECT_CALL(*this, WriteStdinAsync)
        .Times(::testing::AnyNumber());  // plumbing, not a test's concern
    ON_CALL(*this, WaitProcessAsync)
        .WillByDefault(
            [this](const ::grpc::WaitProcessRequest& r, Done<::grpc::WaitProcessResponse> done) {
              OnThread([this, r, done = std::move(done)]() mutable { done(WaitProcess(r)); });
            });
    ON_CALL(*this, ReadStdoutAsync)
        .WillByDefault(
            [this](const ::grpc::ReadStreamRequest& r, Done<::grpc::ReadStreamResponse> done) {
              OnThread([this, r, done = std::move(done)]() mutable { done(ReadStdout(r)); });
            });
    ON_CALL(*this, ReadStderrAsync)
        .WillByDefault(
            [this](const ::grpc::ReadStreamRequest& r, Done<::grpc::ReadStreamResponse> done) {
              OnThread([this, r, done = std::move(done)]() mutable { done(ReadStderr(r)); });
            });
    ON_CALL(*this, WriteStdinAsync)
        .WillByDefault(
            [this](const ::grpc::WriteStreamRequest& r, Done<::grpc::WriteStreamResponse> done) {
              OnThread([this, r, done = std::move(done)]() mutable { done(WriteStdin(r)); });
            });
  }
  ~MockAgentClient() override {
    std::vector<std::thread> threads;
    {
      absl::MutexLock l(&mu_);
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
  }

  MOCK_METHOD(absl::StatusOr<::grpc::HealthCheckResponse>, Check, (), (override));
  MOCK_METHOD(absl::StatusOr<::grpc::VersionCheckResponse>, Version, (), (override));
  MOCK_METHOD(absl::Status, CreateSandbox, (const ::grpc::CreateSandboxRequest& request),
              (override));
  MOCK_METHOD(absl::Status, DestroySandbox, (const ::grpc::DestroySandboxRequest& request),
              (override));
  MOCK_METHOD(absl::StatusOr<::grpc::GuestDetailsResponse>, GetGuestDetails,
              (const ::grpc::GuestDetailsRequest& request), (override));
  MOCK_METHOD(absl::StatusOr<::types::Interface>, UpdateInterface,
              (const ::grpc::UpdateInterfaceRequest& request), (override));
  MOCK_METHOD(absl::StatusOr<::grpc::Routes>, UpdateRoutes,
              (const ::grpc::UpdateRoutesRequest& request), (override));
  MOCK_METHOD(absl::Status, AddARPNeighbors, (const ::grpc::AddARPNeighborsRequest& request),
              (override));
  MOCK_METHOD(absl::Status, CreateContainer, (const ::grpc::CreateContainerRequest& request),
              (override));
  MOCK_METHOD(absl::Status, StartContainer, (const ::grpc::StartContainerRequest& request),
              (override));
  MOCK_METHOD(absl::Status, RemoveContainer, (const ::grpc::RemoveContainerRequest& request),
              (override));
  MOCK_METHOD(absl::Status, PauseContainer, (const ::grpc::PauseContainerRequest& request),
              (override));
  MOCK_METHOD(absl::Status, ResumeContainer, (const ::grpc::ResumeContainerRequest& request),
              (override));
  MOCK_METHOD(absl::StatusOr<::grpc::Metrics>, GetMetrics,
              (const ::grpc::GetMetricsRequest& request), (override));
  MOCK_METHOD(absl::StatusOr<::grpc::StatsContainerResponse>, StatsContainer,
              (const ::grpc::StatsContainerRequest& request), (override));
  MOCK_METHOD(absl::Status, UpdateContainer, (const ::grpc::UpdateContainerRequest& request),
              (override));
  MOCK_METHOD(absl::StatusOr<::grpc::OOMEvent>, GetOOMEvent,
              (const ::grpc::GetOOMEventRequest& request), (override));
  MOCK_METHOD(absl::Status, ExecProcess, (const ::grpc::ExecProcessRequest& request), (override));
  MOCK_METHOD(absl::Status, SignalProcess, (const ::grpc::SignalProcessRequest& request),
              (override));
  MOCK_METHOD(absl::StatusOr<::grpc::WaitProcessResponse>, WaitProcess,
              (const ::grpc::WaitProcessRequest& request), (override));
  MOCK_METHOD(absl::StatusOr<::grpc::WriteStreamResponse>, WriteStdin,
              (const ::grpc::WriteStreamRequest& request), (override));
  MOCK_METHOD(absl::StatusOr<::grpc::ReadStreamResponse>, ReadStdout,
              (const ::grpc::ReadStreamRequest& request), (override));
  MOCK_METHOD(absl::StatusOr<::grpc::ReadStreamResponse>, ReadStderr,
              (const ::grpc::ReadStreamRequest& request), (override));
  MOCK_METHOD(void, WaitProcessAsync,
              (const ::grpc::WaitProcessRequest& request, Done<::grpc::WaitProcessResponse> done),
              (override));
  MOCK_METHOD(void, ReadStdoutAsync,
              (const ::grpc::ReadStreamRequest& request, Done<::grpc::ReadStreamResponse> done),
              (override));
  MOCK_METHOD(void, ReadStderrAsync,
              (const ::grpc::ReadStreamRequest& request, Done<::grpc::ReadStreamResponse> done),
              (override));
  MOCK_METHOD(void, WriteStdinAsync,
              (const ::grpc::WriteStreamRequest& request, Done<::grpc::WriteStreamResponse> done),
              (override));
  MOCK_METHOD(absl::Status, CloseStdin, (const ::grpc::CloseStdinRequest& request), (override));
  MOCK_METHOD(absl::Status, TtyWinResize, (const ::grpc::TtyWinResizeRequest& request), (override));
  MOCK_METHOD(void, Close, (), (override));

 private:
  template <class F>
  void OnThread(F f) {
    absl::MutexLock l(&mu_);
    threads_.emplace_back(std::move(f));
  }

  absl::Mutex mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kata::runtime::testing

#endif  // KATA_SRC_RUNTIME_AGENT_TESTING_MOCK_AGENT_CLIENT_H_
