// Private: the device rules a container's cgroup gets, and their cgroup v2 form, an eBPF
// program of type BPF_PROG_TYPE_CGROUP_DEVICE (built here from raw instructions).
//
// Rules are evaluated as the kernel's v1 device cgroup and runc do: the LAST rule that
// matches a request decides. EffectiveDeviceRules always starts with "deny all", so what no
// rule allows is denied.
#ifndef KATA_SRC_AGENT_CGROUPS_INTERNAL_DEVICES_H_
#define KATA_SRC_AGENT_CGROUPS_INTERNAL_DEVICES_H_

#include <linux/bpf.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace internal {

// runc's default allowed devices: mknod of any char/block device ("c *:* m", "b *:* m"),
// null 1:3, zero 1:5, full 1:7, random 1:8, urandom 1:9, tty 5:0, console 5:1, ptmx 5:2 and
// the pts 136:* (all "rwm").
std::vector<oci::LinuxDeviceCgroup> DefaultAllowedDevices();

// "deny a *:* rwm", then DefaultAllowedDevices, then `spec_rules` (in order, so the spec may
// deny a default device or allow more).
std::vector<oci::LinuxDeviceCgroup> EffectiveDeviceRules(
    const std::optional<std::vector<oci::LinuxDeviceCgroup>>& spec_rules);

// The program for `rules` (validated as ValidateResources does: types a/b/c, access from
// "rwm"). Input (struct bpf_cgroup_dev_ctx in R1): access_type = (access << 16) | dev_type,
// major, minor. Returns 1 (allow) or 0 (deny): the last rule whose type (a = any), major and
// minor (absent or negative = any) match decides; an allow rule matches when it grants every
// requested access bit, a deny rule when it denies any of them. No rule matching: deny.
std::vector<bpf_insn> BuildDeviceFilter(const std::vector<oci::LinuxDeviceCgroup>& rules);

// Loads `insns` into the kernel as a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to
// the cgroup2 directory `dir` (BPF_F_ALLOW_MULTI); then detaches `old` (a program this
// function attached before; an empty fd: none) and returns the new program's fd. On error
// (naming `dir` and the step; the verifier's log on a load failure) nothing changed: `old`
// stays attached. While both are attached a request must pass both.
absl::StatusOr<UniqueFd> AttachDeviceFilter(const std::string& dir,
                                            const std::vector<bpf_insn>& insns,
                                            const UniqueFd& old);

}  // namespace internal
}  // namespace cgroups
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CGROUPS_INTERNAL_DEVICES_H_
