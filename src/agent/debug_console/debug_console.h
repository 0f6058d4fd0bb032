// The agent's debug console (Kata's `agent.debug_console`): a root shell in the guest's own
// root (not in any container) on a pty, for `kata-runtime exec <sandbox>`. The agent starts it
// only when its kernel command line carries `agent.debug_console`; it runs on a thread of its
// own and never touches the RPC service.
//
//   KATA_ASSIGN_OR_RETURN(AgentAddress where, ParseAgentAddress(config.debug_console_addr));
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<DebugConsole> console, DebugConsole::Start(where, {}));
//   ...
//   console->Stop();
//
// Where it is served:
// - a listen address (vsock://-1:1026 as Kata's agent, unix://PATH on a host): one connection
//   at a time, each a session; the connection is closed when the session ends.
// - a virtio-serial port (serial://agent.debug_console, where the host has no vhost-vsock): a
//   port has no connections. A host is "there" while a read would block (EAGAIN) rather than
//   return EOF (the guest kernel reports a port without a host as EOF); the port is looked at
//   every `poll_interval` until one comes, and a session lasts until it goes.
//
// A session: `shell` starts when a host arrives, with a pty as its controlling terminal and
// fds 0-2; bytes go both ways until the host goes (the shell's process group is then killed)
// or the shell exits. Then the agent writes the end marker, kSessionEndPrefix + the shell's
// exit code + kSessionEndSuffix (an OSC escape sequence, which terminals ignore), because a
// virtio-serial host sees no close: `kata-runtime exec` stops at it and exits with that code.
// After a shell exit the console waits for that host to go before it serves the next one (a
// host that sends input meanwhile gets a new session at once: on a virtio-serial port a close
// and the next connection can reach the guest together, and then no close is seen).
//
// Promises: Start fails (naming the address) only when the address cannot be parsed, listened
// on, or the port is not there; a shell that cannot start is reported to the host as text and
// an end marker with code 127. Stop is idempotent, kills a running shell and joins the thread.
#ifndef KATA_SRC_AGENT_DEBUG_CONSOLE_DEBUG_CONSOLE_H_
#define KATA_SRC_AGENT_DEBUG_CONSOLE_DEBUG_CONSOLE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/agent/channel/address.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {

inline constexpr char kSessionEndPrefix[] = "\x1b]kata-debug-console;exit=";
inline constexpr char kSessionEndSuffix[] = "\x07";

class DebugConsole {
 public:
  struct Options {
    SysRoots roots;  // where a port is looked up by name
    std::vector<std::string> shell = {"/bin/sh"};
    std::vector<std::string> env = {"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root",
                                    "TERM=vt100"};
    std::string cwd = "/";
    // Opens the serial device: a new non-blocking descriptor. Default: open(2) O_RDWR |
    // O_NOCTTY | O_NONBLOCK | O_CLOEXEC, made raw if it is a tty.
    std::function<absl::StatusOr<UniqueFd>(const std::string& path)> open_device;
    absl::Duration poll_interval = absl::Milliseconds(100);
  };

  static absl::StatusOr<std::unique_ptr<DebugConsole>> Start(const AgentAddress& address,
                                                             Options options);
  ~DebugConsole();  // Stop()
  DebugConsole(const DebugConsole&) = delete;
  DebugConsole& operator=(const DebugConsole&) = delete;

  void Stop();

  // The listen address or the serial device path.
  const std::string& endpoint() const { return endpoint_; }
  // Sessions started so far (shells run).
  int sessions() const { return sessions_.load(); }

 private:
  enum class End { kHostGone, kShellExited, kStopped };

  DebugConsole(Options options, UniqueFd wake);
  void ListenLoop();
  void SerialLoop(UniqueFd device);
  // Runs one session on `fd` (non-blocking), `first` being input already read from it.
  End RunSession(int fd, const std::string& first);
  // Serial only: waits until the host of an ended session has gone, or a host sends input
  // (then in *input: it starts the next session); false if stopped.
  bool AwaitHostGone(int fd, std::string* input);
  // Waits `d` or until Stop; false if stopped.
  bool Wait(absl::Duration d);

  Options options_;
  std::string endpoint_;
  const UniqueFd wake_;  // eventfd, signalled by Stop
  UniqueFd listen_fd_;   // listen addresses only
  std::atomic<bool> stopping_{false};
  std::atomic<int> sessions_{0};
  std::thread loop_;
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_DEBUG_CONSOLE_DEBUG_CONSOLE_H_
