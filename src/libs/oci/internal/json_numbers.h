// Parses JSON text into a RapidJSON document with numbers converted exactly. RapidJSON 1.1.0's
// default conversion is not correctly rounded (a double written out reads back as a
// neighbour, so a round trip changes it), and its full-precision one (kParseFullPrecisionFlag)
// is unsafe on hostile text: "0e98" or 28 zero decimals read as huge numbers (clz of 0,
// undefined behaviour) and "0.<400 zeros>1" indexes its power table out of bounds. Found by
// spec_fuzzer; see spec_json_test's ZeroWithAnExponentIsZero and friends.
#ifndef KATA_SRC_LIBS_OCI_INTERNAL_JSON_NUMBERS_H_
#define KATA_SRC_LIBS_OCI_INTERNAL_JSON_NUMBERS_H_

#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "rapidjson/error/error.h"

namespace kata {
namespace oci {
namespace internal {

// As doc->Parse<kParseIterativeFlag>(json) (iterative: any nesting depth is safe; nothing may
// follow the document), except numbers: integers that fit int64/uint64 stay integers, every
// other number is the correctly rounded double (strtod); one beyond the double range is
// kParseErrorNumberTooBig. Strings are taken as they are (UTF-8 is the caller's check).
// Returns the parse result (its offset is into `json`).
rapidjson::ParseResult ParseWithExactNumbers(absl::string_view json, rapidjson::Document* doc);

}  // namespace internal
}  // namespace oci
}  // namespace kata

#endif  // KATA_SRC_LIBS_OCI_INTERNAL_JSON_NUMBERS_H_
