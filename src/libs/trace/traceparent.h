// W3C Trace Context's `traceparent` text form of a SpanContext, how kata-cpp carries a span's
// context from the shim to the agent in ttRPC request metadata (key kTraceparentKey):
//   "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"  (flags bit 0: sampled)
// Parsing follows the spec: version 00 has exactly 55 characters; a higher version may add
// "-..." after the flags; version ff, upper-case hex, all-zero ids or a wrong length are
// INVALID_ARGUMENT (the receiver then starts a new trace, as the spec says).
#ifndef KATA_SRC_LIBS_TRACE_TRACEPARENT_H_
#define KATA_SRC_LIBS_TRACE_TRACEPARENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/trace/span_context.h"

namespace kata::trace {

inline constexpr char kTraceparentKey[] = "traceparent";

// "" for an invalid context (nothing to carry).
std::string FormatTraceparent(const SpanContext& context);
absl::StatusOr<SpanContext> ParseTraceparent(absl::string_view text);

}  // namespace kata::trace

#endif  // KATA_SRC_LIBS_TRACE_TRACEPARENT_H_
