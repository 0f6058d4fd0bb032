#include "src/agent/agent.h"

#include <errno.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <utility>

#include "src/agent/log/log.h"
#include "src/agent/network/network.h"
#include "src/agent/process/reaper.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {

namespace {

AgentService::Options WithExit(AgentService::Options o, Agent* agent) {
  o.on_exit = [agent](const std::string& reason) { agent->Stop(reason); };
  return o;
}

}  // namespace

Agent::Agent(Options options)
    : agent_(WithExit(options.service, this)), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(const AgentConfig& config, Options options) {
  KATA_ASSIGN_OR_RETURN(AgentAddress address, ParseAgentAddress(config.server_addr));
  if (options.reap_orphans) {
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
      // qemu-user (the aarch64 agent tested on an x86_64 host) rejects this prctl with
      // EINVAL: serve anyway, orphans then go to the host's init.
      if (errno != EINVAL) return ErrnoStatus(errno, "prctl PR_SET_CHILD_SUBREAPER");
      Log(LogLevel::kWarn, "not a child subreaper: prctl PR_SET_CHILD_SUBREAPER: EINVAL");
    }
    StartOrphanReaper();
  }
  // The loopback is up before anything runs (as Kata's agent does; a host process finds it
  // up already). A failure is logged: the agent still serves.
  if (absl::Status lo = network::Network().BringUpLoopback(); !lo.ok()) {
    Log(LogLevel::kWarn, "loopback not brought up", {{"error", lo.ToString()}});
  }
  std::unique_ptr<Agent> agent(new Agent(std::move(options)));
  KATA_RETURN_IF_ERROR(agent->server_.Register(&agent->health_));
  KATA_RETURN_IF_ERROR(agent->server_.Register(&agent->agent_));
  KATA_ASSIGN_OR_RETURN(agent->channel_,
                        ChannelServer::Start(&agent->server_, address, agent->options_.channel));
  if (config.debug_console) agent->StartDebugConsole(config.debug_console_addr);
  return agent;
}

void Agent::StartDebugConsole(const std::string& addr) {
  absl::StatusOr<AgentAddress> where = ParseAgentAddress(addr);
  absl::StatusOr<std::unique_ptr<DebugConsole>> console =
      where.ok() ? DebugConsole::Start(*where, options_.debug_console)
                 : absl::StatusOr<std::unique_ptr<DebugConsole>>(where.status());
  if (!console.ok()) {
    Log(LogLevel::kWarn, "debug console not served", {{"error", console.status().ToString()}});
    return;
  }
  debug_console_ = *std::move(console);
  Log(LogLevel::kInfo, "debug console served", {{"endpoint", debug_console_->endpoint()}});
}

Agent::~Agent() { Shutdown(absl::ZeroDuration()); }

void Agent::Stop(const std::string& reason) {
  absl::MutexLock lock(&stop_mu_);
  if (!stop_reason_.has_value()) stop_reason_ = reason;
}

std::string Agent::Wait() {
  absl::MutexLock lock(&stop_mu_);
  auto stopped = [this]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(stop_mu_) { return stop_reason_.has_value(); };
  stop_mu_.Await(absl::Condition(&stopped));
  return *stop_reason_;
}

void Agent::Shutdown(absl::Duration grace) {
  if (debug_console_ != nullptr) debug_console_->Stop();
  server_.Shutdown(grace);
  if (channel_ != nullptr) channel_->Stop();
}

}  // namespace agent
}  // namespace kata
