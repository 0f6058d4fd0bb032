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
// written last.
// Devices: Create always installs a device filter, an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE,
// attached with BPF_F_ALLOW_MULTI) denying every device except runc's defaults and what the
// spec's rules allow (internal/devices.h); failing to install it fails Create. Apply with
// `devices` replaces it (deny all, defaults, the new rules); Apply without leaves it.
#ifndef KATA_SRC_AGENT_CGROUPS_V2_H_
#define KATA_SRC_AGENT_CGROUPS_V2_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/agent/cgroups/cgroups.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {
namespace cgroups {

// Installs `rules` (the complete list, first rule "deny all") as the device filter of the
// cgroup directory `dir`, replacing `old` (the fd it returned before; empty: none). Returns the
// new filter's fd, which the manager keeps; on error the old filter stays.
using DeviceFilterInstaller = std::function<absl::StatusOr<UniqueFd>(
    const std::string& dir, const std::vector<oci::LinuxDeviceCgroup>& rules, const UniqueFd& old)>;

// The real installer: the eBPF program of `rules`, loaded and attached to `dir`.
absl::StatusOr<UniqueFd> InstallBpfDeviceFilter(const std::string& dir,
                                                const std::vector<oci::LinuxDeviceCgroup>& rules,
                                                const UniqueFd& old);

// `install_devices` empty: InstallBpfDeviceFilter (tests of fake trees pass their own).
std::unique_ptr<CgroupManager> NewV2Manager(std::string root, bool enable_controllers,
                                            DeviceFilterInstaller install_devices = nullptr);

}  // namespace cgroups
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CGROUPS_V2_H_
