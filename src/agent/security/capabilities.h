// The capability sets of a container process (`process.capabilities`), parsed in the agent and
// applied in the forked child before the process library's user switch and exec.
//
//   KATA_ASSIGN_OR_RETURN(Capabilities caps, Capabilities::Parse(*process.capabilities));
//   // child, as root, before the user switch:
//   KATA_RETURN_IF_ERROR(caps.ApplyBeforeUserSwitch());
//   // child, after the user switch, before exec:
//   KATA_RETURN_IF_ERROR(caps.ApplyAfterUserSwitch());
//
// Names are "CAP_CHOWN" ... "CAP_CHECKPOINT_RESTORE"; a name this agent does not know is
// INVALID_ARGUMENT naming it; a known capability the running kernel does not have (above
// /proc/sys/kernel/cap_last_cap) is skipped, as runc does. An absent list is an empty one.
//
// What the process gets (as with runc): the bounding set exactly; with uid 0 the kernel gives
// it, at exec, permitted = effective = bounding | inheritable (the rules for root); with
// another uid it keeps, through exec, its ambient capabilities (which must be permitted and
// inheritable too). The permitted/effective/inheritable sets are set after the user switch.
#ifndef KATA_SRC_AGENT_SECURITY_CAPABILITIES_H_
#define KATA_SRC_AGENT_SECURITY_CAPABILITIES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {
namespace security {

// The number of "CAP_NAME" (e.g. CAP_KILL -> 5), or -1 when this agent does not know it.
int CapabilityFromName(absl::string_view name);

// The highest capability number of the running kernel (/proc/sys/kernel/cap_last_cap, or the
// headers' CAP_LAST_CAP when unreadable).
int LastCapability();

class Capabilities {
 public:
  // Errors: INVALID_ARGUMENT "process.capabilities.bounding[2]: unknown capability
  // \"CAP_FOO\"".
  static absl::StatusOr<Capabilities> Parse(const oci::LinuxCapabilities& spec);

  // Bit masks (bit n = capability n) of what Parse kept.
  uint64_t bounding() const { return bounding_; }
  uint64_t effective() const { return effective_; }
  uint64_t permitted() const { return permitted_; }
  uint64_t inheritable() const { return inheritable_; }
  uint64_t ambient() const { return ambient_; }

  // In the forked child, with full capabilities (root), before the user switch: drops every
  // capability not in `bounding` from the bounding set (PR_CAPBSET_DROP) and keeps the
  // permitted set across the coming setresuid (PR_SET_KEEPCAPS). Async-signal-safe (raw
  // syscalls); allocates only to report an error.
  absl::Status ApplyBeforeUserSwitch() const;
  // After the user switch: clears PR_SET_KEEPCAPS, sets effective, permitted and inheritable
  // (capset), then raises each ambient capability (PR_CAP_AMBIENT_RAISE). Same rules.
  absl::Status ApplyAfterUserSwitch() const;

 private:
  uint64_t bounding_ = 0, effective_ = 0, permitted_ = 0, inheritable_ = 0, ambient_ = 0;
  int last_cap_ = 0;
};

}  // namespace security
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_SECURITY_CAPABILITIES_H_
