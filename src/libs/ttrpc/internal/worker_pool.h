// An elastic, bounded thread pool: threads are started on demand up to `max_threads`, and
// leave after `idle_timeout` without work. Tasks beyond what the threads can take wait in
// FIFO order. Stop() runs what was queued and joins every thread.
//
// TrySubmit never queues: the task runs on an idle thread or a new one at once, or is refused
// (every one of `max_threads` busy, or no thread can be started).
#ifndef KATA_SRC_LIBS_TTRPC_INTERNAL_WORKER_POOL_H_
#define KATA_SRC_LIBS_TTRPC_INTERNAL_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kata {
namespace ttrpc {
namespace internal {

class WorkerPool {
 public:
  WorkerPool(int max_threads, absl::Duration idle_timeout);
  ~WorkerPool();  // Stop()

  void Submit(std::function<void()> task);
  // Runs `task` at once on a thread of its own; false (and `task` dropped) if none is free
  // and none can be started.
  bool TrySubmit(std::function<void()> task);
  void Stop();

 private:
  void Work();
  void Leave() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts one more thread; false if the system has none to give.
  bool StartThread() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int max_threads_;
  const absl::Duration idle_timeout_;
  absl::Mutex mu_;
  absl::CondVar work_cv_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  int threads_ ABSL_GUARDED_BY(mu_) = 0;
  int idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar exited_cv_;
  // Running threads by id; a thread that leaves moves its handle to finished_, and whoever
  // next holds no lock joins it (so no thread outlives the pool).
  absl::flat_hash_map<std::thread::id, std::thread> live_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> finished_ ABSL_GUARDED_BY(mu_);
};

}  // namespace internal
}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_INTERNAL_WORKER_POOL_H_
