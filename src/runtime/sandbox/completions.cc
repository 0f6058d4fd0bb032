#include "src/runtime/sandbox/completions.h"

namespace kata::runtime {

Completions::~Completions() { Stop(); }

void Completions::Begin(const std::string& cid, const std::string& exec_id) {
  Reap();
  absl::MutexLock l(&mu_);
  ++pending_[{cid, exec_id}];
}

void Completions::Finish(const std::string& cid, const std::string& exec_id,
                         absl::AnyInvocable<void()> work) {
  absl::MutexLock l(&mu_);
  const uint64_t id = next_thread_++;
  threads_.emplace(
      id, std::thread([this, id, key = Key(cid, exec_id), work = std::move(work)]() mutable {
        work();
        work = nullptr;  // what it holds goes before the call counts as finished
        absl::MutexLock l(&mu_);
        auto it = pending_.find(key);
        if (it != pending_.end() && --it->second <= 0) pending_.erase(it);
        done_.push_back(id);
        changed_.SignalAll();
      }));
}

void Completions::End(const std::string& cid, const std::string& exec_id) {
  absl::MutexLock l(&mu_);
  auto it = pending_.find({cid, exec_id});
  if (it != pending_.end() && --it->second <= 0) pending_.erase(it);
  changed_.SignalAll();
}

void Completions::Reap() {
  std::vector<std::thread> done;
  {
    absl::MutexLock l(&mu_);
    for (uint64_t id : done_) {
      auto it = threads_.find(id);
      if (it == threads_.end()) continue;
      done.push_back(std::move(it->second));
      threads_.erase(it);
    }
    done_.clear();
  }
  for (std::thread& t : done) t.join();  // each has returned from its work: a short wait
}

bool Completions::Busy(const std::string& cid, const std::optional<std::string>& exec_id) const {
  for (auto it = pending_.lower_bound({cid, ""}); it != pending_.end(); ++it) {
    if (it->first.first != cid) break;
    if (!exec_id.has_value() || it->first.second == *exec_id) return true;
  }
  return false;
}

void Completions::AwaitIdle(const std::string& cid, const std::optional<std::string>& exec_id) {
  {
    absl::MutexLock l(&mu_);
    while (Busy(cid, exec_id)) changed_.Wait(&mu_);
  }
  Reap();
}

void Completions::Stop() {
  {
    absl::MutexLock l(&mu_);
    while (!pending_.empty() || done_.size() != threads_.size()) changed_.Wait(&mu_);
  }
  Reap();
}

int Completions::pending() const {
  absl::MutexLock l(&mu_);
  int n = 0;
  for (const auto& [key, count] : pending_) n += count;
  return n;
}

int Completions::threads() const {
  absl::MutexLock l(&mu_);
  return static_cast<int>(threads_.size());
}

}  // namespace kata::runtime
