// OTLP/JSON (the OTLP specification's "JSON Protobuf Encoding") of an ExportTraceServiceRequest:
// protobuf's proto3 JSON mapping (lowerCamelCase names, 64-bit integers as decimal strings)
// with OTLP's two differences: traceId, spanId and parentSpanId are lowercase hex, not base64,
// and enums are integers. Host-side only (needs the full protobuf runtime).
//
// Contracts: ToOtlpJson writes one line (no newline inside, none at the end). ParseOtlpJson
// takes that form (enum names and unknown fields accepted, as the spec asks of receivers) and
// refuses malformed JSON or ids that are not hex with INVALID_ARGUMENT.
#ifndef KATA_SRC_LIBS_TRACE_OTLP_JSON_H_
#define KATA_SRC_LIBS_TRACE_OTLP_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/trace/otlp.h"

namespace kata::trace {

absl::StatusOr<std::string> ToOtlpJson(const ExportTraceServiceRequest& request);
absl::StatusOr<ExportTraceServiceRequest> ParseOtlpJson(absl::string_view json);

}  // namespace kata::trace

#endif  // KATA_SRC_LIBS_TRACE_OTLP_JSON_H_
