// Where a shim listens, named as containerd's own shim library names it, so that containerd,
// `ctr` and a second `start` for the same pod all agree:
//
//   unix:///run/containerd/s/<hex sha256 of path.Join(containerd_address, namespace, id)>
//
// (`path.Join` is Go's: joined with '/', then cleaned.) For a pod's containers `id` is the
// sandbox id, so every container of a pod finds the one shim that owns the pod's VM.
#ifndef KATA_SRC_RUNTIME_SHIM_SOCKET_ADDRESS_H_
#define KATA_SRC_RUNTIME_SHIM_SOCKET_ADDRESS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace kata {
namespace shim {

inline constexpr char kSocketRoot[] = "/run/containerd/s";

// The ttRPC address ("unix://...") of the shim for `id`.
std::string SocketAddress(absl::string_view containerd_address, absl::string_view ns,
                          absl::string_view id, absl::string_view socket_root = kSocketRoot);

// The socket's path: `address` without "unix://".
std::string SocketPath(absl::string_view address);

// Go's path.Clean(path.Join(parts...)) for slash-separated paths.
std::string JoinClean(std::initializer_list<absl::string_view> parts);

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_SOCKET_ADDRESS_H_
