#include "src/runtime/agent/ttrpc_agent_client.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/empty.pb.h"
#include "src/libs/base/status_util.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/protocols/health.ttrpc.pb.h"
#include "src/libs/trace/scoped_span.h"
#include "src/libs/trace/traceparent.h"

namespace kata::runtime {
namespace {

class TtrpcAgentClient : public AgentClient {
 public:
  TtrpcAgentClient(std::unique_ptr<ttrpc::Client> client, const AgentClientOptions& options)
      : client_(std::move(client)),
        agent_(client_.get()),
        health_(client_.get()),
        options_(options) {}

  ~TtrpcAgentClient() override { client_->Close(); }

  absl::StatusOr<::grpc::HealthCheckResponse> Check() override {
    ::grpc::HealthCheckResponse response;
    absl::Status s = health_.Check(::grpc::CheckRequest(), &response, Bounded());
    if (!s.ok()) return AnnotateStatus(s, "agent Check");
    return response;
  }

  absl::StatusOr<::grpc::VersionCheckResponse> Version() override {
    ::grpc::VersionCheckResponse response;
    absl::Status s = health_.Version(::grpc::CheckRequest(), &response, Bounded());
    if (!s.ok()) return AnnotateStatus(s, "agent Version");
    return response;
  }

  absl::Status CreateSandbox(const ::grpc::CreateSandboxRequest& r) override {
    return Empty("CreateSandbox", &::grpc::AgentServiceTtrpc::Client::CreateSandbox, r);
  }
  absl::Status DestroySandbox(const ::grpc::DestroySandboxRequest& r) override {
    return Empty("DestroySandbox", &::grpc::AgentServiceTtrpc::Client::DestroySandbox, r);
  }
  absl::StatusOr<::grpc::GuestDetailsResponse> GetGuestDetails(
      const ::grpc::GuestDetailsRequest& r) override {
    return Typed<::grpc::GuestDetailsResponse>(
        "GetGuestDetails", &::grpc::AgentServiceTtrpc::Client::GetGuestDetails, r, Bounded());
  }
  absl::Status CreateContainer(const ::grpc::CreateContainerRequest& r) override {
    return Empty("CreateContainer", &::grpc::AgentServiceTtrpc::Client::CreateContainer, r,
                 Bounded(options_.create_container_timeout));
  }
  absl::StatusOr<::types::Interface> UpdateInterface(
      const ::grpc::UpdateInterfaceRequest& r) override {
    return Typed<::types::Interface>(
        "UpdateInterface", &::grpc::AgentServiceTtrpc::Client::UpdateInterface, r, Bounded());
  }
  absl::StatusOr<::grpc::Routes> UpdateRoutes(const ::grpc::UpdateRoutesRequest& r) override {
    return Typed<::grpc::Routes>("UpdateRoutes", &::grpc::AgentServiceTtrpc::Client::UpdateRoutes,
                                 r, Bounded());
  }
  absl::Status AddARPNeighbors(const ::grpc::AddARPNeighborsRequest& r) override {
    return Empty("AddARPNeighbors", &::grpc::AgentServiceTtrpc::Client::AddARPNeighbors, r);
  }
  absl::Status StartContainer(const ::grpc::StartContainerRequest& r) override {
    return Empty("StartContainer", &::grpc::AgentServiceTtrpc::Client::StartContainer, r);
  }
  absl::Status RemoveContainer(const ::grpc::RemoveContainerRequest& r) override {
    return Empty("RemoveContainer", &::grpc::AgentServiceTtrpc::Client::RemoveContainer, r);
  }
  absl::Status PauseContainer(const ::grpc::PauseContainerRequest& r) override {
    return Empty("PauseContainer", &::grpc::AgentServiceTtrpc::Client::PauseContainer, r);
  }
  absl::Status ResumeContainer(const ::grpc::ResumeContainerRequest& r) override {
    return Empty("ResumeContainer", &::grpc::AgentServiceTtrpc::Client::ResumeContainer, r);
  }
  absl::StatusOr<::grpc::Metrics> GetMetrics(const ::grpc::GetMetricsRequest& r) override {
    return Typed<::grpc::Metrics>("GetMetrics", &::grpc::AgentServiceTtrpc::Client::GetMetrics, r,
                                  Bounded());
  }
  absl::StatusOr<::grpc::StatsContainerResponse> StatsContainer(
      const ::grpc::StatsContainerRequest& r) override {
    return Typed<::grpc::StatsContainerResponse>(
        "StatsContainer", &::grpc::AgentServiceTtrpc::Client::StatsContainer, r, Bounded());
  }
  absl::Status UpdateContainer(const ::grpc::UpdateContainerRequest& r) override {
    return Empty("UpdateContainer", &::grpc::AgentServiceTtrpc::Client::UpdateContainer, r);
  }
  absl::StatusOr<::grpc::OOMEvent> GetOOMEvent(const ::grpc::GetOOMEventRequest& r) override {
    return Typed<::grpc::OOMEvent>("GetOOMEvent", &::grpc::AgentServiceTtrpc::Client::GetOOMEvent,
                                   r, {});
  }
  absl::Status ExecProcess(const ::grpc::ExecProcessRequest& r) override {
    return Empty("ExecProcess", &::grpc::AgentServiceTtrpc::Client::ExecProcess, r);
  }
  absl::Status SignalProcess(const ::grpc::SignalProcessRequest& r) override {
    return Empty("SignalProcess", &::grpc::AgentServiceTtrpc::Client::SignalProcess, r);
  }
  absl::StatusOr<::grpc::WaitProcessResponse> WaitProcess(
      const ::grpc::WaitProcessRequest& r) override {
    return Typed<::grpc::WaitProcessResponse>(
        "WaitProcess", &::grpc::AgentServiceTtrpc::Client::WaitProcess, r, {});
  }
  absl::StatusOr<::grpc::WriteStreamResponse> WriteStdin(
      const ::grpc::WriteStreamRequest& r) override {
    return Typed<::grpc::WriteStreamResponse>(
        "WriteStdin", &::grpc::AgentServiceTtrpc::Client::WriteStdin, r, Bounded());
  }
  absl::StatusOr<::grpc::ReadStreamResponse> ReadStdout(
      const ::grpc::ReadStreamRequest& r) override {
    return Typed<::grpc::ReadStreamResponse>("ReadStdout",
                                             &::grpc::AgentServiceTtrpc::Client::ReadStdout, r, {});
  }
  absl::StatusOr<::grpc::ReadStreamResponse> ReadStderr(
      const ::grpc::ReadStreamRequest& r) override {
    return Typed<::grpc::ReadStreamResponse>("ReadStderr",
                                             &::grpc::AgentServiceTtrpc::Client::ReadStderr, r, {});
  }
  void WaitProcessAsync(const ::grpc::WaitProcessRequest& r,
                        Done<::grpc::WaitProcessResponse> done) override {
    Async("WaitProcess", r, std::move(done));
  }
  void ReadStdoutAsync(const ::grpc::ReadStreamRequest& r,
                       Done<::grpc::ReadStreamResponse> done) override {
    Async("ReadStdout", r, std::move(done));
  }
  void ReadStderrAsync(const ::grpc::ReadStreamRequest& r,
                       Done<::grpc::ReadStreamResponse> done) override {
    Async("ReadStderr", r, std::move(done));
  }
  void WriteStdinAsync(const ::grpc::WriteStreamRequest& r,
                       Done<::grpc::WriteStreamResponse> done) override {
    Async("WriteStdin", r, std::move(done), Bounded());
  }
  absl::Status CloseStdin(const ::grpc::CloseStdinRequest& r) override {
    return Empty("CloseStdin", &::grpc::AgentServiceTtrpc::Client::CloseStdin, r);
  }
  absl::Status TtyWinResize(const ::grpc::TtyWinResizeRequest& r) override {
    return Empty("TtyWinResize", &::grpc::AgentServiceTtrpc::Client::TtyWinResize, r);
  }

  void Close() override { client_->Close(); }

 private:
  ttrpc::CallOptions Bounded(absl::Duration d = absl::ZeroDuration()) const {
    ttrpc::CallOptions o;
    o.timeout = d == absl::ZeroDuration() ? options_.call_timeout : d;
    return o;
  }

  template <class Req>
  using EmptyMethod = ::absl::Status (::grpc::AgentServiceTtrpc::Client::*)(
      const Req&, ::google::protobuf::Empty*, const ttrpc::CallOptions&) const;

  // On a traced thread (a current span: src/libs/trace/scoped_span.h) each call is a client
  // span "agent.<rpc>" whose context the agent gets in the request's traceparent metadata;
  // elsewhere, and with tracing off, nothing is added.
  static void Trace(trace::ScopedSpan& span, ttrpc::CallOptions* options) {
    if (!span.span().recording()) return;
    span->SetKind(trace::SpanKind::kClient);
    options->metadata.emplace_back(trace::kTraceparentKey,
                                   trace::FormatTraceparent(span->context()));
  }
  static std::string SpanName(const char* name) {
    return trace::CurrentTracer() != nullptr ? absl::StrCat("agent.", name) : std::string();
  }

  template <class Req>
  absl::Status Empty(const char* name, EmptyMethod<Req> method, const Req& request,
                     std::optional<ttrpc::CallOptions> options = std::nullopt) {
    ::google::protobuf::Empty response;
    trace::ScopedSpan span(SpanName(name));
    ttrpc::CallOptions call = options ? *std::move(options) : Bounded();
    Trace(span, &call);
    absl::Status s = (agent_.*method)(request, &response, call);
    span->SetError(s);
    return AnnotateStatus(s, absl::StrCat("agent ", name));
  }

  template <class Resp, class Req>
  absl::StatusOr<Resp> Typed(const char* name,
                             ::absl::Status (::grpc::AgentServiceTtrpc::Client::*method)(
                                 const Req&, Resp*, const ttrpc::CallOptions&) const,
                             const Req& request, const ttrpc::CallOptions& options) {
    Resp response;
    trace::ScopedSpan span(SpanName(name));
    ttrpc::CallOptions call = options;
    Trace(span, &call);
    absl::Status s = (agent_.*method)(request, &response, call);
    span->SetError(s);
    if (!s.ok()) return AnnotateStatus(s, absl::StrCat("agent ", name));
    return response;
  }

  // An asynchronous grpc.AgentService call (unbounded unless `options` say); `done` runs once
  // (agent_client.h), with errors named as the blocking calls name them.
  template <class Resp, class Req>
  void Async(const char* name, const Req& request, Done<Resp> done,
             const ttrpc::CallOptions& options = {}) {
    // Shared: CallAsync consumes its callback even when the call cannot start.
    auto shared = std::make_shared<Done<Resp>>(std::move(done));
    absl::StatusOr<ttrpc::Client::CallId> started = client_->CallAsync<Resp>(
        ::grpc::AgentServiceTtrpc::kServiceName, name, request, options,
        [shared, name](absl::StatusOr<Resp> got) {
          if (!got.ok()) got = AnnotateStatus(got.status(), absl::StrCat("agent ", name));
          (*shared)(std::move(got));
        });
    if (!started.ok()) (*shared)(AnnotateStatus(started.status(), absl::StrCat("agent ", name)));
  }

  std::unique_ptr<ttrpc::Client> client_;
  ::grpc::AgentServiceTtrpc::Client agent_;
  ::grpc::HealthTtrpc::Client health_;
  const AgentClientOptions options_;
};

}  // namespace

std::unique_ptr<AgentClient> NewTtrpcAgentClient(std::unique_ptr<ttrpc::Client> client,
                                                 const AgentClientOptions& options) {
  return std::make_unique<TtrpcAgentClient>(std::move(client), options);
}

std::string AgentAddress(const hypervisor::AgentChannel& channel) {
  if (channel.kind == hypervisor::AgentChannelKind::kVsock) {
    return absl::StrCat("vsock://", channel.vsock_cid, ":", channel.vsock_port);
  }
  return absl::StrCat("unix://", channel.socket_path);
}

absl::StatusOr<std::unique_ptr<AgentClient>> DialAgent(absl::string_view address,
                                                       const AgentClientOptions& options) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.dial_timeout;
  absl::Status last = absl::DeadlineExceededError("no attempt");
  while (absl::Now() < deadline) {
    absl::StatusOr<std::unique_ptr<ttrpc::Client>> client =
        ttrpc::Client::Dial(address, deadline - absl::Now());
    if (!client.ok()) {
      last = client.status();
      // A socket not there yet or refusing: retry until the deadline; anything else is final.
      if (!absl::IsNotFound(last) && !absl::IsUnavailable(last)) break;
      absl::SleepFor(absl::Milliseconds(20));
      continue;
    }
    ::grpc::HealthTtrpc::Client health(client->get());
    // One Check per connection, bounded by the whole deadline: on virtio-serial the request
    // waits in the VMM until the guest opens its port.
    while (absl::Now() < deadline) {
      ::grpc::HealthCheckResponse response;
      ttrpc::CallOptions call;
      call.timeout = deadline - absl::Now();
      absl::Status s = health.Check(::grpc::CheckRequest(), &response, call);
      if (s.ok() && response.status() == ::grpc::HealthCheckResponse::SERVING) {
        return NewTtrpcAgentClient(*std::move(client), options);
      }
      if (s.ok()) {
        last = absl::UnavailableError("Health.Check: not serving");
        absl::SleepFor(absl::Milliseconds(50));
        continue;
      }
      last = s;
      break;
    }
    if (absl::IsUnavailable(last)) {
      // The connection broke (a VMM socket that accepted before the guest was there, an
      // agent restarting): dial again after a short pause.
      absl::SleepFor(absl::Milliseconds(50));
      continue;
    }
    if (!absl::IsDeadlineExceeded(last)) break;
  }
  return absl::Status(
      absl::IsDeadlineExceeded(last) || absl::IsUnavailable(last) || absl::IsNotFound(last)
          ? absl::StatusCode::kDeadlineExceeded
          : last.code(),
      absl::StrCat("agent ", address, ": not ready after ",
                   absl::FormatDuration(absl::Trunc(absl::Now() - start, absl::Milliseconds(1))),
                   ": ", last.message()));
}

}  // namespace kata::runtime
