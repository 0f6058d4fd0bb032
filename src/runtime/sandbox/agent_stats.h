// The agent's StatsContainerResponse as the runtime's ContainerStats (stats.h).
#ifndef KATA_SRC_RUNTIME_SANDBOX_AGENT_STATS_H_
#define KATA_SRC_RUNTIME_SANDBOX_AGENT_STATS_H_

#include "src/libs/protocols/agent.pb.h"
#include "src/runtime/sandbox/stats.h"

namespace kata::runtime {

ContainerStats FromAgentStats(const ::grpc::StatsContainerResponse& response);

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_AGENT_STATS_H_
