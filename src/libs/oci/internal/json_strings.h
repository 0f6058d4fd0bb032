// Checks that every string of a parsed JSON document (member names and string values) is
// valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), so a
// config with invalid text is refused with the JSON path of the bad string rather than
// carried into the guest.
#ifndef KATA_SRC_LIBS_OCI_INTERNAL_JSON_STRINGS_H_
#define KATA_SRC_LIBS_OCI_INTERNAL_JSON_STRINGS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace kata {
namespace oci {
namespace internal {

// True when `s` is well-formed UTF-8 (ASCII runs are checked 8 bytes at a time).
bool IsValidUtf8(absl::string_view s);

// True when the JSON text `json` may hold a low-surrogate escape (\uDC00-\uDFFF): RapidJSON
// 1.1.0 decodes one without a high surrogate before it to bytes that are not UTF-8, so valid
// UTF-8 text can still give a document with an invalid string. Cheap; may say true for an
// escape that is part of a pair (or not an escape at all), then the strings are checked.
bool MayHoldLowSurrogateEscape(absl::string_view json);

// OK, or INVALID_ARGUMENT "<path>: invalid UTF-8 in a string" ("<path>: invalid UTF-8 in a
// member name") for the first bad string found. Iterative: any nesting depth is safe.
absl::Status CheckUtf8Strings(const rapidjson::Value& document);

}  // namespace internal
}  // namespace oci
}  // namespace kata

#endif  // KATA_SRC_LIBS_OCI_INTERNAL_JSON_STRINGS_H_
