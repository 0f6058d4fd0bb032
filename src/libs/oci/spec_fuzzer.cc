// libFuzzer target for config.json, the bundle file a container's owner writes: ParseSpec on
// untrusted bytes, then the round-trip contract of spec_json.h for whatever parses:
//   - SerializeSpec's output (pretty and compact) parses again, and serializing that gives the
//     same text (a fixed point after one trip), so nothing is lost or changed in transit;
//   - ValidateSpec runs on it (errors are fine, crashes are not).
// A broken contract aborts, with both texts on stderr. Built by `tools/fuzz/run.sh oci_spec`;
// the corpus (testdata/fuzz/spec) is replayed by :spec_fuzzer_regression under `bazel test`.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/oci/spec_json.h"

namespace {

void Fail(const char* what, const std::string& a, const std::string& b) {
  std::fprintf(stderr, "spec_fuzzer: %s\n--- first:\n%s\n--- second:\n%s\n", what, a.c_str(),
               b.c_str());
  std::abort();
}

// `text` came out of SerializeSpec: it must parse, and serialize back to `expected`.
void CheckReparses(const std::string& text, const std::string& expected) {
  absl::StatusOr<kata::oci::Spec> again = kata::oci::ParseSpec(text);
  if (!again.ok()) Fail(std::string(again.status().ToString()).c_str(), text, "");
  const std::string back = kata::oci::SerializeSpec(*again);
  if (back != expected) Fail("serialized spec changed on a second round trip", expected, back);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<kata::oci::Spec> spec = kata::oci::ParseSpec(in);
  if (!spec.ok()) return 0;
  (void)kata::oci::ValidateSpec(*spec);
  const std::string pretty = kata::oci::SerializeSpec(*spec);
  CheckReparses(pretty, pretty);
  kata::oci::SerializeOptions compact;
  compact.pretty = false;
  CheckReparses(kata::oci::SerializeSpec(*spec, compact), pretty);
  return 0;
}
