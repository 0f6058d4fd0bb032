// Sandbox, container and exec ids: plain names only, so that an id can never reach outside
// the directory it names on the host ("../etc", "a/b" and "" are refused).
#ifndef KATA_SRC_RUNTIME_SANDBOX_IDS_H_
#define KATA_SRC_RUNTIME_SANDBOX_IDS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kata::runtime {

// OK for [A-Za-z0-9][A-Za-z0-9_.-]* of at most 128 bytes; else INVALID_ARGUMENT
// "<what> \"<id>\": not a plain name ...".
absl::Status CheckId(absl::string_view what, const std::string& id);

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_IDS_H_
