// Where finished spans go: an OTLP exporter made from an endpoint string (the configuration's
// tracing endpoint). Host-side only.
//
//   "file:///var/log/kata/trace.jsonl"   append one ExportTraceServiceRequest as OTLP/JSON per
//                                        line (O_APPEND, one write per batch: lines of several
//                                        processes never interleave)
//   "http://127.0.0.1:4318/v1/traces"    OTLP/HTTP: POST the request to that URL (path
//   "http://collector:4318"              /v1/traces when none is given), Content-Type
//                                        application/x-protobuf, or application/json with
//                                        protocol "http/json" (OTEL_EXPORTER_OTLP_PROTOCOL's
//                                        names; "http/protobuf" is the default)
//
// Contracts: MakeExporter refuses (INVALID_ARGUMENT, quoting it) any other endpoint, an https
// URL (no TLS here), a relative file path, or an unknown protocol. Export sends one request
// (an empty one is not sent) within `timeout`; an HTTP answer other than 2xx is UNAVAILABLE
// with the status line; nothing is retried. Thread-safe.
#ifndef KATA_SRC_LIBS_TRACE_EXPORTER_H_
#define KATA_SRC_LIBS_TRACE_EXPORTER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/libs/trace/otlp.h"

namespace kata::trace {

class Exporter {
 public:
  virtual ~Exporter() = default;
  virtual absl::Status Export(const ExportTraceServiceRequest& request) = 0;
};

absl::StatusOr<std::unique_ptr<Exporter>> MakeExporter(absl::string_view endpoint,
                                                       absl::string_view protocol = "",
                                                       absl::Duration timeout = absl::Seconds(5));

}  // namespace kata::trace

#endif  // KATA_SRC_LIBS_TRACE_EXPORTER_H_
