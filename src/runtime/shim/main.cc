// containerd-shim-kata-v2: containerd's runtime v2 shim for kata-cpp (see shim.h).
#include <malloc.h>

#include "absl/synchronization/mutex.h"
#include "src/runtime/shim/shim.h"

int main(int argc, char** argv) {
  // One malloc arena: a shim runs per pod and allocates little; glibc's default of one arena
  // per thread (up to 8 per core) leaves each of its threads' heaps resident.
  mallopt(M_ARENA_MAX, 1);
  // No run-time lock-order bookkeeping on every absl::Mutex operation (Debian's Abseil is
  // built with it on): lock order is checked at compile time (-Wthread-safety) and by the tests.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return kata::shim::ShimMain(argc, argv);
}
