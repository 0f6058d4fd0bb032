// kata-agent's configuration: Kata's `agent.*` kernel parameters, then (for runs on a host)
// the environment, then command-line flags, each later source overriding the earlier.
//
//   ConfigSources sources;
//   KATA_ASSIGN_OR_RETURN(sources.kernel_cmdline, ReadFileToString("/proc/cmdline"));  // PID 1
//   KATA_ASSIGN_OR_RETURN(sources.flags, ParseFlags(argc - 1, argv + 1));
//   sources.env_server_addr = Env("KATA_AGENT_SERVER_ADDR");  // nullopt when unset
//   std::vector<std::string> warnings;
//   KATA_ASSIGN_OR_RETURN(AgentConfig config, ResolveConfig(sources, &warnings));
//
// Kernel parameters read (as Kata's agent writes them):
//   agent.server_addr=ADDR          see channel/address.h
//   agent.log=LEVEL                 trace|debug|info|warn|error|critical
//   agent.hotplug_timeout=SECONDS   a positive integer, or a duration ("3s", "500ms"): how
//                                   long a storage or device waits for its hot-plugged device
//   agent.debug_console[=BOOL]      serve the debug console (debug_console/debug_console.h):
//                                   a root shell for `kata-runtime exec`; off by default
//   agent.debug_console_vport=PORT  its vsock port (default 1026, Kata's); where the agent
//                                   channel is a virtio-serial port, the console is the port
//                                   named "agent.debug_console" instead
//   agent.trace[=BOOL]              trace (trace/agent_tracing.h): spans of init, of every rpc
//                                   and of container creation go to the host, on the port
//                                   named "agent.trace" where the agent channel is a
//                                   virtio-serial port, else to the host's vsock port 10240
//                                   (Kata's); off by default (no thread, no port)
//   agent.trace_parent=TRACEPARENT  kata-cpp's: the W3C traceparent of the host's span that the
//                                   agent's boot span ("agent.init") joins
//   agent.devmode[=BOOL]            recorded only
//   agent.container_pipe_size=N     a non-negative integer; recorded only (the pipes keep the
//                                   kernel's default size)
//   agent.unified_cgroup_hierarchy[=BOOL]  recorded only (the cgroup version is detected from
//                                   the mount, cgroups/detect.h)
// BOOL is true/false/1/0/yes/no/on/off; the key alone means true. Other `agent.*` keys are
// warnings (Kata has more; an older/newer runtime may pass them), not errors; parameters
// without the `agent.` prefix are ignored. A bad value is INVALID_ARGUMENT naming the key.
#ifndef KATA_SRC_AGENT_CONFIG_CONFIG_H_
#define KATA_SRC_AGENT_CONFIG_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/agent/log/log.h"

namespace kata {
namespace agent {

inline constexpr char kDefaultServerAddr[] = "vsock://-1:1024";
inline constexpr uint32_t kDefaultDebugConsoleVport = 1026;
inline constexpr char kDebugConsoleSerialAddr[] = "serial://agent.debug_console";
inline constexpr char kTraceSerialAddr[] = "serial://agent.trace";
inline constexpr char kTraceVsockAddr[] = "vsock://2:10240";  // the host (CID 2), Kata's port

struct AgentConfig {
  std::string server_addr = kDefaultServerAddr;
  LogLevel log_level = LogLevel::kInfo;
  bool debug_console = false;
  uint32_t debug_console_vport = kDefaultDebugConsoleVport;
  // Where the debug console is served (only with debug_console): --debug-console-addr, else
  // serial://agent.debug_console when server_addr is a virtio-serial port, else
  // vsock://-1:<debug_console_vport>. Set by ResolveConfig.
  std::string debug_console_addr;
  bool trace = false;
  // Where the spans go (only with trace): --trace-addr, else kTraceSerialAddr when server_addr
  // is a virtio-serial port, else kTraceVsockAddr. Set by ResolveConfig.
  std::string trace_addr;
  std::string trace_parent;  // as given (agent.trace_parent); parsed where it is used
  bool dev_mode = false;
  absl::Duration hotplug_timeout = absl::Seconds(3);
  int container_pipe_size = 0;  // 0: the kernel's default
  bool unified_cgroup_hierarchy = false;
};

// Command-line flags of kata-agent (each also accepted as --flag=value).
struct AgentFlags {
  std::optional<std::string> server_addr;         // --server-addr ADDR
  std::optional<std::string> log_level;           // --log-level LEVEL
  std::optional<std::string> cmdline_file;        // --cmdline-file PATH (instead of /proc/cmdline)
  std::optional<std::string> debug_console_addr;  // --debug-console-addr ADDR (host runs, tests)
  std::optional<std::string> trace_addr;          // --trace-addr ADDR (host runs, tests)
  bool help = false;                              // --help, -h
};

// Parses `argv` (without the program name). INVALID_ARGUMENT for an unknown flag, a missing
// value or a positional argument.
absl::StatusOr<AgentFlags> ParseFlags(int argc, const char* const* argv);

// The usage text for --help.
std::string FlagsUsage();

// Splits a kernel command line into parameters: whitespace separates them except inside
// double quotes, which are removed (`a="b c"` is `a=b c`).
std::vector<std::string> SplitKernelCmdline(absl::string_view cmdline);

// Applies the `agent.*` parameters of `cmdline` to `config`. Unknown agent keys append a
// message to `warnings` (may be null). On error `config` may be partly updated.
absl::Status ApplyKernelCmdline(absl::string_view cmdline, AgentConfig* config,
                                std::vector<std::string>* warnings);

struct ConfigSources {
  std::string kernel_cmdline;                  // empty when not read
  std::optional<std::string> env_server_addr;  // KATA_AGENT_SERVER_ADDR
  std::optional<std::string> env_log_level;    // KATA_AGENT_LOG_LEVEL
  AgentFlags flags;
};

// Defaults <- kernel command line <- environment <- flags; the result is validated (the
// server address parses, see channel/address.h). Errors name the key or flag at fault.
absl::StatusOr<AgentConfig> ResolveConfig(const ConfigSources& sources,
                                          std::vector<std::string>* warnings);

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CONFIG_CONFIG_H_
