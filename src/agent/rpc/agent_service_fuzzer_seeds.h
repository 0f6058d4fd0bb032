// The seed corpus of agent_service_fuzzer.cc (its input format is described there): for each
// method of AgentService's table one file, "<method>", holding a CreateContainer (c1, with a
// process and a root), a StartContainer, and then one valid request of that method for c1
// (or an empty one for a method without fields to fill).
#ifndef KATA_SRC_AGENT_RPC_AGENT_SERVICE_FUZZER_SEEDS_H_
#define KATA_SRC_AGENT_RPC_AGENT_SERVICE_FUZZER_SEEDS_H_

#include <string>

#include "src/agent/rpc/agent_service.h"

namespace kata {
namespace agent {
namespace fuzz {

// Writes the seeds into `dir` (created if missing); the number written, -1 on error.
int WriteSeeds(const AgentService& agent, const std::string& dir);

}  // namespace fuzz
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_AGENT_SERVICE_FUZZER_SEEDS_H_
