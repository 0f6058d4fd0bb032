// Reading and writing an OCI runtime-spec `config.json` (the model in spec.h).
//
//   KATA_ASSIGN_OR_RETURN(oci::Spec spec, oci::LoadSpecFile(bundle + "/config.json"));
//   ...
//   KATA_RETURN_IF_ERROR(oci::SaveSpecFile(spec, bundle + "/config.json"));
//
// What callers may rely on:
// - Round trip: SerializeSpec(*ParseSpec(doc)) is the same JSON document as `doc` (member
//   order aside; maps come out sorted by key) for every document ParseSpec accepts, including
//   members the model does not know (kept verbatim) and every integer at its full range.
// - Bad input never crashes and never yields a partial Spec: the error is INVALID_ARGUMENT
//   and names where the problem is, as a JSON path and what was expected, e.g.
//     "linux.resources.devices[2].major: expected a signed 64-bit integer, got string \"8\""
//     "invalid JSON at line 3, column 14 (byte 57): Missing a comma or '}' after an object member"
//   Documents over kMaxSpecBytes or nested deeper than kMaxSpecDepth are refused
//   (RESOURCE_EXHAUSTED), so hostile input cannot exhaust memory or the stack.
// - A JSON `null` where an optional member may be is read as absent (as Go's encoding/json
//   does); a required member that is missing or null is an error. Duplicate keys are errors.
// - ParseSpec checks shape and types only. ValidateSpec adds the spec's semantic rules
//   (enumerations such as namespace and device types, absolute paths, ...).
#ifndef KATA_SRC_LIBS_OCI_SPEC_JSON_H_
#define KATA_SRC_LIBS_OCI_SPEC_JSON_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace oci {

// Largest config.json accepted (64 MiB; real ones are a few KB).
inline constexpr size_t kMaxSpecBytes = size_t{64} << 20;
// Deepest nesting of arrays/objects accepted anywhere in the document.
inline constexpr int kMaxSpecDepth = 64;

absl::StatusOr<Spec> ParseSpec(absl::string_view json);

struct SerializeOptions {
  // Indented, one member per line (as runc and containerd write config.json), or compact.
  bool pretty = true;
};

std::string SerializeSpec(const Spec& spec, const SerializeOptions& options = {});

// The spec's semantic rules that the JSON shape does not carry; the error names the path.
absl::Status ValidateSpec(const Spec& spec);

// Reads and parses a file; errors are prefixed with the file's path.
absl::StatusOr<Spec> LoadSpecFile(const std::string& path);

// Writes `spec` to `path` atomically (a temporary file in the same directory, then rename),
// so a reader never sees a half-written config.
absl::Status SaveSpecFile(const Spec& spec, const std::string& path,
                          const SerializeOptions& options = {});

}  // namespace oci
}  // namespace kata

#endif  // KATA_SRC_LIBS_OCI_SPEC_JSON_H_
