// agent-ctl: see tools/agent-ctl/agent_ctl.h (and `agent-ctl help`).
#include <iostream>
#include <string>
#include <vector>

#include "tools/agent-ctl/agent_ctl.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return kata::agent_ctl::RunAgentCtl(args, std::cin, std::cout, std::cerr);
}
