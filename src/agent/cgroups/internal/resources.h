// Private: validation of oci::LinuxResources shared by the v1 and v2 managers, and the
// value conversions between them.
#ifndef KATA_SRC_AGENT_CGROUPS_INTERNAL_RESOURCES_H_
#define KATA_SRC_AGENT_CGROUPS_INTERNAL_RESOURCES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace internal {

// INVALID_ARGUMENT naming the field for any value the kernel would refuse or that is
// inconsistent (swap below limit, cpu quota below 1ms, shares out of [2, 262144], weights out
// of [10, 1000], malformed cpu lists, hugepage sizes, unified keys with '/').
absl::Status ValidateResources(const oci::LinuxResources& r);

// "a"/"c"/"b" major:minor access, wildcards as '*': the v1 devices.allow/deny line.
std::string DeviceRuleLine(const oci::LinuxDeviceCgroup& rule);

// v1 cpu.shares [2, 262144] -> v2 cpu.weight [1, 10000] (the runc/crun formula).
uint64_t SharesToWeight(uint64_t shares);
// v1 blkio.weight [10, 1000] -> v2 io.weight [1, 10000].
uint64_t BlkioToIoWeight(uint64_t weight);

}  // namespace internal
}  // namespace cgroups
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CGROUPS_INTERNAL_RESOURCES_H_
