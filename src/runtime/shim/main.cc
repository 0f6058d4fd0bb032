// containerd-shim-kata-v2: containerd's runtime v2 shim for kata-cpp (see shim.h).
#include "src/runtime/shim/shim.h"

int main(int argc, char** argv) { return kata::shim::ShimMain(argc, argv); }
