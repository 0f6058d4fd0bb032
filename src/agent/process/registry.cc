#include "src/agent/process/registry.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include <mutex>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "src/agent/process/reaper.h"
#include "src/libs/base/eintr.h"

namespace kata {
namespace agent {
namespace internal {

ChildRegistry& ChildRegistry::Get() {
  static ChildRegistry* registry = new ChildRegistry();
  return *registry;
}

pid_t ChildRegistry::ForkRegistered(absl::FunctionRef<pid_t()> fork_fn) {
  absl::MutexLock l(&mu_);
  const pid_t pid = fork_fn();
  if (pid > 0) {
    pids_.insert(pid);
    changed_.SignalAll();  // a reaper that found no children looks again
  }
  return pid;
}

void ChildRegistry::Add(pid_t pid) {
  absl::MutexLock l(&mu_);
  pids_.insert(pid);
  changed_.SignalAll();
}

int ChildRegistry::Reap(pid_t pid) {
  absl::MutexLock l(&mu_);
  int status = 0;
  const pid_t got = RetryEintr([&] { return waitpid(pid, &status, 0); });
  pids_.erase(pid);
  changed_.SignalAll();
  return got == pid ? status : -1;
}

void ChildRegistry::ReapOrphansForever() {
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (RetryEintr([&] { return waitid(P_ALL, 0, &si, WEXITED | WNOWAIT); }) != 0) {
      // ECHILD: no children at all; a new one can only come from a fork of ours.
      absl::MutexLock l(&mu_);
      changed_.WaitWithTimeout(&mu_, absl::Seconds(1));
      continue;
    }
    const pid_t pid = si.si_pid;
    absl::MutexLock l(&mu_);
    if (pids_.count(pid) == 0) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) orphans_reaped_.fetch_add(1);
      continue;
    }
    // A Process's own child: its waiter reaps it; wait for that before looking again.
    const absl::Time deadline = absl::Now() + absl::Milliseconds(100);
    while (pids_.count(pid) != 0) {
      if (changed_.WaitWithDeadline(&mu_, deadline)) break;  // timed out
    }
  }
}

}  // namespace internal

void StartOrphanReaper() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::thread([] { internal::ChildRegistry::Get().ReapOrphansForever(); }).detach();
  });
}

uint64_t OrphansReaped() { return internal::ChildRegistry::Get().orphans_reaped(); }

}  // namespace agent
}  // namespace kata
