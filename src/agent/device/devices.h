// The guest side of devices the host passes to a container (Kata's device handlers): finds
// each device's node in the guest, waiting for it to be hot-plugged, and rewrites the
// container's OCI spec for it (src/libs/device) before the container is created.
//
//   DeviceOptions opts;  // /sys, 3 s
//   KATA_RETURN_IF_ERROR(ApplyDevices(request.devices(), spec, opts));
//
// Device types (grpc.Device.type) and how the node is found:
// - "mmioblk": vm_path is the node (e.g. /dev/vda); waits until it is a block device.
// - "blk" (virtio-blk on PCI): id is the PCI path "BB/DD" (slot of each bridge, then of
//   the device, hex), matched against the PCI slots on the sysfs path of
//   <sysfs_root>/block/<name>; the node is /dev/<name>. An empty id with an absolute
//   vm_path is taken as "mmioblk".
// - "scsi": id is the SCSI address "target:lun", matched against the "H:C:T:L" directory of
//   <sysfs_root>/block/<name>/device; the node is /dev/<name>.
// - "vfio", "vfio-pci", "vfio-ap", "vfio-gk"...: vm_path is the VFIO group node
//   (/dev/vfio/N); waits until it is a character device.
// - anything else: UNIMPLEMENTED naming the type.
// Each wait is bounded by `timeout` (DEADLINE_EXCEEDED naming the device) and uses kernel
// uevents plus a check of what exists (device/wait.h). For a device with a container_path
// the node's numbers (device::DeviceInfoFromPath) become a DevUpdate of that path; all
// updates go to device::UpdateSpecDevices and AppendGuestDeviceAllowRules in one batch,
// so the spec is rewritten all or nothing. A device with container_path "" is only waited
// for.
#ifndef KATA_SRC_AGENT_DEVICE_DEVICES_H_
#define KATA_SRC_AGENT_DEVICE_DEVICES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_field.h"
#include "src/libs/oci/spec.h"
#include "src/libs/protocols/agent.pb.h"

namespace kata {
namespace agent {
namespace device {

struct DeviceOptions {
  std::string sysfs_root = "/sys";
  std::string dev_root = "/dev";
  absl::Duration timeout = absl::Seconds(3);  // agent.hotplug_timeout
};

// The device handler types this agent knows (for GetGuestDetails).
std::vector<std::string> DeviceHandlers();

// The guest node of a block device named the way Kata's storages and devices name it:
// `type` "mmioblk" (address = the node path), "blk" (address = PCI path "02/00", or a
// /dev path), "scsi" (address = "target:lun"). Waits at most options.timeout.
absl::StatusOr<std::string> WaitForBlockDevice(absl::string_view type, absl::string_view address,
                                               const DeviceOptions& options);

// See the header comment. On error `spec` is unchanged.
absl::Status ApplyDevices(const google::protobuf::RepeatedPtrField<grpc::Device>& devices,
                          oci::Spec& spec, const DeviceOptions& options);

}  // namespace device
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_DEVICE_DEVICES_H_
