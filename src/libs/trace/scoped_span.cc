#include "src/libs/trace/scoped_span.h"

namespace kata::trace {
namespace {

thread_local ScopedSpan* current = nullptr;

}  // namespace

ScopedSpan::ScopedSpan(absl::string_view name) {
  if (current == nullptr) return;
  Span& parent = current->span();
  span_ = parent.tracer()->StartSpan(name, parent.context());
  Enter();
}

ScopedSpan::ScopedSpan(Tracer& tracer, absl::string_view name) {
  if (!tracer.enabled()) return;
  SpanContext parent;
  if (current != nullptr && current->span().tracer() == &tracer) parent = current->span().context();
  span_ = tracer.StartSpan(name, parent);
  Enter();
}

ScopedSpan::ScopedSpan(Tracer& tracer, absl::string_view name, const SpanContext& parent) {
  if (!tracer.enabled()) return;
  span_ = tracer.StartSpan(name, parent);
  Enter();
}

void ScopedSpan::Enter() {
  if (!span_.recording()) return;
  previous_ = current;
  current = this;
  entered_ = true;
}

ScopedSpan::~ScopedSpan() {
  span_.End();
  if (entered_) current = previous_;
}

SpanContext CurrentContext() {
  return current != nullptr ? current->span().context() : SpanContext();
}

Tracer* CurrentTracer() { return current != nullptr ? current->span().tracer() : nullptr; }

}  // namespace kata::trace
