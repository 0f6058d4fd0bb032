#include "src/libs/trace/otlp.h"

#include <variant>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace kata::trace {
namespace {

namespace otc = ::opentelemetry::proto::common::v1;
namespace ott = ::opentelemetry::proto::trace::v1;

void SetValue(const Attribute& a, otc::KeyValue* kv) {
  kv->set_key(a.key);
  otc::AnyValue* v = kv->mutable_value();
  if (const auto* s = std::get_if<std::string>(&a.value)) {
    v->set_string_value(*s);
  } else if (const auto* i = std::get_if<int64_t>(&a.value)) {
    v->set_int_value(*i);
  } else {
    v->set_bool_value(std::get<bool>(a.value));
  }
}

void ToSpan(const SpanData& d, ott::Span* s) {
  s->set_trace_id(std::string(AsBytes(d.context.trace_id)));
  s->set_span_id(std::string(AsBytes(d.context.span_id)));
  if (!IsZero(AsBytes(d.parent_span_id))) {
    s->set_parent_span_id(std::string(AsBytes(d.parent_span_id)));
  }
  s->set_name(d.name);
  s->set_kind(static_cast<ott::Span::SpanKind>(d.kind));
  s->set_start_time_unix_nano(static_cast<uint64_t>(d.start_unix_nanos));
  s->set_end_time_unix_nano(static_cast<uint64_t>(d.end_unix_nanos));
  for (const Attribute& a : d.attributes) SetValue(a, s->add_attributes());
  if (d.status != StatusCode::kUnset) {
    s->mutable_status()->set_code(static_cast<ott::Status::StatusCode>(d.status));
    s->mutable_status()->set_message(d.status_message);
  }
  s->set_flags(d.context.sampled ? 1 : 0);
}

absl::StatusOr<SpanData> FromSpan(const ott::Span& s) {
  SpanData d;
  if (!FromBytes(s.trace_id(), &d.context.trace_id) ||
      !FromBytes(s.span_id(), &d.context.span_id) ||
      (!s.parent_span_id().empty() && !FromBytes(s.parent_span_id(), &d.parent_span_id))) {
    return absl::InvalidArgumentError(absl::StrCat("OTLP span \"", absl::CHexEscape(s.name()),
                                                   "\": trace id, span id or parent id of the "
                                                   "wrong length"));
  }
  d.name = s.name();
  d.kind = static_cast<SpanKind>(s.kind());
  d.start_unix_nanos = static_cast<int64_t>(s.start_time_unix_nano());
  d.end_unix_nanos = static_cast<int64_t>(s.end_time_unix_nano());
  for (const otc::KeyValue& kv : s.attributes()) {
    const otc::AnyValue& v = kv.value();
    if (v.has_int_value()) {
      d.attributes.push_back({kv.key(), v.int_value()});
    } else if (v.has_bool_value()) {
      d.attributes.push_back({kv.key(), v.bool_value()});
    } else if (v.has_string_value()) {
      d.attributes.push_back({kv.key(), v.string_value()});
    }
  }
  d.status = static_cast<StatusCode>(s.status().code());
  d.status_message = s.status().message();
  return d;
}

std::string ServiceName(const ott::ResourceSpans& rs) {
  for (const otc::KeyValue& kv : rs.resource().attributes()) {
    if (kv.key() == "service.name") return kv.value().string_value();
  }
  return "";
}

}  // namespace

ExportTraceServiceRequest ToExportRequest(absl::string_view service_name,
                                          const std::vector<SpanData>& spans) {
  ExportTraceServiceRequest r;
  if (spans.empty()) return r;
  ott::ResourceSpans* rs = r.add_resource_spans();
  SetValue({"service.name", std::string(service_name)}, rs->mutable_resource()->add_attributes());
  ott::ScopeSpans* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name(kScopeName);
  for (const SpanData& d : spans) ToSpan(d, ss->add_spans());
  return r;
}

absl::StatusOr<std::vector<ServiceSpan>> FromExportRequest(const ExportTraceServiceRequest& r) {
  std::vector<ServiceSpan> out;
  for (const ott::ResourceSpans& rs : r.resource_spans()) {
    const std::string service = ServiceName(rs);
    for (const ott::ScopeSpans& ss : rs.scope_spans()) {
      for (const ott::Span& s : ss.spans()) {
        absl::StatusOr<SpanData> d = FromSpan(s);
        if (!d.ok()) return d.status();
        out.push_back({service, *std::move(d)});
      }
    }
  }
  return out;
}

}  // namespace kata::trace
