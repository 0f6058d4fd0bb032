#include "src/libs/trace/traceparent.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace kata::trace {
namespace {

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

absl::Status Invalid(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("traceparent \"", absl::CHexEscape(text.substr(0, 80)), "\": ", why));
}

}  // namespace

std::string FormatTraceparent(const SpanContext& context) {
  if (!context.IsValid()) return "";
  return absl::StrCat("00-", ToHex(context.trace_id), "-", ToHex(context.span_id), "-",
                      context.sampled ? "01" : "00");
}

absl::StatusOr<SpanContext> ParseTraceparent(absl::string_view text) {
  if (text.size() < 55) return Invalid(text, "shorter than 55 characters");
  if (text[2] != '-' || text[35] != '-' || text[52] != '-') {
    return Invalid(text, "not version-traceid-spanid-flags");
  }
  absl::string_view version = text.substr(0, 2), trace = text.substr(3, 32),
                    span = text.substr(36, 16), flags = text.substr(53, 2);
  if (!IsLowerHex(version) || !IsLowerHex(trace) || !IsLowerHex(span) || !IsLowerHex(flags)) {
    return Invalid(text, "not lowercase hex");
  }
  if (version == "ff") return Invalid(text, "version ff is invalid");
  if (version == "00" ? text.size() != 55 : (text.size() > 55 && text[55] != '-')) {
    return Invalid(text, "trailing characters");
  }
  SpanContext c;
  FromBytes(absl::HexStringToBytes(trace), &c.trace_id);
  FromBytes(absl::HexStringToBytes(span), &c.span_id);
  c.sampled = (absl::HexStringToBytes(flags)[0] & 1) != 0;
  if (!c.IsValid()) return Invalid(text, "all-zero trace id or span id");
  return c;
}

}  // namespace kata::trace
