// SHA-256 of a byte string as lowercase hex (Debian's nettle: its SHA-256 alone links a few
// KiB into the static shim, where OpenSSL's EVP layer linked 2 MiB of libcrypto, nearly all of
// it resident). The shim needs it only to name its socket the way containerd does (sha256 of
// "address/namespace/id").
#ifndef KATA_SRC_RUNTIME_SHIM_INTERNAL_SHA256_H_
#define KATA_SRC_RUNTIME_SHIM_INTERNAL_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"

namespace kata {
namespace shim {
namespace internal {

std::string Sha256Hex(absl::string_view data);

}  // namespace internal
}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_INTERNAL_SHA256_H_
