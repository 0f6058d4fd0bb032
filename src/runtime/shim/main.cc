// containerd-shim-kata-v2: containerd's runtime v2 shim for kata-cpp (see shim.h).
#include <malloc.h>

#include "src/runtime/shim/shim.h"

int main(int argc, char** argv) {
  // One malloc arena: a shim runs per pod and allocates little; glibc's default of one arena
  // per thread (up to 8 per core) leaves each of its threads' heaps resident.
  mallopt(M_ARENA_MAX, 1);
  return kata::shim::ShimMain(argc, argv);
}
