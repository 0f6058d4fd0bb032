// Works around RapidJSON 1.1.0's correctly rounded number conversion
// (kParseFullPrecisionFlag), which reads a zero significand with an exponent wrongly: "0e98"
// comes out as a huge number (DiyFp::Normalize calls clz on 0, undefined behaviour) and
// "0e400" is refused as too big, while each is just zero.
#ifndef KATA_SRC_LIBS_OCI_INTERNAL_JSON_NUMBERS_H_
#define KATA_SRC_LIBS_OCI_INTERNAL_JSON_NUMBERS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace kata {
namespace oci {
namespace internal {

// When `json` holds, outside strings, a JSON number whose significand digits are all zero and
// that has an exponent ("0e98", "-0.00E+5"), sets *out to `json` with each such number
// rewritten in place as the same zero without the exponent, at the same length ("0.00",
// "-0.00000"), and returns true; else returns false and leaves *out alone. Same length, so
// parse error offsets still point into `json`; every other byte is unchanged. Text that is not
// JSON is scanned the same way (whatever the parser then says about it stands).
bool RewriteZerosWithExponent(absl::string_view json, std::string* out);

}  // namespace internal
}  // namespace oci
}  // namespace kata

#endif  // KATA_SRC_LIBS_OCI_INTERNAL_JSON_NUMBERS_H_
