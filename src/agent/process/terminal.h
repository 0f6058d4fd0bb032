// Internal to //src/agent/process: the terminal of a `terminal` process, set up as runc does.
// The child allocates the pty itself once its root is final (after child_hook: in a container,
// from the container's own devpts), so the name `tty` reports exists where the process runs;
// the slave becomes its controlling terminal and fds 0, 1 and 2, and the master travels to the
// agent over a unix socketpair (SCM_RIGHTS).
//
//   child:  if (const char* step = SetupTerminalInChild(plan.tty)) fail(errno, step);
//   agent:  KATA_ASSIGN_OR_RETURN(UniqueFd master, ReceivePtyMaster(console_r.get()));
//
// Contract: SetupTerminalInChild is async-signal-safe (a forked child may call it); the child
// must already be a session leader without a controlling terminal (setsid).
#ifndef KATA_SRC_AGENT_PROCESS_TERMINAL_H_
#define KATA_SRC_AGENT_PROCESS_TERMINAL_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace internal {

// The child's side of the terminal (fds borrowed from the start).
struct TerminalPlan {
  int console_fd = -1;    // the child's end of the socketpair the master goes back on
  int agent_dev_fd = -1;  // the agent's /dev (O_PATH): the fallback for a root without devpts
  uint16_t rows = 0;      // initial size; 0 x 0 = the kernel's default
  uint16_t cols = 0;
};

// In the child: opens a pty master from its root's /dev/ptmx (else /dev/pts/ptmx, else the
// agent's /dev/ptmx through `agent_dev_fd`), sets the size, makes the slave the controlling
// terminal and fds 0, 1, 2, sends the master on `console_fd`, then closes the master, the
// socket and agent_dev_fd. nullptr on success; on failure the step that failed
// ("terminal: open /dev/ptmx") with errno set.
const char* SetupTerminalInChild(const TerminalPlan& plan);

// In the agent: the pty master the child sent on `console_fd` (CLOEXEC here). INTERNAL when the
// child sent none (it died, or closed the socket, before).
absl::StatusOr<UniqueFd> ReceivePtyMaster(int console_fd);

}  // namespace internal
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_PROCESS_TERMINAL_H_
