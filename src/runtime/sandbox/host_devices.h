// The host block devices a container is given (spec linux.devices of type "b", as from
// `ctr run --device /dev/loop0` or CRI `devices`), found and claimed on the host before the
// sandbox hot-plugs them into the VM.
//
//   KATA_ASSIGN_OR_RETURN(std::vector<HostBlockDevice> devs, HostBlockDevicesOf(spec));
//   for (HostBlockDevice& d : devs) KATA_RETURN_IF_ERROR(ClaimHostDevice(d));  // d.claim held
//   ... hot-plug d.host_path, tell the agent d.container_path ...
//   d.claim.reset();  // after the unplug
//
// Contracts:
// - The host node of a device is found by its numbers, as Kata's runtime does: the DEVNAME of
//   <sys_root>/dev/block/<major>:<minor>/uevent, under dev_root; it must be a block device
//   with those numbers. NOT_FOUND "device <container path> (b M:m): no such block device on
//   the host" when there is none; INVALID_ARGUMENT when the node is not that block device.
// - Only type "b" is passed. Character devices ("c", "u") and FIFOs ("p") are skipped, as
//   Kata does without VFIO: their entries stay in the spec, so the container gets a node with
//   those numbers that is the GUEST's device of those numbers (e.g. /dev/fuse, /dev/net/tun,
//   the same in every Linux), and the host's numbered cgroup rule for them is dropped
//   (guest_spec.h).
// - A privileged container (its device cgroup allows every device: `ctr run --privileged`, CRI
//   privileged) lists all the host's devices; none of them is passed, as with containerd's
//   privileged_without_host_devices (what Kata recommends for VM runtimes): its entries stay,
//   so it sees the guest's devices of those numbers. AllowsEveryDevice says which specs.
// - The same container path twice: INVALID_ARGUMENT.
// - Block volumes: a bind mount (type "bind", or option "bind"/"rbind") whose source is a
//   host block device (after symlinks). Its filesystem is taken to be ext4, as Kata's
//   runtime-rs does for such mounts (kBlockVolumeFsType); option "ro" makes it read-only.
// - A block-device rootfs (HostBlockRootfs): containerd's rootfs is one mount of a host block
//   device with a filesystem the guest kernel has (ext4: containerd's devmapper snapshotter,
//   fs_type ext4), as Kata's runtime passes a devicemapper rootfs. The sandbox hot-plugs it
//   and the agent mounts it as the container's root; other rootfs are mounted on the host and
//   shared as before.
// - ClaimHostDevice opens the node O_EXCL (held in `claim` until released): a device that is
//   mounted on the host or claimed already (by another sandbox, or another container of this
//   one) is FAILED_PRECONDITION "device <path> is in use ..." and nothing is claimed.
#ifndef KATA_SRC_RUNTIME_SANDBOX_HOST_DEVICES_H_
#define KATA_SRC_RUNTIME_SANDBOX_HOST_DEVICES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/oci/spec.h"

namespace kata::runtime {

// The spec's device cgroup allows every device (a privileged container).
bool AllowsEveryDevice(const oci::Spec& spec);

struct HostBlockDevice {
  std::string container_path;  // linux.devices[].path
  std::string host_path;       // e.g. /dev/loop3
  int64_t major = 0;
  int64_t minor = 0;
  UniqueFd claim;  // the O_EXCL open of host_path, while the device is given to the VM
};

struct HostDeviceRoots {
  std::string sys_root = "/sys";
  std::string dev_root = "/dev";
};

inline constexpr char kBlockVolumeFsType[] = "ext4";

// A bind mount of a host block device: spec.mounts[mount_index].
struct HostBlockVolume {
  size_t mount_index = 0;
  bool read_only = false;
  HostBlockDevice device;  // container_path = the mount's destination
};

// A container's rootfs on a host block device (see the contracts above).
struct HostBlockRootfs {
  std::string fstype;                // kBlockVolumeFsType
  std::vector<std::string> options;  // containerd's mount options ("ro" makes it read-only)
  HostBlockDevice device;            // container_path "/"
};

// The block-device rootfs of a container whose rootfs is the one mount (type, source,
// options), or none.
std::optional<HostBlockRootfs> HostBlockRootfsOf(const std::string& type, const std::string& source,
                                                 const std::vector<std::string>& options);

// The block devices of spec.linux.devices, in order (see the contracts above).
absl::StatusOr<std::vector<HostBlockDevice>> HostBlockDevicesOf(const oci::Spec& spec,
                                                                const HostDeviceRoots& roots = {});

// The block volumes of spec.mounts, in order.
std::vector<HostBlockVolume> HostBlockVolumesOf(const oci::Spec& spec);

// Opens device.host_path O_EXCL into device.claim.
absl::Status ClaimHostDevice(HostBlockDevice& device);

// Whether `path` is a block device node (following symlinks).
bool IsBlockDevice(const std::string& path);

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_HOST_DEVICES_H_
