// The host's view of the Kata agent in the guest: the agent calls the runtime needs.
//
//   // ttrpc_agent_client.h: the address from the hypervisor's AgentChannel.
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<AgentClient> agent,
//                         DialAgent(AgentAddress(channel), {.dial_timeout = absl::Seconds(30)}));
//   KATA_RETURN_IF_ERROR(agent->CreateSandbox(request));
//
// Contracts:
//   - One method per rpc of `grpc.AgentService` / `grpc.Health` that the runtime uses, with
//     the wire's own request/response messages (src/libs/protocols/agent.proto).
//   - Each call is bounded: by the per-call timeout of the implementation, except the calls
//     that block by design (WaitProcess, ReadStdout/ReadStderr, GetOOMEvent), which wait
//     until answered or the connection is closed.
//   - Errors are the agent's status prefixed with the rpc ("agent CreateContainer: ..."); a
//     closed or broken connection is UNAVAILABLE for every pending and later call.
//   - Thread-safe; calls run concurrently (the transport multiplexes them).
#ifndef KATA_SRC_RUNTIME_AGENT_AGENT_CLIENT_H_
#define KATA_SRC_RUNTIME_AGENT_AGENT_CLIENT_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/protocols/agent.pb.h"
#include "src/libs/protocols/health.pb.h"

namespace kata::runtime {

class AgentClient {
 public:
  virtual ~AgentClient() = default;

  // grpc.Health
  virtual absl::StatusOr<::grpc::HealthCheckResponse> Check() = 0;
  virtual absl::StatusOr<::grpc::VersionCheckResponse> Version() = 0;

  // grpc.AgentService: sandbox
  virtual absl::Status CreateSandbox(const ::grpc::CreateSandboxRequest& request) = 0;
  virtual absl::Status DestroySandbox(const ::grpc::DestroySandboxRequest& request) = 0;
  virtual absl::StatusOr<::grpc::GuestDetailsResponse> GetGuestDetails(
      const ::grpc::GuestDetailsRequest& request) = 0;
  // The agent's and the guest's metrics, Prometheus text.
  virtual absl::StatusOr<::grpc::Metrics> GetMetrics(const ::grpc::GetMetricsRequest& request) = 0;

  // network (before CreateSandbox; the guest matches interfaces by MAC)
  virtual absl::StatusOr<::types::Interface> UpdateInterface(
      const ::grpc::UpdateInterfaceRequest& request) = 0;
  virtual absl::StatusOr<::grpc::Routes> UpdateRoutes(
      const ::grpc::UpdateRoutesRequest& request) = 0;
  virtual absl::Status AddARPNeighbors(const ::grpc::AddARPNeighborsRequest& request) = 0;

  // containers
  virtual absl::Status CreateContainer(const ::grpc::CreateContainerRequest& request) = 0;
  virtual absl::Status StartContainer(const ::grpc::StartContainerRequest& request) = 0;
  virtual absl::Status RemoveContainer(const ::grpc::RemoveContainerRequest& request) = 0;
  virtual absl::Status PauseContainer(const ::grpc::PauseContainerRequest& request) = 0;
  virtual absl::Status ResumeContainer(const ::grpc::ResumeContainerRequest& request) = 0;
  virtual absl::StatusOr<::grpc::StatsContainerResponse> StatsContainer(
      const ::grpc::StatsContainerRequest& request) = 0;
  virtual absl::Status UpdateContainer(const ::grpc::UpdateContainerRequest& request) = 0;
  virtual absl::StatusOr<::grpc::OOMEvent> GetOOMEvent(
      const ::grpc::GetOOMEventRequest& request) = 0;  // blocks

  // processes
  virtual absl::Status ExecProcess(const ::grpc::ExecProcessRequest& request) = 0;
  virtual absl::Status SignalProcess(const ::grpc::SignalProcessRequest& request) = 0;
  virtual absl::StatusOr<::grpc::WaitProcessResponse> WaitProcess(
      const ::grpc::WaitProcessRequest& request) = 0;  // blocks

  // stdio
  virtual absl::StatusOr<::grpc::WriteStreamResponse> WriteStdin(
      const ::grpc::WriteStreamRequest& request) = 0;
  // Block until data; OUT_OF_RANGE at EOF (as the agent answers).
  virtual absl::StatusOr<::grpc::ReadStreamResponse> ReadStdout(
      const ::grpc::ReadStreamRequest& request) = 0;
  virtual absl::StatusOr<::grpc::ReadStreamResponse> ReadStderr(
      const ::grpc::ReadStreamRequest& request) = 0;
  virtual absl::Status CloseStdin(const ::grpc::CloseStdinRequest& request) = 0;
  virtual absl::Status TtyWinResize(const ::grpc::TtyWinResizeRequest& request) = 0;

  // Closes the connection: pending and later calls fail UNAVAILABLE. Idempotent.
  virtual void Close() = 0;
};

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_AGENT_AGENT_CLIENT_H_
