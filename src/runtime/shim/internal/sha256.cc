#include "src/runtime/shim/internal/sha256.h"

#include <nettle/sha2.h>

#include <cstdint>

#include "absl/strings/escaping.h"

namespace kata {
namespace shim {
namespace internal {

std::string Sha256Hex(absl::string_view data) {
  sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, data.size(), reinterpret_cast<const uint8_t*>(data.data()));
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx, sizeof(digest), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

}  // namespace internal
}  // namespace shim
}  // namespace kata
