// The identity of a span as OpenTelemetry and W3C Trace Context define it: a 16-byte trace id
// shared by every span of one trace and an 8-byte span id, both random. A context whose trace id
// or span id is all zeroes is invalid: "no parent" (a new trace starts) and what a disabled span
// reports. Ids print as lowercase hex, OTLP/JSON's and traceparent's form.
#ifndef KATA_SRC_LIBS_TRACE_SPAN_CONTEXT_H_
#define KATA_SRC_LIBS_TRACE_SPAN_CONTEXT_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace kata::trace {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};
  bool sampled = true;

  bool IsValid() const;
  friend bool operator==(const SpanContext& a, const SpanContext& b) {
    return a.trace_id == b.trace_id && a.span_id == b.span_id && a.sampled == b.sampled;
  }
};

// Random ids (never all zeroes), from a per-thread generator seeded by the kernel.
TraceId NewTraceId();
SpanId NewSpanId();

bool IsZero(absl::string_view bytes);
std::string ToHex(absl::string_view bytes);
inline std::string ToHex(const TraceId& id) {
  return ToHex(absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}
inline std::string ToHex(const SpanId& id) {
  return ToHex(absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}
inline absl::string_view AsBytes(const TraceId& id) {
  return absl::string_view(reinterpret_cast<const char*>(id.data()), id.size());
}
inline absl::string_view AsBytes(const SpanId& id) {
  return absl::string_view(reinterpret_cast<const char*>(id.data()), id.size());
}
// `out` from exactly out.size() bytes; false (out untouched) on another length.
bool FromBytes(absl::string_view bytes, TraceId* out);
bool FromBytes(absl::string_view bytes, SpanId* out);

}  // namespace kata::trace

#endif  // KATA_SRC_LIBS_TRACE_SPAN_CONTEXT_H_
