// The cgroup v1 manager: one hierarchy per controller, mounted at <root>/<controller>
// (memory, cpu, cpuacct, cpuset, pids, freezer, blkio, hugetlb, devices; a hierarchy that is
// not mounted is simply not used, and a resource that needs it is an error).
//
// The container's cgroup is <root>/<controller>/<path> in every mounted hierarchy. cpuset's
// cpus/mems of new directories are copied from their parent (v1 leaves them empty).
// Applies: memory limit/reservation(soft limit)/swap (memsw)/swappiness/disableOOMKiller,
// cpu shares/quota/period, cpuset cpus/mems, pids limit, blkio weight, weightDevice and the
// four throttle lists, hugetlb limits, device rules. `unified` is refused.
// Devices: Create always writes devices.deny "a", then devices.allow for runc's default
// devices, then the spec's rules in order (internal/devices.h), so the devices hierarchy is
// required (FAILED_PRECONDITION, nothing created, when it is not mounted). Apply with
// `devices` rewrites the same way (deny all, defaults, the new rules; a container opening a
// device in that moment may be refused); Apply without `devices` leaves them.
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
