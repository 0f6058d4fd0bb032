// The Sandbox implementation: one VM per pod through the Hypervisor interface (the driver comes
// from an injected factory: the sandbox never knows which VMM runs), the Kata agent over ttRPC
// on the VM's agent channel, container rootfs shared with the guest over 9p.
//
//   SandboxOptions options;
//   options.id = "s1";
//   options.spec = first_container_spec;     // the pod's annotations, sandbox-level settings
//   options.config = resolved.config;        // config/resolve.h
//   options.hypervisor_factory = hypervisor::qemu::QemuFactory();
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sandbox, NewVmSandbox(std::move(options)));
//   sandbox->SetExitObserver(...);
//   KATA_RETURN_IF_ERROR(sandbox->Start());
//
// It is made of parts, one job each:
//   layout.h     the host directories, what is shared with the guest, their removal
//   vm_link.h    the VM and the agent connection: boot, dial, watch (WaitVm), stop
//   registry.h   containers and processes, their states and exits (one observer)
//   guest_spec.h the spec the agent gets (Kata's constrainGRPCSpec)
// and this file glues them into the Sandbox API of sandbox.h.
#ifndef KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_H_
#define KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/libs/oci/spec.h"
#include "src/runtime/config/config.h"
#include "src/runtime/hypervisor/factory.h"
#include "src/runtime/network/network.h"
#include "src/runtime/sandbox/layout.h"
#include "src/runtime/sandbox/sandbox.h"
#include "src/runtime/sandbox/vm_link.h"

namespace kata::runtime {

struct SandboxOptions {
  std::string id;
  // The first container's spec. With config.runtime.static_sandbox_resource_mgmt the VM is
  // sized by it at Start (pod.h: defaults + the pod's sizing annotations, or a single
  // container's limits, within default_maxvcpus/default_maxmemory).
  oci::Spec spec;
  config::RuntimeConfig config;  // resolved, annotations applied
  SandboxPaths paths;
  hypervisor::HypervisorFactory hypervisor_factory;  // required (e.g. qemu/factory.h)
  AgentDialer agent_dialer;                          // empty: ttRPC
  // The pod network (e.g. network/tcfilter.h); empty: the VM gets no NIC. What it made is
  // removed after the VM is stopped (Shutdown) or when Start fails.
  network::NetworkFactory network_factory;
  // Told how long each step of Start took (vm_link.h's steps). For logs and benchmarks.
  StartStepObserver on_start_step;
  // Told what went wrong without failing the sandbox (vm_link.h's on_warning). For logs.
  std::function<void(absl::string_view message)> on_warning;
  // How long the guest may take to answer the calls the host cannot do without:
  // RemoveContainer (DeleteContainer), SignalProcess of a SIGKILL, DestroySandbox (Shutdown;
  // at most 5 s). A guest that does not answer in time is treated as dead (sandbox.h).
  absl::Duration guest_timeout = absl::Seconds(10);
};

// A sandbox in kInitial (nothing done on the host yet). INVALID_ARGUMENT for a bad id or a
// missing hypervisor factory.
absl::StatusOr<std::unique_ptr<Sandbox>> NewVmSandbox(SandboxOptions options);

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_H_
