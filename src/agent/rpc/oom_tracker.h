// The OOM kills of the agent's containers, as GetOOMEvent hands them to the host (one event
// per increase of a container's OOM-kill counter, to one caller), with two promises beyond
// polling the counters:
// - No kill is lost: a count seen when a container's process exits or the container is
//   removed (Forget) is queued and handed out even after the container is gone.
// - A kill is handed out before the exit that follows it: WaitProcess, after the exit,
//   passes the container's counter to Update and then AwaitAcked, which returns once every
//   event of that container was handed out AND a later GetOOMEvent call started (the host's
//   watcher asks again only after it has published the previous event, so containerd sees
//   /tasks/oom before /tasks/exit). Bounded by `timeout`; no wait at all while no
//   GetOOMEvent call was ever made (nobody would take the event).
//
//   OomTracker oom;
//   oom.Track("c1", count_at_create);
//   oom.Update("c1", count_now);                  // poll, exit, removal
//   std::optional<std::string> id = oom.Take();    // GetOOMEvent, after CallStarted()
//   oom.AwaitAcked("c1", absl::Seconds(2));        // WaitProcess, before answering
//   oom.Forget("c1", final_count);                 // RemoveContainer
//
// Thread-safe.
#ifndef KATA_SRC_AGENT_RPC_OOM_TRACKER_H_
#define KATA_SRC_AGENT_RPC_OOM_TRACKER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kata {
namespace agent {

class OomTracker {
 public:
  // Starts following container `id` whose counter is `count` now (kills before are not
  // reported: a reused cgroup may have some).
  void Track(const std::string& id, uint64_t count);
  // A counter read of `id`: above what was last reported, one event is queued. A container
  // not tracked (never, or forgotten) is ignored.
  void Update(const std::string& id, uint64_t count);
  // Update with `final_count` (when known), then stops following `id`; its queued events stay.
  void Forget(const std::string& id, std::optional<uint64_t> final_count);
  // A GetOOMEvent call started: everything handed out before is acknowledged.
  void CallStarted();
  // The oldest queued event's container id, now handed out; nullopt when none is queued.
  std::optional<std::string> Take();
  // Waits until `id` has no event that is queued or handed out but not acknowledged, at most
  // `timeout`; at once when no GetOOMEvent call was ever made. False on timeout.
  bool AwaitAcked(const std::string& id, absl::Duration timeout);

 private:
  absl::Mutex mu_;
  std::map<std::string, uint64_t> reported_ ABSL_GUARDED_BY(mu_);  // per tracked container
  std::deque<std::pair<uint64_t, std::string>> queue_ ABSL_GUARDED_BY(mu_);  // (seq, id)
  std::map<std::string, uint64_t> last_seq_ ABSL_GUARDED_BY(mu_);  // of each id's newest event
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t handed_ ABSL_GUARDED_BY(mu_) = 0;  // seq of the newest event handed out
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;   // handed_ when the latest call started
  bool any_call_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_OOM_TRACKER_H_
