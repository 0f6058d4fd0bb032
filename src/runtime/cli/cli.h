// kata-runtime, the administrator's command (Kata's `kata-runtime`), as a library: the
// binary (main.cc) only forwards argv and the standard streams.
//
//   kata-runtime [--config PATH] check [--boot-probe] [--strict]
//       Can this host run kata-cpp? QEMU (found, version, 9p device), the accelerator
//       (TCG always; KVM: /dev/kvm, its API version, and, with --boot-probe, whether a
//       guest kernel really boots on it — otherwise "offered, not verified"), vsock
//       (/dev/vhost-vsock, else the agent channel is virtio-serial), the configured kernel
//       and initrd; the configuration's warnings (a key of Kata's that kata-cpp does not act
//       on, config/kata_keys.h), one "warn" line each. One line per item, "ok"/"warn"/"FAIL";
//       exit 0 unless a FAIL (with --strict, also unless a warn).
//   kata-runtime [--config PATH] env [--json]
//       The resolved configuration (which file, from where) and the host facts, as TOML-like
//       sections or one JSON object.
//   kata-runtime metrics <sandbox-id>
//       The sandbox's Prometheus metrics from its shim's management socket (metrics_cmd.h).
//   kata-runtime exec SANDBOX-ID
//       A shell in the sandbox's guest through the agent's debug console ([agent.kata]
//       debug_console_enabled; exec.h), found under CliContext::vm_root; raw terminal when
//       stdin is one; exits with the shell's code, 1 (and the reason: unknown sandbox, console
//       not enabled, not reachable) when there is none.
//   kata-runtime trace FILE [--trace-id HEX]
//       One trace of an OTLP/JSON trace file ([runtime] enable_tracing with a file://
//       tracing_endpoint) as a waterfall: the shim's and the agent's spans in one tree
//       (trace_cmd.h).
//   kata-runtime version
//       The version of kata-cpp's runtime and the OCI spec it implements.
//
// The configuration is found as the shim finds it (config/resolve.h): --config, then
// KATA_CONF_FILE, /etc/kata-containers/configuration.toml, the installed default.
// Exit codes: 0 ok, 1 a failed check or error, 2 usage.
#ifndef KATA_SRC_RUNTIME_CLI_CLI_H_
#define KATA_SRC_RUNTIME_CLI_CLI_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "src/runtime/config/resolve.h"

namespace kata::runtime::cli {

inline constexpr char kVersion[] = "0.1.0";
inline constexpr char kOciVersion[] = "1.1.0";

struct CliContext {
  config::Environment env = config::ProcessEnvironment();
  config::SearchPaths search;
  absl::Duration boot_probe_timeout = absl::Seconds(20);
  std::string shim_state_root = "/run/vc/sbs";  // sandbox/layout.h kShimStateRoot
  std::string vm_root = "/run/vc/vm";           // sandbox/layout.h's kVmRoot: the VMM directories
  int stdin_fd = 0;                             // exec's streams
  int stdout_fd = 1;
};

// args excludes the program name.
int RunKataRuntime(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                   const CliContext& context = {});

}  // namespace kata::runtime::cli

#endif  // KATA_SRC_RUNTIME_CLI_CLI_H_
