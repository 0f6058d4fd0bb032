// The cgroup v2 manager: one unified hierarchy at <root> (normally /sys/fs/cgroup; on a
// hybrid host /sys/fs/cgroup/unified).
//
// The container's cgroup is <root>/<path>. With `enable_controllers`, Create enables every
// controller listed in each ancestor's cgroup.controllers in its cgroup.subtree_control, from
// <root> down to the parent of the cgroup (a controller the kernel refuses stays off, and a
// resource that needs it then fails Apply with FAILED_PRECONDITION).
// Applies: memory.max/low/swap.max (OCI swap is memory+swap; swap.max = swap - limit), cpu
// shares (as cpu.weight), quota/period (cpu.max), cpuset cpus/mems, pids.max, blkio weight
// (io.weight), throttles (io.max), hugetlb.<size>.max, and `unified` key/values verbatim,
// written last. Device rules are NOT applied (v2 needs an eBPF program).
#ifndef KATA_SRC_AGENT_CGROUPS_V2_H_
#define KATA_SRC_AGENT_CGROUPS_V2_H_

#include <memory>
#include <string>

#include "src/agent/cgroups/cgroups.h"

namespace kata {
namespace agent {
namespace cgroups {

std::unique_ptr<CgroupManager> NewV2Manager(std::string root, bool enable_controllers);

}  // namespace cgroups
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CGROUPS_V2_H_
