#include "src/agent/rpc/oom_tracker.h"

namespace kata {
namespace agent {

void OomTracker::Track(const std::string& id, uint64_t count) {
  absl::MutexLock l(&mu_);
  reported_[id] = count;
}

void OomTracker::Update(const std::string& id, uint64_t count) {
  absl::MutexLock l(&mu_);
  auto it = reported_.find(id);
  if (it == reported_.end() || count <= it->second) return;
  it->second = count;
  const uint64_t seq = next_seq_++;
  queue_.emplace_back(seq, id);
  last_seq_[id] = seq;
}

void OomTracker::Forget(const std::string& id, std::optional<uint64_t> final_count) {
  if (final_count.has_value()) Update(id, *final_count);
  absl::MutexLock l(&mu_);
  reported_.erase(id);
}

void OomTracker::CallStarted() {
  absl::MutexLock l(&mu_);
  any_call_ = true;
  acked_ = handed_;
  // Acknowledged events need no record any more.
  for (auto it = last_seq_.begin(); it != last_seq_.end();) {
    it = it->second <= acked_ ? last_seq_.erase(it) : std::next(it);
  }
}

std::optional<std::string> OomTracker::Take() {
  absl::MutexLock l(&mu_);
  if (queue_.empty()) return std::nullopt;
  auto [seq, id] = std::move(queue_.front());
  queue_.pop_front();
  handed_ = seq;
  return id;
}

bool OomTracker::AwaitAcked(const std::string& id, absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  auto done = [this, &id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!any_call_) return true;
    auto it = last_seq_.find(id);
    return it == last_seq_.end() || it->second <= acked_;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

}  // namespace agent
}  // namespace kata
