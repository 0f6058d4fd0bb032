// SpanData to and from OTLP's protobuf messages (src/libs/protocols/opentelemetry): the one
// ExportTraceServiceRequest that carries a batch of finished spans, what OTLP/HTTP POSTs, what
// the agent sends the host, and what the file exporter writes as JSON.
//
// Contracts: ToExportRequest makes one ResourceSpans (resource attribute service.name) with one
// ScopeSpans (scope "kata-cpp") holding `spans` in order; an empty `spans` gives an empty
// request. FromExportRequest flattens every ResourceSpans/ScopeSpans into SpanData plus its
// service name, and refuses (INVALID_ARGUMENT, naming the span) ids of the wrong length.
#ifndef KATA_SRC_LIBS_TRACE_OTLP_H_
#define KATA_SRC_LIBS_TRACE_OTLP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/protocols/opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/libs/trace/span.h"

namespace kata::trace {

using ExportTraceServiceRequest =
    ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

inline constexpr char kScopeName[] = "kata-cpp";

ExportTraceServiceRequest ToExportRequest(absl::string_view service_name,
                                          const std::vector<SpanData>& spans);

struct ServiceSpan {
  std::string service_name;
  SpanData span;
};
absl::StatusOr<std::vector<ServiceSpan>> FromExportRequest(const ExportTraceServiceRequest& r);

}  // namespace kata::trace

#endif  // KATA_SRC_LIBS_TRACE_OTLP_H_
