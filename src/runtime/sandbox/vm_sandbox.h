// The Sandbox implementation: one VM per pod through the Hypervisor interface, the Kata agent
// over ttRPC on the VM's agent channel, container rootfs shared with the guest over 9p.
//
//   SandboxOptions options;
//   options.id = "s1";
//   options.spec = first_container_spec;     // the pod's annotations, sandbox-level settings
//   options.config = resolved.config;        // config/resolve.h
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sandbox, NewVmSandbox(std::move(options)));
//   KATA_RETURN_IF_ERROR(sandbox->Start());
//
// Host layout (Kata's):
//   <paths.shared_root>/<sid>/shared/          exported to the guest by 9p, mount_tag "kataShared",
//                                              mounted by the agent at
//                                              /run/kata-containers/shared/containers/
//   <paths.shared_root>/<sid>/mounts/<cid>/rootfs   containerd's rootfs mounts, mounted here,
//   <paths.shared_root>/<sid>/shared/<cid>/rootfs   ... and bound here; the guest's spec
//                                              root.path = /run/kata-containers/shared/containers/<cid>/rootfs
//   <paths.shared_root>/<sid>/shared/<cid>/volumes/<n>-<name>   host paths the spec bind-mounts
//                                              (volumes), their spec source rewritten to match
//   <paths.vm_root>/<sid>/                     the VMM's sockets, console log and vmm.pid
// Everything under these is removed by Shutdown / DeleteContainer / CleanupSandbox.
//
// The spec sent to the agent is the bundle's spec with the host-only parts changed as Kata's
// runtime does (see the implementation's comment): root.path as above, the network
// namespace path dropped, linux.cgroupsPath kept only as a name for the guest.
#ifndef KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_H_
#define KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/libs/oci/spec.h"
#include "src/runtime/agent/agent_client.h"
#include "src/runtime/config/config.h"
#include "src/runtime/hypervisor/hypervisor.h"
#include "src/runtime/sandbox/sandbox.h"

namespace kata::runtime {

inline constexpr char kSharedRoot[] = "/run/kata-containers/shared/sandboxes";
inline constexpr char kVmRoot[] = "/run/vc/vm";
// Where the agent mounts the 9p share in the guest.
inline constexpr char kGuestSharedDir[] = "/run/kata-containers/shared/containers/";
inline constexpr char kShareMountTag[] = "kataShared";

struct SandboxPaths {
  std::string shared_root = kSharedRoot;
  std::string vm_root = kVmRoot;
};

// Makes the (not yet created) VM for a configuration. Default: the QEMU driver.
using HypervisorFactory = std::function<absl::StatusOr<std::unique_ptr<hypervisor::Hypervisor>>(
    const config::RuntimeConfig& config)>;

// Connects to the agent on `channel`, waiting (Health.Check) until it answers or `timeout`
// passes. Default: DialAgent of agent/ttrpc_agent_client.h.
using AgentDialer = std::function<absl::StatusOr<std::unique_ptr<AgentClient>>(
    const hypervisor::AgentChannel& channel, absl::Duration timeout)>;

struct SandboxOptions {
  std::string id;
  oci::Spec spec;                 // the first container's spec
  config::RuntimeConfig config;   // resolved, annotations applied
  SandboxPaths paths;
  HypervisorFactory hypervisor_factory;  // empty: QEMU
  AgentDialer agent_dialer;              // empty: ttRPC
  // How often the VM is checked for a death of its own (Pids()/State()).
  absl::Duration vm_watch_interval = absl::Milliseconds(200);
  // Told how long each step of Start took, in order: "prepare" (config, directories),
  // "start_vm" (VMM process up, its control channel answering), "agent_ready" (dial and
  // Health.Check: mostly the guest's boot), "create_sandbox". For logs and benchmarks.
  std::function<void(absl::string_view step, absl::Duration took)> on_start_step;
};

// A sandbox in kInitial (nothing done on the host yet). INVALID_ARGUMENT for a bad id.
absl::StatusOr<std::unique_ptr<Sandbox>> NewVmSandbox(SandboxOptions options);

// The VmConfig the sandbox gives the hypervisor for `config` (exposed for tests and
// `kata-runtime env`).
absl::StatusOr<hypervisor::VmConfig> VmConfigFor(const config::RuntimeConfig& config,
                                                 const std::string& sandbox_id,
                                                 const SandboxPaths& paths);

// Cleans up after a sandbox whose owner died (the shim's `delete` command): kills a VMM
// still recorded for it, unmounts everything under its directories, removes them. OK when
// there is nothing to clean.
absl::Status CleanupSandbox(const std::string& sandbox_id, const SandboxPaths& paths = {});

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_H_
