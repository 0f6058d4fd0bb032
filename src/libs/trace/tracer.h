// The Tracer: the switch and the collector of one process's finished spans.
//
//   Tracer tracer({.enabled = config.enable_tracing, .service_name = "kata-shim"});
//   Span root = tracer.StartSpan("shim", SpanContext());            // a new trace
//   Span child = tracer.StartSpan("vm.launch", root.context());     // explicit parent
//   ...
//   std::vector<SpanData> done = tracer.TakeFinished();             // then export them
//
// Contracts: a disabled Tracer hands out no-op spans (no clock read, no allocation, nothing
// recorded): the cost of tracing off is one branch per span. StartSpan with an invalid parent
// starts a new trace (random trace id); with a valid one (local or remote, e.g. from a
// traceparent) the span joins the parent's trace. Finished spans are kept in end order until
// TakeFinished; at most max_buffered are kept (later ones are counted in dropped(), never
// blocking the traced code). All methods are thread-safe.
#ifndef KATA_SRC_LIBS_TRACE_TRACER_H_
#define KATA_SRC_LIBS_TRACE_TRACER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "src/libs/trace/span.h"
#include "src/libs/trace/span_context.h"

namespace kata::trace {

class Tracer {
 public:
  struct Options {
    bool enabled = false;
    // OTLP's resource attribute service.name of every span of this Tracer.
    std::string service_name;
    size_t max_buffered = 10000;
  };
  explicit Tracer(Options options) : options_(std::move(options)) {}
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  bool enabled() const { return options_.enabled; }
  const std::string& service_name() const { return options_.service_name; }

  Span StartSpan(absl::string_view name, const SpanContext& parent);
  // The same, begun at `start_unix_nanos` (a step measured before the Tracer existed, or in
  // another process): e.g. the shim's root span starts when `shim start` did.
  Span StartSpanAt(absl::string_view name, const SpanContext& parent, int64_t start_unix_nanos);

  // The finished spans since the last call, oldest end first.
  std::vector<SpanData> TakeFinished();
  uint64_t dropped() const;

 private:
  friend class Span;
  void Record(SpanData data);

  const Options options_;
  mutable absl::Mutex mu_;
  std::vector<SpanData> finished_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kata::trace

#endif  // KATA_SRC_LIBS_TRACE_TRACER_H_
