// A running kata-agent: its services registered on a ttRPC server, served on the channel
// its configuration names.
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<Agent> agent, Agent::Start(config, {}));
//   ... until SIGTERM ...
//   agent->Shutdown(absl::Seconds(1));
//
// Wait() returns why the agent should stop: "sandbox destroyed" after DestroySandbox
// answered (main then powers the VM off when PID 1, or exits 0 on a host), or what Stop
// was given (e.g. a signal).
//
// With `agent.debug_console` (config.debug_console) the debug console is served too, on
// config.debug_console_addr (debug_console/debug_console.h); it failing to start is logged,
// never fatal. Without it no console thread, socket or shell exists.
//
// With `agent.trace` (config.trace) the agent traces (trace/agent_tracing.h): every rpc is a
// span named "<service>/<method>" (e.g. "grpc.AgentService/CreateContainer", kind server),
// the child of the request's `traceparent` metadata when it has one, with the container
// create's steps below it; "agent.start" covers Start itself. Its tracing failing to start is
// logged, never fatal. Without it no tracer, thread or port exists and calls are not wrapped.
//
// Promises: Start returns once the channel is served (a unix socket is listening, a serial
// device is open) or fails with the address in the message. Shutdown stops taking new
// calls, gives in-flight calls `grace`, then closes the channel; it is idempotent and the
// destructor calls it with no grace.
#ifndef KATA_SRC_AGENT_AGENT_H_
#define KATA_SRC_AGENT_AGENT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/agent/channel/serve.h"
#include "src/agent/config/config.h"
#include "src/agent/debug_console/debug_console.h"
#include "src/agent/init/init.h"
#include "src/agent/rpc/agent_service.h"
#include "src/agent/rpc/health_service.h"
#include "src/agent/trace/agent_tracing.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace agent {

// How long Shutdown waits at least for the host to take the last spans.
inline constexpr absl::Duration kTraceFlushGrace = absl::Milliseconds(500);

class Agent {
 public:
  struct Options {
    ChannelServer::Options channel;
    AgentService::Options service;  // its on_exit is the agent's (Stop)
    // Reap orphans (process/reaper.h); when not PID 1 the agent becomes a child subreaper
    // (PR_SET_CHILD_SUBREAPER) first, so a host process behaves as the guest's PID 1.
    bool reap_orphans = false;
    DebugConsole::Options debug_console;  // used only with config.debug_console
    AgentTracing::Options tracing;        // used only with config.trace
    // When the agent process began (unix nanos; 0: Start's own time): agent.init's start.
    int64_t process_start_unix_nanos = 0;
  };

  static absl::StatusOr<std::unique_ptr<Agent>> Start(const AgentConfig& config, Options options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  void Shutdown(absl::Duration grace);

  // Asks the main loop to end with `reason` (the first reason wins); thread-safe.
  void Stop(const std::string& reason);
  // Blocks until Stop was called (by a signal handler thread, or by DestroySandbox with
  // AgentService::kSandboxDestroyed); returns the reason.
  std::string Wait();

  // What is served (the listen address or the serial device).
  const std::string& endpoint() const { return channel_->endpoint(); }
  // The debug console, or null when not enabled (or it failed to start).
  const DebugConsole* debug_console() const { return debug_console_.get(); }
  // The agent's tracing, or null when not enabled (or it failed to start).
  AgentTracing* tracing() { return tracing_.get(); }

 private:
  Agent(Options options, std::unique_ptr<AgentTracing> tracing);
  void StartDebugConsole(const std::string& addr);
  // The boot's spans (init/init.h's steps, then config and Start) under config.trace_parent.
  // `steps`: Start's own steps (start.*), children of agent.start.
  void TraceBoot(const AgentConfig& config, int64_t start_unix_nanos,
                 const std::vector<init::StepTime>& steps);

  std::unique_ptr<AgentTracing> tracing_;  // outlives the server: its calls' spans end first
  HealthService health_;
  AgentService agent_;
  ttrpc::Server server_;
  std::unique_ptr<ChannelServer> channel_;
  std::unique_ptr<DebugConsole> debug_console_;
  Options options_;
  absl::Mutex stop_mu_;
  std::optional<std::string> stop_reason_ ABSL_GUARDED_BY(stop_mu_);
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_AGENT_H_
