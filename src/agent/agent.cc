#include "src/agent/agent.h"

#include <errno.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/agent/init/init.h"
#include "src/agent/log/log.h"
#include "src/agent/network/network.h"
#include "src/agent/process/reaper.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/trace/scoped_span.h"
#include "src/libs/trace/traceparent.h"

namespace kata {
namespace agent {

namespace {

AgentService::Options WithExit(AgentService::Options o, Agent* agent) {
  o.on_exit = [agent](const std::string& reason) { agent->Stop(reason); };
  return o;
}

trace::SpanContext ParentOf(absl::string_view traceparent) {
  if (traceparent.empty()) return {};
  absl::StatusOr<trace::SpanContext> p = trace::ParseTraceparent(traceparent);
  if (!p.ok()) {
    Log(LogLevel::kWarn, "bad traceparent ignored", {{"error", p.status().ToString()}});
    return {};
  }
  return *p;
}

// With tracing, a span around every call the host traced (its request carries a
// traceparent): the call's work joins the host's trace. Untraced calls (e.g. the host's
// Health polls while it dials) are left alone.
ttrpc::Server::Options ServerOptions(AgentTracing* tracing) {
  ttrpc::Server::Options o;
  if (tracing == nullptr) return o;
  trace::Tracer* tracer = &tracing->tracer();
  o.call_wrapper = [tracer](ttrpc::ServerContext& ctx,
                            absl::FunctionRef<absl::Status()> handler) -> absl::Status {
    const trace::SpanContext parent = ParentOf(ctx.GetMetadata(trace::kTraceparentKey));
    if (!parent.IsValid()) return handler();
    trace::ScopedSpan span(*tracer, absl::StrCat(ctx.service(), "/", ctx.method()), parent);
    span->SetKind(trace::SpanKind::kServer);
    absl::Status s = handler();
    span->SetError(s);
    return s;
  };
  return o;
}

// Each timed step as a finished child span of `parent`.
void StepSpans(trace::Tracer& tracer, const trace::SpanContext& parent,
               const std::vector<init::StepTime>& steps) {
  for (const init::StepTime& s : steps) {
    tracer.StartSpanAt(s.name, parent, s.start_unix_nanos).EndAt(s.end_unix_nanos);
  }
}

}  // namespace

Agent::Agent(Options options, std::unique_ptr<AgentTracing> tracing)
    : tracing_(std::move(tracing)),
      agent_(WithExit(options.service, this)),
      server_(ServerOptions(tracing_.get())),
      options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Start(const AgentConfig& config, Options options) {
  const int64_t start = absl::GetCurrentTimeNanos();
  // Start's steps, for the boot trace (cheap enough to keep untraced: a clock read each).
  std::vector<init::StepTime> steps;
  int64_t step_start = start;
  auto step = [&steps, &step_start](const char* name) {
    const int64_t now = absl::GetCurrentTimeNanos();
    steps.push_back({name, step_start, now});
    step_start = now;
  };
  KATA_ASSIGN_OR_RETURN(AgentAddress address, ParseAgentAddress(config.server_addr));
  std::unique_ptr<AgentTracing> tracing;
  if (config.trace) {
    absl::StatusOr<std::unique_ptr<AgentTracing>> t =
        AgentTracing::Start(config.trace_addr, options.tracing);
    if (t.ok()) {
      tracing = *std::move(t);
    } else {
      Log(LogLevel::kWarn, "tracing is off", {{"error", t.status().ToString()}});
    }
    step("start.tracing");
  }
  if (options.reap_orphans) {
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
      // qemu-user (the aarch64 agent tested on an x86_64 host) rejects this prctl with
      // EINVAL: serve anyway, orphans then go to the host's init.
      if (errno != EINVAL) return ErrnoStatus(errno, "prctl PR_SET_CHILD_SUBREAPER");
      Log(LogLevel::kWarn, "not a child subreaper: prctl PR_SET_CHILD_SUBREAPER: EINVAL");
    }
    StartOrphanReaper();
    step("start.reaper");
  }
  // The loopback is up before anything runs (as Kata's agent does; a host process finds it
  // up already). A failure is logged: the agent still serves.
  if (absl::Status lo = network::Network().BringUpLoopback(); !lo.ok()) {
    Log(LogLevel::kWarn, "loopback not brought up", {{"error", lo.ToString()}});
  }
  step("start.loopback");
  std::unique_ptr<Agent> agent(new Agent(std::move(options), std::move(tracing)));
  KATA_RETURN_IF_ERROR(agent->server_.Register(&agent->health_));
  KATA_RETURN_IF_ERROR(agent->server_.Register(&agent->agent_));
  step("start.services");
  KATA_ASSIGN_OR_RETURN(agent->channel_,
                        ChannelServer::Start(&agent->server_, address, agent->options_.channel));
  step("start.channel");
  if (config.debug_console) agent->StartDebugConsole(config.debug_console_addr);
  if (agent->tracing_ != nullptr) agent->TraceBoot(config, start, steps);
  return agent;
}

void Agent::TraceBoot(const AgentConfig& config, int64_t start,
                      const std::vector<init::StepTime>& start_steps) {
  trace::Tracer& tracer = tracing_->tracer();
  const std::vector<init::StepTime>& steps = init::SetUpSteps();
  int64_t boot = options_.process_start_unix_nanos != 0 ? options_.process_start_unix_nanos : start;
  if (!steps.empty()) boot = std::min(boot, steps.front().start_unix_nanos);
  trace::Span span = tracer.StartSpanAt("agent.init", ParentOf(config.trace_parent), boot);
  span.SetInt("agent.pid", getpid());
  StepSpans(tracer, span.context(), steps);
  trace::Span served = tracer.StartSpanAt("agent.start", span.context(), start);
  served.SetString("agent.endpoint", channel_->endpoint());
  StepSpans(tracer, served.context(), start_steps);
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
  // The last calls' spans (DestroySandbox's) go to the host before the VM powers off.
  if (tracing_ != nullptr) tracing_->Stop(std::max(grace, kTraceFlushGrace));
}

}  // namespace agent
}  // namespace kata
