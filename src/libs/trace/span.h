// A span: one timed operation of a trace. SpanData is the finished record (what exporters and
// the OTLP conversion see); Span is the live handle a Tracer hands out.
//
//   Span s = tracer.StartSpan("qemu.launch", parent);
//   s.SetString("qemu.binary", path);
//   if (!status.ok()) s.SetError(status);
//   s.End();   // or let it go out of scope
//
// Contracts: a default-constructed Span, or one from a disabled Tracer, records nothing and
// every call on it is a no-op that allocates nothing (context() is invalid). End is
// idempotent; the destructor ends a live span; a moved-from Span is a no-op span. A Span is
// used by one thread at a time; ending it hands the SpanData to its Tracer (thread-safe). The
// Tracer must outlive its spans.
#ifndef KATA_SRC_LIBS_TRACE_SPAN_H_
#define KATA_SRC_LIBS_TRACE_SPAN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "src/libs/trace/span_context.h"

namespace kata::trace {

class Tracer;

// OTLP's Span.SpanKind and Status.StatusCode values.
enum class SpanKind { kUnspecified = 0, kInternal = 1, kServer = 2, kClient = 3 };
enum class StatusCode { kUnset = 0, kOk = 1, kError = 2 };

struct Attribute {
  std::string key;
  std::variant<std::string, int64_t, bool> value;
};

struct SpanData {
  SpanContext context;
  SpanId parent_span_id{};  // all zeroes: a root span
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  int64_t start_unix_nanos = 0;
  int64_t end_unix_nanos = 0;
  std::vector<Attribute> attributes;
  StatusCode status = StatusCode::kUnset;
  std::string status_message;
};

class Span {
 public:
  Span() = default;
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span() { End(); }

  bool recording() const { return data_ != nullptr; }
  // Invalid for a no-op span.
  SpanContext context() const { return data_ ? data_->context : SpanContext(); }
  Tracer* tracer() const { return tracer_; }

  void SetString(absl::string_view key, absl::string_view value);
  void SetInt(absl::string_view key, int64_t value);
  void SetBool(absl::string_view key, bool value);
  // STATUS_CODE_ERROR with the status' text; an OK status sets nothing.
  void SetError(const absl::Status& status);
  void SetKind(SpanKind kind);
  void End();
  // Ends it at `end_unix_nanos` (a step measured before the Tracer existed; see StartSpanAt).
  void EndAt(int64_t end_unix_nanos);

 private:
  friend class Tracer;
  Span(Tracer* tracer, std::unique_ptr<SpanData> data) : tracer_(tracer), data_(std::move(data)) {}

  Tracer* tracer_ = nullptr;
  std::unique_ptr<SpanData> data_;
};

}  // namespace kata::trace

#endif  // KATA_SRC_LIBS_TRACE_SPAN_H_
