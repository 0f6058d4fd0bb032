// Works around RapidJSON 1.1.0's correctly rounded number conversion
// (kParseFullPrecisionFlag), which reads a zero significand with an exponent wrongly: "0e98"
// comes out as a huge number (DiyFp::Normalize calls clz on 0, undefined behaviour) and
// "0e400" is refused as too big, while each is just zero.
#ifndef KATA_SRC_LIBS_OCI_INTERNAL_JSON_NUMBERS_H_
#define KATA_SRC_LIBS_OCI_INTERNAL_JSON_NUMBERS_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace kata {
namespace oci {
namespace internal {

// When `json` holds, outside strings, a JSON number whose significand digits are all zero and
// that has an exponent ("0e98", "-0.00E+5"), sets *out to `json` with each such number
// rewritten in place as the same zero without the exponent, at the same length ("0.00",
// "-0.00000"); *out stays empty when there is none. Same length, so parse error offsets still
// point into `json`; every other byte is unchanged. Returns npos, or (rewriting nothing) the
// offset just after such a number when the byte there cannot follow a JSON value (the text is
// not JSON: "0e5e5"): the parser must not see that number, and a rewrite there could join it
// with what follows into valid JSON.
size_t RewriteZerosWithExponent(absl::string_view json, std::string* out);

}  // namespace internal
}  // namespace oci
}  // namespace kata

#endif  // KATA_SRC_LIBS_OCI_INTERNAL_JSON_NUMBERS_H_
