// Rewriting a container's OCI spec for the devices passed into the VM.
//
// A device the host passes to the sandbox has other major/minor numbers in the guest, and may
// sit at another path. Before the container starts, the agent gathers one DevUpdate per device
// (keyed by the device's path in the container, as the host wrote it in `linux.devices`) and
// applies them all in one batch:
//
//   device::SpecUpdates updates;
//   KATA_ASSIGN_OR_RETURN(device::DeviceInfo info, device::DeviceInfoFromPath("/dev/vdb"));
//   KATA_RETURN_IF_ERROR(device::AddUpdate(updates, "/dev/xvda", {info, "/dev/vdb"}));
//   ...                                              // one AddUpdate per device
//   KATA_RETURN_IF_ERROR(device::UpdateSpecDevices(spec, updates));
//   KATA_RETURN_IF_ERROR(device::AppendGuestDeviceAllowRules(spec, updates));
//
// This is the agent's `update_spec_devices` (docs: interfaces.md section 4). Both spec
// functions are atomic: on any error the spec is left exactly as it was. If
// UpdateSpecDevices succeeded, AppendGuestDeviceAllowRules with the same updates succeeds
// too (both validate the same things).
#ifndef KATA_SRC_LIBS_DEVICE_SPEC_UPDATE_H_
#define KATA_SRC_LIBS_DEVICE_SPEC_UPDATE_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "src/libs/device/device_info.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace device {

// What one device needs changed in the spec: the guest's numbers (and cgroup type) and,
// optionally, the path the device node gets inside the container instead of the old one.
struct DevUpdate {
  DeviceInfo info;
  std::optional<std::string> final_path;
};

// container path (a `linux.devices[].path` of the spec as received) -> its update.
// Fill it with AddUpdate, which refuses a second update for the same container path
// (`updates[path] = ...` would silently replace the first one).
using SpecUpdates = absl::flat_hash_map<std::string, DevUpdate>;

// Adds the update for the device at `container_path`.
// Errors (and `updates` is then unchanged):
// - INVALID_ARGUMENT: an empty container path, a cgroup type other than 'b'/'c', or a
//   final path that is set but empty;
// - ALREADY_EXISTS: `updates` already holds an update for `container_path` (two updates for
//   one container path conflict).
absl::Status AddUpdate(SpecUpdates& updates, absl::string_view container_path, DevUpdate update);

// Applies `updates` to `spec`, all or nothing. What a caller may rely on on success:
// - For each update, the FIRST `linux.devices` entry (in document order) whose path equals
//   the update's container path gets the guest major/minor, and `final_path` as its path
//   when that is set. Later entries with the same path, and every other field (type, mode,
//   uid, gid, unknown members), are untouched. A missing `linux.devices` is an empty list
//   (it stays missing).
// - The host identity of each updated entry, (type, major, minor) as the entry had them
//   before the update, is recorded. Every `linux.resources.devices` rule that has a type
//   other than "a", a major AND a minor, and whose (type, major, minor) equals a recorded host
//   triple (exact string comparison of the type: a "c" rule never matches a "b" device, and
//   "u"/"p" devices match no rule) gets that device's guest major/minor. Its type, access,
//   allow and position do not change. Wildcard rules (no type, type "a", no major or no
//   minor) are never changed. Rules are matched against the host numbers of the spec as
//   received, so no rule is remapped twice, even when one device's guest numbers equal
//   another device's host numbers (chains and swaps work).
// - No rule is added or removed: see AppendGuestDeviceAllowRules.
// Errors, checked in this order (the first that applies is returned):
// - INVALID_ARGUMENT: the spec has no `linux` section;
// - INVALID_ARGUMENT: an update is malformed (as AddUpdate checks); names every such device;
// - ALREADY_EXISTS: two updated entries have the same host (type, major, minor); names both
//   devices (the first such pair in document order);
// - NOT_FOUND: updates left over with no `linux.devices` entry of that path; names all of
//   their container paths, sorted.
// Cost: O(devices + rules + updates) expected (hash maps; the error paths may sort).
absl::Status UpdateSpecDevices(oci::Spec& spec, const SpecUpdates& updates);

// Appends, at the end of `linux.resources.devices`, one rule
//   {allow: true, type: info.cgroup_type, major: info.major, minor: info.minor, access: "rwm"}
// per distinct guest (type, major, minor) of `updates`, in container-path order, so that the
// container may use the devices under their guest numbers. `linux.resources` and its
// `devices` are created when missing (and only when there is a rule to add). Existing rules
// are left as they are, so a later allow wins over an earlier deny for these devices.
//
// This is deliberately not part of UpdateSpecDevices, and must be called AFTER it: if the
// allow rules existed during the remap, a device whose guest numbers equal another device's
// host numbers would have its fresh allow rule remapped to the other device's guest numbers.
// Errors (spec unchanged): INVALID_ARGUMENT for a spec without `linux` or a malformed update.
// Cost: O(updates log updates) (the rules are sorted for a deterministic spec).
absl::Status AppendGuestDeviceAllowRules(oci::Spec& spec, const SpecUpdates& updates);

}  // namespace device
}  // namespace kata

#endif  // KATA_SRC_LIBS_DEVICE_SPEC_UPDATE_H_
