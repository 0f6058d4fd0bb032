// `kata-runtime exec <sandbox-id>`: a shell in the sandbox's guest through the agent's debug
// console (Kata's `kata-runtime exec`; enabled by [agent.kata] debug_console_enabled).
//
//   KATA_ASSIGN_OR_RETURN(std::string where, DebugConsoleAddress("s1", "/run/vc/vm"));
//   KATA_ASSIGN_OR_RETURN(int code, RunDebugConsole(where, 0, 1));  // the shell's exit code
//
// Finding it: the sandbox's VMM directory <vm_root>/<id> holds the console's unix socket
// (hypervisor::kDebugConsoleSocketName, the virtio-serial port's host end); on vhost-vsock
// hosts the VMM's command line (vmm.pid) names the guest CID and the kernel's
// `agent.debug_console`, and the console is vsock://CID:1026. Nothing else is needed from the
// sandbox's owner (the shim).
//
// Talking: bytes go both ways; stdin is put in raw mode when it is a terminal (restored after).
// At EOF on stdin that is not a terminal the terminal's EOF character (^D) is sent, so a shell
// reading a command ends. The session ends with the agent's end marker (the shell exited: its
// code is returned, the marker is not printed) or when the connection closes (code 0).
#ifndef KATA_SRC_RUNTIME_CLI_EXEC_H_
#define KATA_SRC_RUNTIME_CLI_EXEC_H_

#include <string>

#include "absl/status/statusor.h"

namespace kata::runtime::cli {

// The agent's end-of-session marker (src/agent/debug_console/debug_console.h; the two sides
// meet on the wire only): prefix, the exit code in decimal, suffix.
inline constexpr char kConsoleEndPrefix[] = "\x1b]kata-debug-console;exit=";
inline constexpr char kConsoleEndSuffix[] = "\x07";

// The console's address ("unix://PATH" or "vsock://CID:1026"). INVALID_ARGUMENT for an id
// that is not a plain name (ids.h: no path can be reached through it), NOT_FOUND "sandbox X:
// not found" when it has no VMM directory, FAILED_PRECONDITION "sandbox X: debug console is
// not enabled (agent.kata.debug_console_enabled = false)".
absl::StatusOr<std::string> DebugConsoleAddress(const std::string& sandbox_id,
                                                const std::string& vm_root);

// Connects to `address` and copies stdin -> console and console -> stdout until the session
// ends; the shell's exit code (0 when the connection closed without a marker).
absl::StatusOr<int> RunDebugConsole(const std::string& address, int stdin_fd, int stdout_fd);

}  // namespace kata::runtime::cli

#endif  // KATA_SRC_RUNTIME_CLI_EXEC_H_
