// Internal to //src/agent/process: the registry of the children Process owns, and the orphan
// reaper of reaper.h, which reaps every other child of the agent.
//
//   pid_t pid = ChildRegistry::Get().ForkRegistered([&] { return fork(); });
//   ...
//   int status = ChildRegistry::Get().Reap(pid);  // waitpid + unregister
//
// Contract: a pid is registered under the registry's lock together with the fork that created
// it, and unregistered under the same lock together with the waitpid that reaps it; the
// reaper decides a zombie is unknown under that lock, so it never steals an exit code of a
// registered child. Thread-safe; the registry lives as long as the process.
#ifndef KATA_SRC_AGENT_PROCESS_REGISTRY_H_
#define KATA_SRC_AGENT_PROCESS_REGISTRY_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"

namespace kata {
namespace agent {
namespace internal {

class ChildRegistry {
 public:
  static ChildRegistry& Get();

  // Runs `fork_fn` (forks; returns the new pid, or -1) with the lock held and registers a
  // positive result before unlocking. Returns what fork_fn returned.
  pid_t ForkRegistered(absl::FunctionRef<pid_t()> fork_fn) ABSL_LOCKS_EXCLUDED(mu_);
  // Registers a child created otherwise (the grandchild of a two-step start, which cannot exit
  // before the agent releases it).
  void Add(pid_t pid) ABSL_LOCKS_EXCLUDED(mu_);
  // Reaps the registered child `pid` (blocking) and unregisters it: its wait status, or -1
  // when it was not the caller's to reap (ECHILD).
  int Reap(pid_t pid) ABSL_LOCKS_EXCLUDED(mu_);

  // The reaper's loop (never returns): reaps every exited child that is not registered.
  void ReapOrphansForever() ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t orphans_reaped() const { return orphans_reaped_.load(); }

 private:
  ChildRegistry() = default;

  absl::Mutex mu_;
  absl::CondVar changed_;  // a child was registered or unregistered
  std::set<pid_t> pids_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> orphans_reaped_{0};
};

}  // namespace internal
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_PROCESS_REGISTRY_H_
