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
//   - The calls a host keeps pending per process (WaitProcess, ReadStdout/ReadStderr, and
//     WriteStdin, bounded as its blocking face) also have an asynchronous face (...Async): it
//     returns at once and
//     `done` runs exactly once with what the blocking call would have returned (the same
//     errors, UNAVAILABLE for every pending call once the connection is closed or breaks).
//     `done` runs on the transport's reading thread, so it must not block nor call Close or
//     destroy the client (it may start further asynchronous calls); when the call cannot even
//     start (the connection is already closed), it runs on the calling thread before the
//     method returns. No thread is blocked per pending asynchronous call.
#ifndef KATA_SRC_RUNTIME_AGENT_AGENT_CLIENT_H_
#define KATA_SRC_RUNTIME_AGENT_AGENT_CLIENT_H_

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/protocols/agent.pb.h"
#include "src/libs/protocols/health.pb.h"

namespace kata::runtime {

class AgentClient {
 public:
  // The completion of an asynchronous call (see the contracts above).
  template <class Response>
  using Done = absl::AnyInvocable<void(absl::StatusOr<Response>)>;

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
  // The asynchronous faces of WaitProcess, ReadStdout, ReadStderr and WriteStdin.
  virtual void WaitProcessAsync(const ::grpc::WaitProcessRequest& request,
                                Done<::grpc::WaitProcessResponse> done) = 0;
  virtual void ReadStdoutAsync(const ::grpc::ReadStreamRequest& request,
                               Done<::grpc::ReadStreamResponse> done) = 0;
  virtual void ReadStderrAsync(const ::grpc::ReadStreamRequest& request,
                               Done<::grpc::ReadStreamResponse> done) = 0;
  virtual void WriteStdinAsync(const ::grpc::WriteStreamRequest& request,
                               Done<::grpc::WriteStreamResponse> done) = 0;
  virtual absl::Status CloseStdin(const ::grpc::CloseStdinRequest& request) = 0;
  virtual absl::Status TtyWinResize(const ::grpc::TtyWinResizeRequest& request) = 0;

  // Closes the connection: pending and later calls fail UNAVAILABLE. Idempotent.
  virtual void Close() = 0;
};

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_AGENT_AGENT_CLIENT_H_
