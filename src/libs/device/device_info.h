// The guest-side identity of a device passed into the VM: its device-cgroup type and the
// major/minor numbers the guest kernel gave it. These are what a container's OCI spec must
// name inside the VM, in place of the host's numbers (see spec_update.h).
//
//   KATA_ASSIGN_OR_RETURN(device::DeviceInfo info, device::DeviceInfoFromPath("/dev/vdb"));
//   // info.cgroup_type == 'b', info.major == 254, info.minor == 16 (for example)
//
// DeviceInfoFromPath follows symbolic links (it uses stat(2), not lstat(2)):
// - a block or character device node gives its own numbers (st_rdev), type 'b' or 'c';
// - a regular file or a directory gives the numbers of the block device it lives on
//   (st_dev), type 'b' (for devices passed as a file on a guest filesystem, e.g. nvdimm/DAX);
// - a missing path is NOT_FOUND, other stat(2) failures follow the errno (ErrnoStatus); both
//   messages name the path and the errno;
// - anything else (a fifo, a socket) is INVALID_ARGUMENT naming the path.
#ifndef KATA_SRC_LIBS_DEVICE_DEVICE_INFO_H_
#define KATA_SRC_LIBS_DEVICE_DEVICE_INFO_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kata {
namespace device {

struct DeviceInfo {
  char cgroup_type = 'b';  // 'b' (block) or 'c' (character), as in a device cgroup rule
  int64_t major = 0;       // the guest's major number
  int64_t minor = 0;       // the guest's minor number

  friend bool operator==(const DeviceInfo& a, const DeviceInfo& b) {
    return a.cgroup_type == b.cgroup_type && a.major == b.major && a.minor == b.minor;
  }
  friend bool operator!=(const DeviceInfo& a, const DeviceInfo& b) { return !(a == b); }
};

// Reads the device identity of `guest_path` (a path in the guest's own filesystem).
absl::StatusOr<DeviceInfo> DeviceInfoFromPath(absl::string_view guest_path);

}  // namespace device
}  // namespace kata

#endif  // KATA_SRC_LIBS_DEVICE_DEVICE_INFO_H_
