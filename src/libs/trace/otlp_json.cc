#include "src/libs/trace/otlp_json.h"

#include <functional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace kata::trace {
namespace {

bool IsIdKey(absl::string_view key) {
  return key == "traceId" || key == "spanId" || key == "parentSpanId";
}

// Rewrites every id member of every object under `v` with `convert`; false if one fails.
bool RewriteIds(rapidjson::Value& v, rapidjson::Document::AllocatorType& alloc,
                const std::function<bool(absl::string_view, std::string*)>& convert) {
  if (v.IsArray()) {
    for (auto& e : v.GetArray()) {
      if (!RewriteIds(e, alloc, convert)) return false;
    }
  } else if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      absl::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (IsIdKey(key) && m.value.IsString()) {
        std::string out;
        if (!convert(absl::string_view(m.value.GetString(), m.value.GetStringLength()), &out)) {
          return false;
        }
        m.value.SetString(out.data(), static_cast<rapidjson::SizeType>(out.size()), alloc);
      } else if (!RewriteIds(m.value, alloc, convert)) {
        return false;
      }
    }
  }
  return true;
}

std::string Write(const rapidjson::Document& doc) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

bool Base64ToHex(absl::string_view in, std::string* out) {
  std::string bytes;
  if (!absl::Base64Unescape(in, &bytes)) return false;
  *out = absl::BytesToHexString(bytes);
  return true;
}

bool HexToBase64(absl::string_view in, std::string* out) {
  if (in.size() % 2 != 0) return false;
  for (char c : in) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  *out = absl::Base64Escape(absl::HexStringToBytes(in));
  return true;
}

}  // namespace

absl::StatusOr<std::string> ToOtlpJson(const ExportTraceServiceRequest& request) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_enums_as_ints = true;
  std::string proto_json;
  auto st = google::protobuf::util::MessageToJsonString(request, &proto_json, options);
  if (!st.ok()) return absl::InternalError(absl::StrCat("OTLP JSON: ", st.ToString()));
  rapidjson::Document doc;
  doc.Parse(proto_json.data(), proto_json.size());
  if (doc.HasParseError() || !RewriteIds(doc, doc.GetAllocator(), Base64ToHex)) {
    return absl::InternalError("OTLP JSON: protobuf's JSON could not be rewritten");
  }
  return Write(doc);
}

absl::StatusOr<ExportTraceServiceRequest> ParseOtlpJson(absl::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("OTLP JSON: ", rapidjson::GetParseError_En(doc.GetParseError()), " at offset ",
                     doc.GetErrorOffset()));
  }
  if (!RewriteIds(doc, doc.GetAllocator(), HexToBase64)) {
    return absl::InvalidArgumentError("OTLP JSON: a traceId/spanId/parentSpanId is not hex");
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  ExportTraceServiceRequest r;
  auto st = google::protobuf::util::JsonStringToMessage(Write(doc), &r, options);
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("OTLP JSON: ", st.ToString()));
  return r;
}

}  // namespace kata::trace
