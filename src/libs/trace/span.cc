#include "src/libs/trace/span.h"

#include <utility>

#include "absl/time/clock.h"
#include "src/libs/trace/tracer.h"

namespace kata::trace {

Span::Span(Span&& other) noexcept
    : tracer_(std::exchange(other.tracer_, nullptr)), data_(std::move(other.data_)) {}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    End();
    tracer_ = std::exchange(other.tracer_, nullptr);
    data_ = std::move(other.data_);
  }
  return *this;
}

void Span::SetString(absl::string_view key, absl::string_view value) {
  if (data_) data_->attributes.push_back({std::string(key), std::string(value)});
}

void Span::SetInt(absl::string_view key, int64_t value) {
  if (data_) data_->attributes.push_back({std::string(key), value});
}

void Span::SetBool(absl::string_view key, bool value) {
  if (data_) data_->attributes.push_back({std::string(key), value});
}

void Span::SetError(const absl::Status& status) {
  if (!data_ || status.ok()) return;
  data_->status = StatusCode::kError;
  data_->status_message = std::string(status.ToString());
}

void Span::SetKind(SpanKind kind) {
  if (data_) data_->kind = kind;
}

void Span::End() {
  if (!data_) return;
  EndAt(absl::GetCurrentTimeNanos());
}

void Span::EndAt(int64_t end_unix_nanos) {
  if (!data_) return;
  data_->end_unix_nanos = end_unix_nanos;
  tracer_->Record(std::move(*data_));
  data_.reset();
}

}  // namespace kata::trace
