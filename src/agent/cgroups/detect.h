// Picks the cgroup manager for the machine: v2 when the root is a cgroup2 mount, else v1.
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<CgroupManager> mgr, NewCgroupManager({}));
//
// On a hybrid host (v1 controllers under /sys/fs/cgroup, cgroup2 at /sys/fs/cgroup/unified)
// the root is not cgroup2, so v1 is chosen: the controllers live in v1 there.
#ifndef KATA_SRC_AGENT_CGROUPS_DETECT_H_
#define KATA_SRC_AGENT_CGROUPS_DETECT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/agent/cgroups/cgroups.h"

namespace kata {
namespace agent {
namespace cgroups {

struct CgroupOptions {
  // The cgroup mount point: a cgroup2 mount (v2) or the directory holding the v1
  // per-controller mounts.
  std::string root = "/sys/fs/cgroup";
  // v2 only: enable the available controllers down to the container's cgroup.
  bool enable_v2_controllers = true;
};

// kV2 when statfs(root) reports CGROUP2_SUPER_MAGIC, else kV1; an error naming root when
// statfs fails.
absl::StatusOr<CgroupVersion> Detect(const std::string& root);

// A manager of the detected version for `options.root` (not yet bound to a cgroup).
absl::StatusOr<std::unique_ptr<CgroupManager>> NewCgroupManager(const CgroupOptions& options);

}  // namespace cgroups
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CGROUPS_DETECT_H_
