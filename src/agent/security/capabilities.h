// The capability sets of a container process (`process.capabilities`), parsed in the agent and
// applied in the forked child before the process library's user switch and exec.
//
//   KATA_ASSIGN_OR_RETURN(Capabilities caps, Capabilities::Parse(*process.capabilities));
//   // child hook, as root:
//   KATA_RETURN_IF_ERROR(caps.Apply());
//
// Names are "CAP_CHOWN" ... "CAP_CHECKPOINT_RESTORE"; a name this agent does not know is
// INVALID_ARGUMENT naming it; a known capability the running kernel does not have (above
// /proc/sys/kernel/cap_last_cap) is skipped, as runc does. An absent list is an empty one.
//
// What the process gets (v0, see Apply): the bounding set exactly; with uid 0 the kernel then
// gives it, at exec, permitted = effective = bounding | inheritable (the rules for root,
// which runc's processes get too); with another uid it gets no capabilities (the process
// library switches user after the child hook and the kernel clears ambient caps then, so the
// `ambient` list only takes effect for uid 0; runc would keep it). The `effective` and
// `permitted` lists are validated but, for the reason above, change nothing after exec.
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
  // capability not in `bounding` from the bounding set (PR_CAPBSET_DROP), sets the inheritable
  // set (capset; effective and permitted stay as they are, for the steps the process library
  // still takes: setgroups, setresuid, exec), then raises each ambient capability
  // (PR_CAP_AMBIENT_RAISE; it must also be inheritable). Async-signal-safe (raw syscalls);
  // allocates only to report an error.
  absl::Status Apply() const;

 private:
  uint64_t bounding_ = 0, effective_ = 0, permitted_ = 0, inheritable_ = 0, ambient_ = 0;
  int last_cap_ = 0;
};

}  // namespace security
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_SECURITY_CAPABILITIES_H_
