// kata-runtime: see cli.h.
#include <iostream>
#include <string>
#include <vector>

#include "src/runtime/cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return kata::runtime::cli::RunKataRuntime(args, std::cout, std::cerr);
}
