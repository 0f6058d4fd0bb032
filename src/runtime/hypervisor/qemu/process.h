// A child process in its own process group, for running a VMM.
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> p,
//                         ChildProcess::Spawn({"qemu-system-x86_64", ...}, {.log_path = log}));
//   if (p->TryWait()) { ... it exited: p->exit_description() ... }
//   p->Terminate(absl::Seconds(3));   // SIGTERM to the group, SIGKILL after the grace period
//
// Contracts: the child runs in a new process group (pgid == pid) with stdin from /dev/null
// and stdout+stderr appended to log_path. The destructor SIGKILLs the group and reaps the
// child if it is still running, so a ChildProcess never outlives its owner's scope.
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_PROCESS_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kata::hypervisor::qemu {

struct SpawnOptions {
  std::string log_path;          // required; created (mode 0640) or appended to
  bool die_with_parent = false;  // PR_SET_PDEATHSIG(SIGKILL): dies when the spawning thread dies
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
  // Waits up to `timeout` for the child to exit; true if it has.
  bool WaitFor(absl::Duration timeout);
  // SIGTERM to the group, then SIGKILL after `grace`; returns once reaped.
  void Terminate(absl::Duration grace);
  // SIGKILL to the group; returns once reaped.
  void Kill();

  bool exited() const { return exited_; }
  // "exited with status N" / "killed by signal N (NAME)"; empty while running.
  std::string exit_description() const;

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool exited_ = false;
  int wait_status_ = 0;
};

// The last `max_bytes` of a file (for error messages quoting a log); empty if unreadable.
std::string ReadFileTail(const std::string& path, size_t max_bytes);

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_PROCESS_H_
