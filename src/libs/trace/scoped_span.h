// ScopedSpan: a span that lives for a C++ scope and is, meanwhile, its thread's current span.
//
//   ScopedSpan create(tracer, "CreateContainer");   // child of this thread's current span
//   ...                                            // (or a new trace's root if none)
//   { ScopedSpan dial("agent.dial"); ... }          // child of `create`, same Tracer
//
// The per-thread current span is the only implicit context: ScopedSpan(name) is a child of the
// thread's current span and uses its Tracer; with no current span (tracing off, or a thread
// nobody started a span on) it is a no-op, so deep code needs no Tracer to be traced and costs
// one thread-local read when tracing is off. For work on another thread pass the parent
// explicitly (CurrentContext(), then ScopedSpan(tracer, name, parent)). ScopedSpans on one
// thread must end in reverse order of creation (scopes guarantee it); not movable.
#ifndef KATA_SRC_LIBS_TRACE_SCOPED_SPAN_H_
#define KATA_SRC_LIBS_TRACE_SCOPED_SPAN_H_

#include "absl/strings/string_view.h"
#include "src/libs/trace/span.h"
#include "src/libs/trace/span_context.h"
#include "src/libs/trace/tracer.h"

namespace kata::trace {

class ScopedSpan {
 public:
  // A child of the thread's current span (no-op without one).
  explicit ScopedSpan(absl::string_view name);
  // A child of the thread's current span if it belongs to `tracer`, else a new trace's root.
  ScopedSpan(Tracer& tracer, absl::string_view name);
  // A child of `parent` (a new trace if it is invalid).
  ScopedSpan(Tracer& tracer, absl::string_view name, const SpanContext& parent);
  ~ScopedSpan();
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

  Span& span() { return span_; }
  Span* operator->() { return &span_; }

 private:
  void Enter();
  Span span_;
  ScopedSpan* previous_ = nullptr;
  bool entered_ = false;
};

// The thread's current span's context (invalid without one).
SpanContext CurrentContext();
// The thread's current span's Tracer (nullptr without one).
Tracer* CurrentTracer();

}  // namespace kata::trace

#endif  // KATA_SRC_LIBS_TRACE_SCOPED_SPAN_H_
