// Test helpers for container tests (testonly): a busybox rootfs in a temp dir and the OCI
// spec of a small container, as the runtime would send it.
//
//   absl::StatusOr<std::string> rootfs = MakeBusyboxRootfs(dir);  // dir/rootfs
//   grpc::CreateContainerRequest req =
//       BusyboxContainerRequest("c1", *rootfs, "kata-test-123/c1", {"sh", "-c", "exit 3"});
//
// Needs /bin/busybox (Debian's busybox-static): a missing one is an error (NOT_FOUND naming
// it), never a skip.
#ifndef KATA_SRC_AGENT_CONTAINER_TEST_UTIL_H_
#define KATA_SRC_AGENT_CONTAINER_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/libs/protocols/agent.pb.h"

namespace kata {
namespace agent {
namespace testing {

// Creates <dir>/rootfs with bin/busybox (a copy of /bin/busybox), the applets sh, echo, cat,
// sleep, hostname (symlinks), and empty proc, dev, sys, tmp, etc. Returns its path.
absl::StatusOr<std::string> MakeBusyboxRootfs(const std::string& dir);

// CreateContainerRequest{container_id = exec_id = id} with a spec: `args` with PATH=/bin,
// cwd "/", `terminal`; root.path = rootfs; hostname "c1"; mounts proc on /proc and tmpfs on
// /dev; pid, mount, uts and ipc namespaces; cgroupsPath "/<cgroup_path>"; a 64 MiB memory
// limit.
grpc::CreateContainerRequest BusyboxContainerRequest(const std::string& id,
                                                     const std::string& rootfs,
                                                     const std::string& cgroup_path,
                                                     std::vector<std::string> args,
                                                     bool terminal = false);

// The number of lines of /proc/self/mountinfo (aborts if it cannot be read).
size_t MountCount();

// Whether a directory named <cgroup_parent> exists under any hierarchy of /sys/fs/cgroup (v1
// controllers, the unified mount, or the root itself on a pure v2 host).
bool CgroupParentExists(const std::string& cgroup_parent);

}  // namespace testing
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CONTAINER_TEST_UTIL_H_
