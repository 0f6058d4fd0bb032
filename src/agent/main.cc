// kata-agent: serves grpc.AgentService and grpc.Health over ttRPC on the channel named by
// agent.server_addr (kernel command line), KATA_AGENT_SERVER_ADDR or --server-addr, until
// SIGTERM, SIGINT or DestroySandbox (reason "sandbox destroyed"); then stops with a 1 s
// grace and exits 0. It reaps orphans (a child subreaper when not PID 1) and raises its fd
// limit (RaiseFdLimit). A bad configuration or an unusable channel exits 1 with the error.
// See --help.
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "src/agent/agent.h"
#include "src/agent/config/config.h"
#include "src/agent/init/init.h"
#include "src/agent/log/log.h"
#include "src/agent/version.h"
#include "src/libs/base/file.h"

namespace {

using kata::agent::Log;
using kata::agent::LogLevel;

std::optional<std::string> Env(const char* name) {
  const char* v = getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

// Raises RLIMIT_NOFILE: every process costs the agent a few fds (pipes, a pty, an eventfd)
// and the kernel starts PID 1 with a soft limit of 1024. PID 1 takes kPid1FdLimit (when the
// kernel's fs.nr_open allows); otherwise the soft limit is raised to the hard one. Best
// effort: a failure is logged and the agent runs with what it has. Containers get their own
// limits from their spec (process.rlimits).
constexpr rlim_t kPid1FdLimit = 1048576;
void RaiseFdLimit() {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t before = lim.rlim_cur;
  struct rlimit want = {lim.rlim_max, lim.rlim_max};
  if (getpid() == 1 && lim.rlim_max != RLIM_INFINITY && lim.rlim_max < kPid1FdLimit) {
    want = {kPid1FdLimit, kPid1FdLimit};
  }
  if (setrlimit(RLIMIT_NOFILE, &want) != 0) {  // e.g. fs.nr_open is lower: the hard limit
    want = {lim.rlim_max, lim.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
      Log(LogLevel::kWarn, "cannot raise the fd limit",
          {{"soft", static_cast<uint64_t>(before)}, {"error", strerror(errno)}});
      return;
    }
  }
  Log(LogLevel::kDebug, "fd limit raised",
      {{"from", static_cast<uint64_t>(before)}, {"to", static_cast<uint64_t>(want.rlim_cur)}});
}

// When main began: the agent's boot span starts there (agent.trace).
int64_t process_start_unix_nanos = 0;

int Fail(const absl::Status& status) {
  Log(LogLevel::kCritical, "kata-agent cannot start", {{"error", status.ToString()}});
  return 1;
}

}  // namespace

int AgentMain(int argc, char** argv) {
  absl::StatusOr<kata::agent::AgentFlags> flags = kata::agent::ParseFlags(argc - 1, argv + 1);
  if (!flags.ok()) {
    fprintf(stderr, "kata-agent: %s\n%s", std::string(flags.status().message()).c_str(),
            kata::agent::FlagsUsage().c_str());
    return 2;
  }
  if (flags->help) {
    fputs(kata::agent::FlagsUsage().c_str(), stdout);
    return 0;
  }

  kata::agent::ConfigSources sources;
  std::string cmdline_path;
  if (flags->cmdline_file.has_value()) {
    cmdline_path = *flags->cmdline_file;
  } else if (getpid() == 1) {
    cmdline_path = "/proc/cmdline";
  }
  if (!cmdline_path.empty()) {
    absl::StatusOr<std::string> cmdline = kata::ReadFileToString(cmdline_path);
    if (!cmdline.ok()) return Fail(cmdline.status());
    sources.kernel_cmdline = *std::move(cmdline);
  }
  sources.env_server_addr = Env("KATA_AGENT_SERVER_ADDR");
  sources.env_log_level = Env("KATA_AGENT_LOG_LEVEL");
  sources.flags = *flags;
  std::vector<std::string> warnings;
  absl::StatusOr<kata::agent::AgentConfig> config = kata::agent::ResolveConfig(sources, &warnings);
  if (!config.ok()) return Fail(config.status());
  kata::agent::SetLogLevel(config->log_level);
  for (const std::string& w : warnings) Log(LogLevel::kWarn, w);
  RaiseFdLimit();

  // Block the stop signals before any thread starts, so only sigwait below sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  kata::agent::Agent::Options options;
  options.reap_orphans = true;  // PID 1 in the guest; a child subreaper on a host
  options.service.storage.devices.timeout = config->hotplug_timeout;
  options.process_start_unix_nanos = process_start_unix_nanos;
  absl::StatusOr<std::unique_ptr<kata::agent::Agent>> agent =
      kata::agent::Agent::Start(*config, std::move(options));
  if (!agent.ok()) return Fail(agent.status());
  Log(LogLevel::kInfo, "serving",
      {{"addr", config->server_addr},
       {"endpoint", (*agent)->endpoint()},
       {"version", kata::agent::kAgentVersion},
       {"pid", static_cast<int>(getpid())}});

  // The stop signals end the main loop as DestroySandbox does.
  kata::agent::Agent* raw = agent->get();
  std::thread([raw, stop] {
    int sig = 0;
    while (sigwait(&stop, &sig) != 0) {
    }
    raw->Stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
  }).detach();
  const std::string reason = (*agent)->Wait();
  const bool by_signal = reason == "SIGTERM" || reason == "SIGINT";
  Log(LogLevel::kInfo, "stopping", {{by_signal ? "signal" : "reason", reason}});
  (*agent)->Shutdown(absl::Seconds(1));
  agent->reset();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

// ---- PID 1 hook (owned by the guest image; see src/agent/init/init.h) ----
// As the guest's /init: mount, load modules and attach the console first; when AgentMain
// returns (sandbox destroyed or a fatal error) sync and power the VM off, never exit.
int main(int argc, char** argv) {
  process_start_unix_nanos = absl::GetCurrentTimeNanos();
  // No run-time lock-order bookkeeping on every absl::Mutex operation (Abseil built without
  // NDEBUG has it on): lock order is checked at compile time (-Wthread-safety) and by tests.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (getpid() == 1) return kata::agent::init::RunAsInit(argc, argv, &AgentMain);
  return AgentMain(argc, argv);
}
