// The pod's cgroup on the host (Kata's sandbox_cgroup_only): the shim and QEMU, with all its
// threads, run in the cgroup the sandbox spec's linux.cgroupsPath names, so kubelet limits
// and accounts for them; cgroupfs on v1 (every mounted hierarchy) and v2.
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<PodCgroup> cg,
//                         PodCgroup::Create(spec.linux->cgroups_path, HostCgroupHierarchies()));
//   KATA_RETURN_IF_ERROR(cg->Enter());         // this process (its later children too)
//   KATA_RETURN_IF_ERROR(cg->Add(qemu_pid));   // a process and all its threads
//   KATA_RETURN_IF_ERROR(cg->Remove());        // this process back where it was; cgroup gone
//
// Contracts:
//   - cgroupsPath: an absolute path is below each hierarchy's root, a relative one below this
//     process's own cgroup in each hierarchy (as runc's cgroupfs driver). Components "." and
//     "..", and the systemd driver's "slice:prefix:name" form, are INVALID_ARGUMENT (configure
//     containerd with SystemdCgroup = false) and nothing is created.
//   - Create makes the missing levels (copying cpuset.cpus/mems from the parent on v1) and
//     remembers which it made; a failed Create removes them again. A level that vanishes while
//     Create runs (another pod's Remove took a parent both use) is made again.
//   - Remove moves this process back (if Enter moved it), then removes only what Create made,
//     deepest first. A pod cgroup that still has processes is FAILED_PRECONDITION naming them,
//     and nothing is removed; a level made by Create that another pod now uses (not empty) is
//     left in place. Idempotent.
#ifndef KATA_SRC_RUNTIME_SANDBOX_HOST_CGROUP_H_
#define KATA_SRC_RUNTIME_SANDBOX_HOST_CGROUP_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kata::runtime {

// One mounted cgroup hierarchy.
struct CgroupHierarchy {
  std::string mount;      // e.g. /sys/fs/cgroup/memory, or /sys/fs/cgroup on v2
  bool v2 = false;        // cgroup2
  std::string self_path;  // this process's cgroup in it ("/" = the root)
  bool cpuset = false;    // v1 cpuset: new cgroups need cpus/mems before tasks
};

// The cgroup hierarchies mounted with root "/" (/proc/self/mountinfo) and this process's
// cgroup in each (/proc/self/cgroup).
absl::StatusOr<std::vector<CgroupHierarchy>> HostCgroupHierarchies();

// `cgroups_path` as components ("/a/b" -> {"a", "b"}), after the checks above.
absl::StatusOr<std::vector<std::string>> CgroupPathComponents(const std::string& cgroups_path);

// For the shim's `delete` after its daemon died (the VMM is killed by then): removes the pod
// cgroup `cgroups_path` names in each hierarchy, the leaf only (which parents the dead shim
// made is unknown, as with runc). OK when it does not exist; FAILED_PRECONDITION naming the
// processes of one that still has some (nothing is removed from that hierarchy).
absl::Status RemoveLeftPodCgroup(const std::string& cgroups_path,
                                 const std::vector<CgroupHierarchy>& hierarchies);

class PodCgroup {
 public:
  static absl::StatusOr<std::unique_ptr<PodCgroup>> Create(
      const std::string& cgroups_path, std::vector<CgroupHierarchy> hierarchies);
  ~PodCgroup();  // Remove(), errors ignored

  // The pod cgroup's directory in each hierarchy.
  const std::vector<std::string>& dirs() const { return dirs_; }
  // Moves this process (all its threads) into the pod cgroup.
  absl::Status Enter();
  // Moves process `pid` (all its threads) into the pod cgroup.
  absl::Status Add(pid_t pid);
  absl::Status Remove();

 private:
  PodCgroup() = default;
  // Makes the levels `parts` below `base` (one hierarchy); returns the pod's directory.
  absl::StatusOr<std::string> MakeLevels(const std::string& base,
                                         const std::vector<std::string>& parts, bool cpuset);
  std::vector<CgroupHierarchy> hierarchies_;
  std::vector<std::string> dirs_;     // per hierarchy
  std::vector<std::string> created_;  // directories made, in creation order
  bool entered_ = false;
  bool removed_ = false;
};

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_HOST_CGROUP_H_
