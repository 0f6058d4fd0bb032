// Addresses that ttRPC peers listen on and dial, as Kata and containerd write them:
//
//   unix:///run/containerd/s/abc     a unix socket (also a bare absolute path)
//   unix://@name                     a unix socket in the abstract namespace
//   vsock://CID:PORT                 AF_VSOCK (CID -1 = any, when listening)
//   hvsock:///path/to/vm.sock:PORT   hybrid vsock: a VMM's unix socket, then "CONNECT PORT\n"
//   serial:///dev/vport0p1           an already-connected character device (no listen/accept)
//
// Every call states its errors with the address in the message.
#ifndef KATA_SRC_LIBS_TTRPC_ADDRESS_H_
#define KATA_SRC_LIBS_TTRPC_ADDRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kata {
namespace ttrpc {

struct Address {
  enum class Kind { kUnix, kVsock, kHybridVsock, kSerial };
  Kind kind = Kind::kUnix;
  std::string path;   // unix socket path ('@' first for abstract), VMM socket, or device
  uint32_t cid = 0;   // vsock
  uint32_t port = 0;  // vsock, hybrid vsock
  std::string text;   // as given, for messages
};

absl::StatusOr<Address> ParseAddress(absl::string_view text);

// A connected stream to `address` (for kSerial: the opened device). Retries a refused or
// missing socket until `timeout` passes.
absl::StatusOr<int> Dial(const Address& address, absl::Duration timeout = absl::Seconds(5));

// A listening socket on `address` (unix or vsock). A stale unix socket file at the path is
// replaced; any other file there is an error.
absl::StatusOr<int> Listen(const Address& address);

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_ADDRESS_H_
