// The guest agent's cgroup manager: one container's cgroup, behind a pure interface.
//
//   KATA_ASSIGN_OR_RETURN(auto mgr, NewCgroupManager(CgroupOptions{}));   // see detect.h
//   KATA_RETURN_IF_ERROR(mgr->Create("kata/c1", spec.linux->resources.value()));
//   KATA_RETURN_IF_ERROR(mgr->AddProcess(pid));
//   ...
//   KATA_RETURN_IF_ERROR(mgr->Freeze(absl::Seconds(5)));
//   KATA_ASSIGN_OR_RETURN(CgroupStats s, mgr->Stats());
//   KATA_RETURN_IF_ERROR(mgr->Destroy());   // after the processes are gone
//
// Two implementations: cgroup v1 (one hierarchy per controller, v1.h) and cgroup v2 (one
// unified hierarchy, v2.h). NewCgroupManager (detect.h) picks one from the mount.
//
// Contracts common to both:
// - A manager is bound to one cgroup by Create; every other call before Create (or after
//   Destroy) returns FAILED_PRECONDITION.
// - Errors name the cgroup directory and file:
//     "cgroup /sys/fs/cgroup/memory/kata/c1: write memory.limit_in_bytes: EBUSY (...)".
// - Apply validates every value and checks that every file it will write exists before it
//   writes anything (INVALID_ARGUMENT / FAILED_PRECONDITION, nothing changed). If a write
//   then fails, the values already written are restored (best effort; per-device throttle
//   lists cannot be restored) and the first error is returned.
// - A requested resource whose controller is not available is an error, never ignored.
//   Fields the OCI spec has but this manager does not implement are ignored: kernel memory,
//   rdma, network classid/priorities, realtime cpu, cpu burst/idle, blkio leafWeight, and on
//   v2 memory swappiness and disableOOMKiller (no v2 file).
// - Devices are denied by default (Kata's CVE-2020-2023): Create always installs "deny all",
//   runc's default devices (null, zero, full, random, urandom, tty, console, ptmx, pts, and
//   mknod of any node), then resources.devices in order (the last matching rule decides). v1
//   writes devices.deny/devices.allow; v2 attaches an eBPF device program. Apply replaces
//   them only when resources.devices is set. No device control available: Create fails.
// - Not thread-safe; one owner.
#ifndef KATA_SRC_AGENT_CGROUPS_CGROUPS_H_
#define KATA_SRC_AGENT_CGROUPS_CGROUPS_H_

#include <sys/types.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {
namespace cgroups {

enum class CgroupVersion { kV1, kV2 };

// "unlimited" in CgroupStats limits.
inline constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

// A snapshot of a cgroup's counters. A counter whose controller is absent is 0 (a limit
// whose controller is absent is kUnlimited).
struct CgroupStats {
  uint64_t memory_usage = 0;      // bytes now
  uint64_t memory_max_usage = 0;  // bytes, high-water mark (v2: memory.peak; 0 if absent)
  uint64_t memory_limit = kUnlimited;
  uint64_t cpu_usage_ns = 0;  // total
  uint64_t cpu_user_ns = 0;
  uint64_t cpu_system_ns = 0;
  uint64_t pids_current = 0;
  uint64_t pids_limit = kUnlimited;
  uint64_t oom_kill_count = 0;  // processes killed by the OOM killer in this cgroup
};

class CgroupManager {
 public:
  virtual ~CgroupManager() = default;

  virtual CgroupVersion version() const = 0;

  // The cgroup's directories (one per v1 hierarchy, one on v2); empty before Create.
  virtual std::vector<std::string> Dirs() const = 0;

  // Creates the cgroup `path` (relative to the root, e.g. "kata/c1"; no "..", not absolute),
  // creating missing parents, then applies `resources`. An existing directory is reused.
  // On any failure, every directory this call created is removed again.
  virtual absl::Status Create(absl::string_view path, const oci::LinuxResources& resources) = 0;

  // Moves process `pid` (all its threads) into the cgroup.
  virtual absl::Status AddProcess(pid_t pid) = 0;

  // Updates the limits; see the header comment for the all-or-nothing contract.
  virtual absl::Status Apply(const oci::LinuxResources& resources) = 0;

  virtual absl::StatusOr<CgroupStats> Stats() = 0;

  // The processes (thread group ids) directly in the cgroup, in kernel order.
  virtual absl::StatusOr<std::vector<pid_t>> Pids() = 0;

  // Freezes every process of the cgroup and returns once the kernel reports the cgroup
  // frozen (v1 freezer.state FROZEN, v2 cgroup.events "frozen 1"). DEADLINE_EXCEEDED after
  // `timeout`, and then the cgroup is thawed again.
  virtual absl::Status Freeze(absl::Duration timeout) = 0;
  // Thaws and returns once the kernel reports the cgroup thawed (same timeout rule).
  virtual absl::Status Thaw(absl::Duration timeout) = 0;

  // The OOM-kill counter (v1 memory.oom_control "oom_kill", v2 memory.events "oom_kill").
  virtual absl::StatusOr<uint64_t> OomKillCount() = 0;

  // A file descriptor that becomes readable after an OOM event in the cgroup: v1 an eventfd
  // registered via cgroup.event_control (read 8 bytes to reset), v2 an inotify descriptor watching
  // memory.events (read it to reset; compare OomKillCount to tell an OOM kill from other memory
  // events).
  virtual absl::StatusOr<UniqueFd> OpenOomEventFd() = 0;

  // Removes the cgroup's directories (and parents Create made, if they are empty). Does not
  // kill anything: FAILED_PRECONDITION naming the pids if processes are still inside.
  virtual absl::Status Destroy() = 0;
};

}  // namespace cgroups
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CGROUPS_CGROUPS_H_
