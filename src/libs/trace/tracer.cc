#include "src/libs/trace/tracer.h"

#include <memory>
#include <utility>

#include "absl/time/clock.h"

namespace kata::trace {

Span Tracer::StartSpan(absl::string_view name, const SpanContext& parent) {
  if (!options_.enabled) return Span();
  return StartSpanAt(name, parent, absl::GetCurrentTimeNanos());
}

Span Tracer::StartSpanAt(absl::string_view name, const SpanContext& parent,
                         int64_t start_unix_nanos) {
  if (!options_.enabled) return Span();
  auto data = std::make_unique<SpanData>();
  data->start_unix_nanos = start_unix_nanos;
  data->name = std::string(name);
  if (parent.IsValid()) {
    data->context.trace_id = parent.trace_id;
    data->context.sampled = parent.sampled;
    data->parent_span_id = parent.span_id;
  } else {
    data->context.trace_id = NewTraceId();
  }
  data->context.span_id = NewSpanId();
  return Span(this, std::move(data));
}

void Tracer::Record(SpanData data) {
  absl::MutexLock lock(&mu_);
  if (finished_.size() >= options_.max_buffered) {
    ++dropped_;
    return;
  }
  finished_.push_back(std::move(data));
}

std::vector<SpanData> Tracer::TakeFinished() {
  absl::MutexLock lock(&mu_);
  return std::exchange(finished_, {});
}

uint64_t Tracer::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

}  // namespace kata::trace
