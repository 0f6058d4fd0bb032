#include "src/libs/trace/span_context.h"

#include <sys/random.h>

#include <cstring>
#include <random>

#include "absl/strings/escaping.h"

namespace kata::trace {
namespace {

std::mt19937_64& Generator() {
  thread_local std::mt19937_64 gen = [] {
    uint64_t seed[2] = {0, 0};
    // Never wait for the kernel's pool: ids need not be secret, and early in a guest's boot
    // getrandom(flags 0) blocks until the pool is ready (seconds under TCG without a
    // virtio-rng device), stalling every thread that starts a span. GRND_INSECURE (Linux 5.6)
    // answers at once; older kernels refuse it (EINVAL) and get GRND_NONBLOCK.
    if (getrandom(seed, sizeof(seed), GRND_INSECURE) != sizeof(seed) &&
        getrandom(seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
      // No entropy source: time and address still make ids of two processes differ.
      seed[0] = static_cast<uint64_t>(std::random_device{}());
      seed[1] = reinterpret_cast<uintptr_t>(&seed);
    }
    std::seed_seq seq{seed[0], seed[0] >> 32, seed[1], seed[1] >> 32};
    return std::mt19937_64(seq);
  }();
  return gen;
}

template <size_t N>
std::array<uint8_t, N> RandomNonZero() {
  std::array<uint8_t, N> id{};
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t v = Generator()();
      std::memcpy(id.data() + i, &v, N - i < 8 ? N - i : 8);
    }
  } while (IsZero(absl::string_view(reinterpret_cast<const char*>(id.data()), N)));
  return id;
}

template <size_t N>
bool CopyFrom(absl::string_view bytes, std::array<uint8_t, N>* out) {
  if (bytes.size() != N) return false;
  std::memcpy(out->data(), bytes.data(), N);
  return true;
}

}  // namespace

bool SpanContext::IsValid() const {
  return !IsZero(AsBytes(trace_id)) && !IsZero(AsBytes(span_id));
}

TraceId NewTraceId() { return RandomNonZero<16>(); }
SpanId NewSpanId() { return RandomNonZero<8>(); }

bool IsZero(absl::string_view bytes) {
  for (char c : bytes) {
    if (c != 0) return false;
  }
  return true;
}

std::string ToHex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

bool FromBytes(absl::string_view bytes, TraceId* out) { return CopyFrom(bytes, out); }
bool FromBytes(absl::string_view bytes, SpanId* out) { return CopyFrom(bytes, out); }

}  // namespace kata::trace
