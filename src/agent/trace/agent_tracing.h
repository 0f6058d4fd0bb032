// The agent's tracing (agent.trace, Kata's agent tracing; issue 14): a Tracer (service.name
// "kata-agent") and one thread that sends its finished spans to the host as frames of OTLP
// ExportTraceServiceRequest (src/libs/trace/frame.h) on `addr` (ParseAgentAddress's forms):
//   serial://NAME     the virtio-serial port of that name ("agent.trace"), opened non-blocking;
//                     spans wait while no host has the port open (poll says POLLHUP)
//   serial:///DEV     that device itself, the same way
//   vsock://CID:PORT  connected to (the host: vsock://2:10240, Kata's trace-forwarder port)
//   unix://PATH       connected to (host runs and tests)
//
//   KATA_ASSIGN_OR_RETURN(auto tracing, AgentTracing::Start(config.trace_addr, {}));
//   { trace::ScopedSpan s(tracing->tracer(), "grpc.AgentService/CreateContainer", parent); }
//   tracing->Stop(absl::Milliseconds(500));   // sends what is left, then the thread ends
//
// Contracts: the traced code never blocks on the host and the agent never dies for it: spans
// wait in the Tracer (at most Options::max_buffered; past that they are dropped and counted),
// every write is non-blocking, a frame the host does not take within Options::write_timeout
// (or before the host went away) is dropped and its spans counted in dropped(); an endpoint
// that cannot be opened is retried at the next flush (every Options::flush_interval). No
// thread, port or span exists unless Start was called (agent.trace off: nothing).
#ifndef KATA_SRC_AGENT_TRACE_AGENT_TRACING_H_
#define KATA_SRC_AGENT_TRACE_AGENT_TRACING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/agent/channel/address.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/trace/tracer.h"
#include "src/libs/ttrpc/address.h"

namespace kata {
namespace agent {

inline constexpr char kAgentServiceName[] = "kata-agent";

class AgentTracing {
 public:
  struct Options {
    absl::Duration flush_interval = absl::Milliseconds(100);
    absl::Duration write_timeout = absl::Milliseconds(200);
    size_t max_buffered = 4096;
    size_t spans_per_frame = 256;
    SysRoots roots;  // where serial://NAME is looked up
  };

  // INVALID_ARGUMENT for an address of another form; the endpoint itself is opened later.
  static absl::StatusOr<std::unique_ptr<AgentTracing>> Start(const std::string& addr,
                                                             Options options);
  ~AgentTracing();  // Stop(0)
  AgentTracing(const AgentTracing&) = delete;
  AgentTracing& operator=(const AgentTracing&) = delete;

  trace::Tracer& tracer() { return tracer_; }
  // Sends the spans finished so far, waiting for the host at most `grace`, and ends the
  // thread. Idempotent.
  void Stop(absl::Duration grace);

  uint64_t sent() const;     // spans written to the host
  uint64_t dropped() const;  // spans lost: buffer full, or the host not taking them

 private:
  AgentTracing(AgentAddress addr, ttrpc::Address socket, Options options);
  void Run();
  // One flush: opens the endpoint if needed, then writes frames until `deadline`.
  void Flush(absl::Time deadline);
  bool EnsureOpen();
  // Writes pending_ until done (true), the deadline, or the host goes (false).
  bool WritePending(absl::Time deadline);
  void Drop(uint64_t spans);
  // The host went away: the pending frame's spans are counted as dropped; a socket is closed
  // (dialed again on the next flush), a virtio-serial port kept.
  void LoseFrame();

  const AgentAddress addr_;
  const ttrpc::Address socket_;  // kListen: the parsed address to dial
  const Options options_;
  trace::Tracer tracer_;
  UniqueFd fd_;  // the sender thread's own
  // A virtio-serial port (kept across hosts), not a socket (dialed again).
  bool serial() const { return addr_.kind != AgentAddress::Kind::kListen; }
  std::string pending_;  // a frame being written (the sender thread's own)
  uint64_t pending_spans_ = 0;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration grace_ ABSL_GUARDED_BY(mu_);
  uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_TRACE_AGENT_TRACING_H_
