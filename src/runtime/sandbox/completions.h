// Where the sandbox finishes its asynchronous guest calls (the agent's WaitProcessAsync):
// their completions arrive on the transport's reading thread, which must not block, while
// finishing them may block (confirming a VM's death, the exit observer waiting for output).
//
//   Completions c;
//   c.Begin("c1", "e1");                                   // a call for (c1, e1) is pending
//   agent->WaitProcessAsync(r, [&c](auto got) {
//     c.Finish("c1", "e1", [got = std::move(got)] { ... });  // queued; never blocks
//   });
//   c.AwaitIdle("c1");  // until every pending call of c1 was finished (its work returned)
//   c.Stop();           // until every pending call was finished; no thread left
//
// Contracts:
//   - Thread-safe. Each Begin is matched by exactly one Finish or End; the waits below block until
//     they are.
//   - A pending call costs no thread. Finish runs its work on a thread of its own that ends
//     with the work, so one slow finish (an observer waiting for a process's output) never
//     delays another; those threads are joined by the next Begin, AwaitIdle or Stop.
//   - Work must not call AwaitIdle or Stop (it would wait for itself).
#ifndef KATA_SRC_RUNTIME_SANDBOX_COMPLETIONS_H_
#define KATA_SRC_RUNTIME_SANDBOX_COMPLETIONS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace kata::runtime {

class Completions {
 public:
  Completions() = default;
  ~Completions();  // Stop()
  Completions(const Completions&) = delete;
  Completions& operator=(const Completions&) = delete;

  // A call for process (cid, exec_id) is pending.
  void Begin(const std::string& cid, const std::string& exec_id);
  // The call completed: runs `work`, then the call no longer counts as pending.
  void Finish(const std::string& cid, const std::string& exec_id, absl::AnyInvocable<void()> work);
  // The call completed with nothing left to do (no thread): it no longer counts as pending.
  void End(const std::string& cid, const std::string& exec_id);
  // Blocks until no call of `cid` (of process (cid, *exec_id) when given) is pending.
  void AwaitIdle(const std::string& cid, const std::optional<std::string>& exec_id = std::nullopt);
  // Blocks until no call is pending and every finishing thread has ended.
  void Stop();

  // Calls begun and not yet finished, and threads running (or not yet joined).
  int pending() const;
  int threads() const;

 private:
  using Key = std::pair<std::string, std::string>;
  // Joins the finishing threads that are done.
  void Reap();
  bool Busy(const std::string& cid, const std::optional<std::string>& exec_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // a call finished
  std::map<Key, int> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_thread_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> done_ ABSL_GUARDED_BY(mu_);  // threads whose work returned
};

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_COMPLETIONS_H_
