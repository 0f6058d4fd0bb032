#include "src/agent/rpc/completions.h"

#include <system_error>
#include <utility>

namespace kata {
namespace agent {

Completions::~Completions() { Stop(); }

uint64_t Completions::NewId() {
  absl::MutexLock lock(&mu_);
  return ++next_id_;
}

void Completions::Add(uint64_t id, Task task) {
  Task old;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) {
      old = std::move(task);
    } else {
      Task& slot = filed_[id];
      old = std::move(slot);
      slot = std::move(task);
    }
  }
  // `old` goes here, with no lock held.
}

void Completions::Wake(uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  auto it = filed_.find(id);
  if (it == filed_.end()) return;
  queue_.push_back(std::move(it->second));
  filed_.erase(it);
  if (idle_ > 0) cv_.Signal();
  if (static_cast<int>(queue_.size()) <= idle_ || threads_ >= max_threads_) return;
  try {
    workers_.emplace_back(&Completions::Work, this);
    ++threads_;
  } catch (const std::system_error&) {
    // No thread: the running workers (if any) take it; with none, Stop drops it.
  }
}

void Completions::Forget(uint64_t id) {
  Task task;
  {
    absl::MutexLock lock(&mu_);
    auto it = filed_.find(id);
    if (it == filed_.end()) return;
    task = std::move(it->second);
    filed_.erase(it);
  }
}

std::function<void()> Completions::Waker(uint64_t id) {
  return [weak = weak_from_this(), id] {
    if (std::shared_ptr<Completions> self = weak.lock()) self->Wake(id);
  };
}

std::function<void()> Completions::Forgetter(uint64_t id) {
  return [weak = weak_from_this(), id] {
    if (std::shared_ptr<Completions> self = weak.lock()) self->Forget(id);
  };
}

void Completions::Work() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    while (queue_.empty() && !stopped_) {
      ++idle_;
      cv_.Wait(&mu_);
      --idle_;
    }
    if (stopped_) return;
    Task task = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    task();
    task = nullptr;
    mu_.Lock();
  }
}

void Completions::Stop() {
  absl::flat_hash_map<uint64_t, Task> filed;
  std::deque<Task> queued;
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    cv_.SignalAll();
    filed.swap(filed_);
    queued.swap(queue_);
    workers.swap(workers_);
  }
  for (std::thread& t : workers) t.join();
  // `filed` and `queued` go here, on the caller's thread.
}

int Completions::waiting() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(filed_.size() + queue_.size());
}

}  // namespace agent
}  // namespace kata
