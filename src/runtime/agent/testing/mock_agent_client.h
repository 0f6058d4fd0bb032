// A gMock AgentClient mirroring agent_client.h one for one, for tests of the sandbox code.
#ifndef KATA_SRC_RUNTIME_AGENT_TESTING_MOCK_AGENT_CLIENT_H_
#define KATA_SRC_RUNTIME_AGENT_TESTING_MOCK_AGENT_CLIENT_H_

#include "gmock/gmock.h"
#include "src/runtime/agent/agent_client.h"

namespace kata::runtime::testing {

class MockAgentClient : public AgentClient {
 public:
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
  MOCK_METHOD(absl::Status, CloseStdin, (const ::grpc::CloseStdinRequest& request), (override));
  MOCK_METHOD(absl::Status, TtyWinResize, (const ::grpc::TtyWinResizeRequest& request), (override));
  MOCK_METHOD(void, Close, (), (override));
};

}  // namespace kata::runtime::testing

#endif  // KATA_SRC_RUNTIME_AGENT_TESTING_MOCK_AGENT_CLIENT_H_
