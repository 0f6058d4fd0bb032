#include "src/runtime/shim/socket_address.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/runtime/shim/internal/sha256.h"

namespace kata {
namespace shim {

std::string JoinClean(std::initializer_list<absl::string_view> parts) {
  std::string joined;
  for (absl::string_view p : parts) {
    if (p.empty()) continue;
    if (!joined.empty()) joined.push_back('/');
    absl::StrAppend(&joined, p);
  }
  if (joined.empty()) return "";
  bool rooted = joined[0] == '/';
  std::vector<absl::string_view> out;
  for (absl::string_view seg : absl::StrSplit(joined, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (!rooted) {
        out.push_back(seg);
      }
      continue;
    }
    out.push_back(seg);
  }
  std::string result = absl::StrJoin(out, "/");
  if (rooted) return "/" + result;
  return result.empty() ? "." : result;
}

std::string SocketAddress(absl::string_view containerd_address, absl::string_view ns,
                          absl::string_view id, absl::string_view socket_root) {
  return absl::StrCat("unix://", socket_root, "/",
                      internal::Sha256Hex(JoinClean({containerd_address, ns, id})));
}

std::string SocketPath(absl::string_view address) {
  absl::ConsumePrefix(&address, "unix://");
  return std::string(address);
}

}  // namespace shim
}  // namespace kata
