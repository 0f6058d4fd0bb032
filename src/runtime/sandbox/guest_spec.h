// The spec a container gets in the guest: the bundle's spec with the host-only parts changed
// the way Kata's Go runtime does it (virtcontainers kata_agent.go, createContainer and
// constrainGRPCSpec), before it is sent in CreateContainerRequest.
//
//   - root.path = /run/kata-containers/shared/containers/<cid>/rootfs (the 9p share);
//   - hooks dropped (they ran on the host; running them in the guest makes no sense);
//   - linux.seccomp dropped unless [runtime] disable_guest_seccomp = false;
//   - process.selinuxLabel and linux.mountLabel cleared when guest SELinux is disabled;
//   - linux.resources: pids, blockIO and network dropped, cpu.cpus/cpu.mems cleared, the
//     device rules that name a major or minor dropped (host numbers and host topology mean
//     nothing in the guest; see GuestDeviceRules);
//   - linux.namespaces: network and cgroup dropped (the VM is the network namespace), the
//     path of every other one cleared (host namespaces do not exist in the guest);
//   - linux.cgroupsPath in systemd form ("slice:prefix:name") becomes "/prefix/name"
//     (the guest has no systemd), anything else is kept;
//   - process.terminal = the terminal flag of the request.
#ifndef KATA_SRC_RUNTIME_SANDBOX_GUEST_SPEC_H_
#define KATA_SRC_RUNTIME_SANDBOX_GUEST_SPEC_H_

#include <optional>
#include <string>
#include <vector>

#include "src/libs/oci/spec.h"
#include "src/libs/protocols/agent.pb.h"
#include "src/runtime/config/config.h"

namespace kata::runtime {

// The guest path of a container's rootfs.
std::string GuestRootfsPath(const std::string& container_id);

// The device cgroup rules that mean the same in the guest: those without a major or minor
// (e.g. a privileged container's "allow a *:* rwm"), in order, minus leading denies (the
// agent's own rules start with "deny all" and runc's default devices, which a spec's leading
// "deny all" would deny again). nullopt when nothing is left.
std::optional<std::vector<oci::LinuxDeviceCgroup>> GuestDeviceRules(
    const std::optional<std::vector<oci::LinuxDeviceCgroup>>& rules);

// The model of the guest spec (as described above).
oci::Spec GuestSpec(const oci::Spec& spec, const std::string& container_id, bool terminal,
                    const config::RuntimeConfig& config);

// The wire form of an exec'd process.
::grpc::Process GuestProcess(const oci::Process& process, bool terminal);

// The wire form of new resources for UpdateContainer (devices dropped, as above).
::grpc::LinuxResources GuestResources(const oci::LinuxResources& resources);

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_GUEST_SPEC_H_
