#include "src/agent/agent.h"

#include <utility>

#include "src/libs/base/status_macros.h"

namespace kata {
namespace agent {

Agent::Agent(Options options) : agent_(options.service), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(const AgentConfig& config, Options options) {
  KATA_ASSIGN_OR_RETURN(AgentAddress address, ParseAgentAddress(config.server_addr));
  std::unique_ptr<Agent> agent(new Agent(std::move(options)));
  KATA_RETURN_IF_ERROR(agent->server_.Register(&agent->health_));
  KATA_RETURN_IF_ERROR(agent->server_.Register(&agent->agent_));
  KATA_ASSIGN_OR_RETURN(agent->channel_,
                        ChannelServer::Start(&agent->server_, address, agent->options_.channel));
  return agent;
}

Agent::~Agent() { Shutdown(absl::ZeroDuration()); }

void Agent::Shutdown(absl::Duration grace) {
  server_.Shutdown(grace);
  if (channel_ != nullptr) channel_->Stop();
}

}  // namespace agent
}  // namespace kata
