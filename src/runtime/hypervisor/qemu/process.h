// A child process in its own process group, for running a VMM.
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> p,
//                         ChildProcess::Spawn({"qemu-system-x86_64", ...}, {.log_path = log}));
//   if (p->TryWait()) { ... it exited: p->exit_description() ... }
//   p->Terminate(absl::Seconds(3));   // SIGTERM to the group, SIGKILL after the grace period
//
// Contracts: the child runs in a new process group (pgid == pid) with stdin from /dev/null (or
// SpawnOptions::stdin_fd), stdout+stderr appended to log_path, and no other fd than those
// (0-2) and SpawnOptions::inherit_fds: nothing the parent left open (a listening socket, a pipe)
// leaks in. One reaper thread per child is the only caller of wait*(2) for it: it blocks until the
// child exits (a stopped child, SIGSTOP, has not exited), records the wait status and wakes every
// waiter, so any number of threads may call TryWait, WaitFor, Kill and Terminate concurrently and
// none of them races to reap. A signal is sent only while the child is unreaped (its pid and group
// cannot have been reused). The destructor SIGKILLs the group and reaps the child if it is still
// running, so a ChildProcess never outlives its owner's scope. Nothing else in the process may reap
// the child (no waitpid(-1)).
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_PROCESS_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kata::hypervisor::qemu {

struct SpawnOptions {
  std::string log_path;          // required; created (mode 0640) or appended to
  bool die_with_parent = false;  // PR_SET_PDEATHSIG(SIGKILL): dies when the spawning thread dies
  // Fds the child gets at the same numbers (each >= 3; e.g. a vhost-vsock fd QEMU is told
  // about on its command line). Every other fd of the parent is closed in the child, whether
  // or not it is close-on-exec.
  std::vector<int> inherit_fds;
  // The child's stdin (dup'ed to 0); -1: /dev/null.
  int stdin_fd = -1;
  // PR_SET_THP_DISABLE before the exec (kept across execve, inherited by its children): no
  // transparent huge pages, even where the program asks for them (QEMU's MADV_HUGEPAGE on guest
  // RAM), so touching a byte makes 4 KiB resident, not 2 MiB. A failure fails the spawn.
  bool disable_transparent_hugepages = false;
};

class ChildProcess {
 public:
  // Starts argv (argv[0] searched in PATH if it has no '/'). NOT_FOUND/PERMISSION_DENIED
  // etc. when exec fails (reported synchronously, nothing left running).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& argv,
                                                             const SpawnOptions& options);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // True once the child has exited (reaped); never blocks.
  bool TryWait();
  // Waits up to `timeout` (absl::InfiniteDuration(): for ever) for the child to exit; true if
  // it has.
  bool WaitFor(absl::Duration timeout);
  // SIGTERM to the group, then SIGKILL after `grace`; returns once reaped.
  void Terminate(absl::Duration grace);
  // SIGKILL to the group; returns once reaped.
  void Kill();

  bool exited() const;
  // The wait(2) status once exited (see <sys/wait.h>: WIFEXITED, WTERMSIG, ...); 0 before.
  int wait_status() const;
  // "exited with status N" / "killed by signal N (SIGNAME)"; empty while running.
  std::string exit_description() const;

 private:
  explicit ChildProcess(pid_t pid);
  // The reaper thread's body: waits for the exit, reaps, records, wakes the waiters.
  void Reap();
  // Sends `sig` to the child's group (and the child) unless it has been reaped.
  void Signal(int sig);

  const pid_t pid_;
  mutable absl::Mutex mu_;
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
  int wait_status_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread reaper_;
};

// The last `max_bytes` of a file (for error messages quoting a log); empty if unreadable.
std::string ReadFileTail(const std::string& path, size_t max_bytes);

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_PROCESS_H_
