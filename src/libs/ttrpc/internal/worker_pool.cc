#include "src/libs/ttrpc/internal/worker_pool.h"

#include <system_error>
#include <utility>

namespace kata {
namespace ttrpc {
namespace internal {

WorkerPool::WorkerPool(int max_threads, absl::Duration idle_timeout)
    : max_threads_(max_threads < 1 ? 1 : max_threads), idle_timeout_(idle_timeout) {}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Submit(std::function<void()> task) {
  std::vector<std::thread> to_join;
  {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
    to_join.swap(finished_);
    // Each queued task needs a thread of its own. An idle thread takes one (and counts as
    // idle until it wakes, so signalling it again would not make it take two): start a new
    // thread whenever the queue outgrows the idle threads.
    if (idle_ > 0) work_cv_.Signal();
    if (tasks_.size() > static_cast<size_t>(idle_) && threads_ < max_threads_ && !stopping_) {
      // Out of threads: the task waits for a running one.
      (void)StartThread();
    }
  }
  for (std::thread& t : to_join) t.join();
}

bool WorkerPool::TrySubmit(std::function<void()> task) {
  std::vector<std::thread> to_join;
  bool taken = false;
  {
    absl::MutexLock lock(&mu_);
    to_join.swap(finished_);
    if (!stopping_) {
      // Queued tasks are each promised an idle thread already: this one needs another.
      if (tasks_.size() < static_cast<size_t>(idle_)) {
        taken = true;
        work_cv_.Signal();
      } else if (threads_ < max_threads_) {
        taken = StartThread();
      }
      if (taken) tasks_.push_back(std::move(task));
    }
  }
  for (std::thread& t : to_join) t.join();
  return taken;
}

bool WorkerPool::StartThread() {
  std::thread t;
  try {
    t = std::thread(&WorkerPool::Work, this);
  } catch (const std::system_error&) {
    return false;
  }
  ++threads_;
  const std::thread::id id = t.get_id();
  live_.emplace(id, std::move(t));
  return true;
}

void WorkerPool::Work() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    while (tasks_.empty() && !stopping_) {
      ++idle_;
      const bool timed_out = work_cv_.WaitWithTimeout(&mu_, idle_timeout_);
      --idle_;
      if (timed_out && tasks_.empty() && !stopping_) {
        Leave();
        return;
      }
    }
    if (tasks_.empty()) break;  // stopping and drained
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    mu_.Unlock();
    task();
    task = nullptr;
    mu_.Lock();
  }
  Leave();
}

void WorkerPool::Leave() {
  auto it = live_.find(std::this_thread::get_id());
  if (it != live_.end()) {
    finished_.push_back(std::move(it->second));
    live_.erase(it);
  }
  --threads_;
  exited_cv_.SignalAll();
}

void WorkerPool::Stop() {
  std::vector<std::thread> to_join;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    work_cv_.SignalAll();
    while (threads_ > 0) exited_cv_.Wait(&mu_);
    to_join.swap(finished_);
  }
  for (std::thread& t : to_join) t.join();
}

}  // namespace internal
}  // namespace ttrpc
}  // namespace kata
