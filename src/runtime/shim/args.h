// The command line containerd gives a runtime v2 shim.
//
//   containerd-shim-kata-v2 -namespace NS -address SOCK -publish-binary BIN -id ID [-debug] start
//   containerd-shim-kata-v2 -namespace NS -address SOCK -id ID -bundle DIR delete
//   containerd-shim-kata-v2 -namespace NS -address SOCK -id ID [-socket-fd N]       (serve)
//
// Flags use Go's `flag` syntax: one or two dashes, `-name value` or `-name=value`; a boolean
// flag (-debug) takes no separate value (`-debug=false` is accepted). Parsing stops at the
// first non-flag argument, the action; nothing may follow it. An unknown flag, a missing value
// or an unknown action is an INVALID_ARGUMENT error naming it.
#ifndef KATA_SRC_RUNTIME_SHIM_ARGS_H_
#define KATA_SRC_RUNTIME_SHIM_ARGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kata {
namespace shim {

enum class Action { kServe, kStart, kDelete, kVersion };

struct ShimArgs {
  std::string namespace_;      // -namespace
  std::string address;         // -address: containerd's gRPC socket
  std::string publish_binary;  // -publish-binary
  std::string id;              // -id
  std::string bundle;          // -bundle (delete); "" = the current directory
  bool debug = false;          // -debug
  int socket_fd = -1;          // -socket-fd: the daemon's inherited listening socket
  Action action = Action::kServe;
};

absl::StatusOr<ShimArgs> ParseArgs(const std::vector<std::string>& argv);

// The flags that re-create `args` (without the action), for the daemon's command line.
std::vector<std::string> FormatArgs(const ShimArgs& args);

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_ARGS_H_
