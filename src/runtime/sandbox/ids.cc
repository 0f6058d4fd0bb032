#include "src/runtime/sandbox/ids.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace kata::runtime {

absl::Status CheckId(absl::string_view what, const std::string& id) {
  bool ok = !id.empty() && id.size() <= 128 && absl::ascii_isalnum(id[0]);
  for (char c : id) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-')) ok = false;
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"", id, "\": not a plain name ([A-Za-z0-9][A-Za-z0-9_.-]*, <= 128)"));
}

}  // namespace kata::runtime
