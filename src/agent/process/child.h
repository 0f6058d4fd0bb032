// Internal to //src/agent/process: what runs in the forked child of Process::Start. The agent
// prepares a ChildPlan before fork; the child follows it step by step (release, stdio, hooks,
// namespaces, terminal, cwd, user, exec gate, exec) and reports a failure before exec as a
// ChildReport on the CLOEXEC report pipe (nothing arrives, EOF, when exec succeeds).
//
// Contract: RunChild and RunIntermediate run in a fork of a multi-threaded process: they make
// async-signal-safe calls and raw syscalls only (plus the caller's hooks, see process.h), and
// allocate nothing themselves: every string they need is in the plan. The fds of a plan are
// borrowed (owned by Process::Start until the start ends): plain ints on purpose, since the
// child never runs destructors (it leaves by exec or _exit).
#ifndef KATA_SRC_AGENT_PROCESS_CHILD_H_
#define KATA_SRC_AGENT_PROCESS_CHILD_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "src/agent/process/process.h"
#include "src/agent/process/terminal.h"

namespace kata {
namespace agent {
namespace internal {

// What the child writes to the report pipe: a failure before exec, or (with an exec gate)
// that everything before exec succeeded. One write of < PIPE_BUF bytes: atomic.
struct ChildReport {
  int32_t kind;  // kReportErrno: value is an errno; kReportStatus: an absl::StatusCode
  int32_t value;
  char msg[1024];  // the step ("exec /no/such") or the hook's message; NUL-terminated
};
constexpr int32_t kReportErrno = 1;
constexpr int32_t kReportStatus = 2;
constexpr int32_t kReportReady = 3;  // exec gate: everything before exec succeeded

// Everything the child needs, prepared by the parent.
struct ChildPlan {
  int stdio[3] = {-1, -1, -1};  // moved to fds 0, 1, 2
  int report_fd = -1;  // -1 once the gate was reported: failures are then silent (exit 127)
  int sync_fd = -1;    // read end the child waits on until the agent releases it; -1: none
  int unshare_flags = 0;
  int gate_fd = -1;
  bool reap_at_gate = false;
  std::vector<int> keep;  // sorted, unique: fds that survive the close sweep
  int max_fd = 1 << 20;   // fallback sweep bound when close_range is missing
  bool terminal = false;
  TerminalPlan tty;                       // terminal only
  const ChildHook* early_hook = nullptr;  // nullptr once run (two-step: by the intermediate)
  const ChildHook* hook = nullptr;
  const ChildHook* post_user_hook = nullptr;
  bool userns_root = false;   // two-step: become root of the user namespace after the sync
  const char* cwd = nullptr;  // nullptr: stay
  std::string chdir_msg;
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string setgroups_msg, setgid_msg, setuid_msg;
  std::vector<std::string> exec_paths;  // candidates, tried in order
  std::vector<char*> argv, envp;        // NULL-terminated
  std::string exec_msg;
};

// The child: follows `plan` up to exec (or _exit(127) after reporting a failure).
[[noreturn]] void RunChild(ChildPlan& plan);

// The intermediate process of a two-step start (process.h): runs the early hook, joins each
// of `join`, clones the child with CLONE_PARENT | `clone_flags` (so it is the agent's child),
// writes its pid (int32_t) to `pid_fd` and exits 0. A failure is reported as RunChild's are.
[[noreturn]] void RunIntermediate(ChildPlan& plan, const std::vector<int>& join, int clone_flags,
                                  int pid_fd);

// The paths exec tries for `prog`: itself when it has a '/', else each directory of the PATH
// of `env` (default "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").
std::vector<std::string> ExecCandidates(const std::string& prog,
                                        const std::vector<std::string>& env);

}  // namespace internal
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_PROCESS_CHILD_H_
