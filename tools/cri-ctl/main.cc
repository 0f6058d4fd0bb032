// cri-ctl: see tools/cri-ctl/cri_ctl.h (and `cri-ctl help`).
#include <iostream>
#include <string>
#include <vector>

#include "tools/cri-ctl/cri_ctl.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return kata::cri_ctl::RunCriCtl(args, std::cin, std::cout, std::cerr);
}
