// Where the agent's deferred calls wait (WaitProcess, ReadStdout, ReadStderr: see
// ttrpc/service.h's DeferredResponse): each waiting call is a task filed under an id, run
// when an event source (Process::NotifyExited/NotifyReadable) wakes that id. Waking only
// moves the task to a queue run by a few worker threads (at most `max_threads`, started on
// demand, kept until Stop), so no thread waits per call and a process's own threads never
// run (or free) a task: they hold no reference to what the task owns.
//
//   const uint64_t id = completions->NewId();
//   DeferredResponse d = ctx.Defer(completions->Forgetter(id));   // cancelled: task dropped
//   completions->Add(id, [d = std::move(d), ...]() mutable { ...; d.Finish(status, response); });
//   process->NotifyExited(completions->Waker(id));
//
// Promises: a task runs at most once, on a worker thread, never after Stop. Forget drops a
// task not run yet (on the caller's thread). Stop (idempotent) drops the tasks still filed
// or queued (on the caller's thread), waits for running ones and joins the workers; wakers
// called after it do nothing. The object is shared (wakers hold it weakly).
#ifndef KATA_SRC_AGENT_RPC_COMPLETIONS_H_
#define KATA_SRC_AGENT_RPC_COMPLETIONS_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace kata {
namespace agent {

class Completions : public std::enable_shared_from_this<Completions> {
 public:
  using Task = absl::AnyInvocable<void()>;

  explicit Completions(int max_threads = 4) : max_threads_(max_threads < 1 ? 1 : max_threads) {}
  ~Completions();  // Stop()
  Completions(const Completions&) = delete;
  Completions& operator=(const Completions&) = delete;

  uint64_t NewId();
  // Files `task` under `id` (replacing one filed there); dropped at once after Stop.
  void Add(uint64_t id, Task task);
  // Queues the task filed under `id` to run (nothing if none).
  void Wake(uint64_t id);
  // Drops the task filed under `id`, if not queued yet.
  void Forget(uint64_t id);
  // Callables for event sources and ServerContext::Defer (hold this object weakly).
  std::function<void()> Waker(uint64_t id);
  std::function<void()> Forgetter(uint64_t id);

  void Stop();
  // Tasks filed and not run yet (for tests).
  int waiting();

 private:
  void Work();

  const int max_threads_;
  absl::Mutex mu_;
  absl::CondVar cv_;  // work queued, or stopped
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Task> filed_ ABSL_GUARDED_BY(mu_);
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  int threads_ ABSL_GUARDED_BY(mu_) = 0;
  int idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_COMPLETIONS_H_
