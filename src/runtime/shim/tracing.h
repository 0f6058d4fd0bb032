// The shim daemon's tracing (issue 14; Kata's [runtime] enable_tracing): with tracing on in
// the configuration the sandbox uses (config/resolve.h, as the sandbox factory resolves it),
// a Tracer (service.name "kata-shim") whose root span "containerd-shim-kata-v2" starts when
// `shim start` began (its time comes in KATA_SHIM_START_NS) and ends when the daemon is done;
// its first child "shim.start" covers `shim start` until the daemon ran. TaskService's rpcs
// are children of the root; everything below them is traced through the per-thread current
// span (src/libs/trace/scoped_span.h).
//
// The agent's spans (Kata's [agent.kata] enable_tracing): WatchAgent reads them from the VM's
// trace socket (agent_trace.h) into AddForeign, at most kMaxForeignSpans in all (the guest is
// not trusted). Finish waits (up to kAgentTraceDrain) for that stream to end (the VM is gone
// by then), aligns the agent's clock with ours (src/libs/trace/align.h: the guest's clock may
// be seconds off) and exports them with ours, under the same trace ids.
//
// Contracts: with tracing off (the default) or a configuration that cannot be read (the
// sandbox's Create reports that), tracer() is null and nothing else happens. An exporter that
// cannot be made (bad tracing_endpoint) is logged and tracing is off. Finish ends the root
// span and exports every finished span, the agent's (AddForeign) with ours, in one request
// per service; failures are logged, never fatal. Thread-safe.
#ifndef KATA_SRC_RUNTIME_SHIM_TRACING_H_
#define KATA_SRC_RUNTIME_SHIM_TRACING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/trace/exporter.h"
#include "src/libs/trace/otlp.h"
#include "src/libs/trace/span.h"
#include "src/libs/trace/tracer.h"
#include "src/runtime/shim/agent_trace.h"

namespace kata {
namespace shim {

inline constexpr char kShimStartEnv[] = "KATA_SHIM_START_NS";
inline constexpr char kShimServiceName[] = "kata-shim";
inline constexpr size_t kMaxForeignSpans = 100000;
inline constexpr absl::Duration kAgentTraceDrain = absl::Seconds(2);

class ShimTracing {
 public:
  // `daemon_start_unix_nanos`: when the daemon's main began.
  static std::unique_ptr<ShimTracing> Start(const std::string& sandbox_id,
                                            int64_t daemon_start_unix_nanos);
  ~ShimTracing();

  // Null when tracing is off.
  trace::Tracer* tracer() { return tracer_.get(); }
  trace::SpanContext root() const { return root_.context(); }

  // Spans another process made (the agent's), exported with ours by Finish.
  void AddForeign(trace::ExportTraceServiceRequest request);
  // Reads the agent's spans from the unix socket `path` (a VM's kAgentTraceSocketName) until
  // Finish; nothing when tracing is off; a socket that cannot be read is logged.
  void WatchAgent(const std::string& path);
  void Finish();

 private:
  ShimTracing() = default;
  std::unique_ptr<trace::Tracer> tracer_;
  std::unique_ptr<trace::Exporter> exporter_;
  trace::Span root_;
  absl::Mutex reader_mu_;  // WatchAgent and Finish; never held by the reader's sink
  std::unique_ptr<AgentTraceReader> reader_ ABSL_GUARDED_BY(reader_mu_);
  absl::Mutex mu_;
  std::vector<trace::ExportTraceServiceRequest> foreign_ ABSL_GUARDED_BY(mu_);
  size_t foreign_spans_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t foreign_dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_TRACING_H_
