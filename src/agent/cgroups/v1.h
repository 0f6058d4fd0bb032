// The cgroup v1 manager: one hierarchy per controller, mounted at <root>/<controller>
// (memory, cpu, cpuacct, cpuset, pids, freezer, blkio, hugetlb, devices; a hierarchy that is
// not mounted is simply not used, and a resource that needs it is an error).
//
// The container's cgroup is <root>/<controller>/<path> in every mounted hierarchy. cpuset's
// cpus/mems of new directories are copied from their parent (v1 leaves them empty).
// Applies: memory limit/reservation(soft limit)/swap (memsw)/swappiness/disableOOMKiller,
// cpu shares/quota/period, cpuset cpus/mems, pids limit, blkio weight, weightDevice and the
// four throttle lists, hugetlb limits, device allow/deny rules. `unified` is refused.
#ifndef KATA_SRC_AGENT_CGROUPS_V1_H_
#define KATA_SRC_AGENT_CGROUPS_V1_H_

#include <memory>
#include <string>

#include "src/agent/cgroups/cgroups.h"

namespace kata {
namespace agent {
namespace cgroups {

// `root` is the directory holding the per-controller mounts (normally /sys/fs/cgroup).
std::unique_ptr<CgroupManager> NewV1Manager(std::string root);

}  // namespace cgroups
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CGROUPS_V1_H_
