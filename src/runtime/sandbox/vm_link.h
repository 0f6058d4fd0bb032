// One sandbox's VM and its agent connection: boot (driver from the injected factory, VMM up,
// agent dialed, CreateSandbox), watch (the driver's WaitVm says when and why the VM ended),
// and stop (DestroySandbox bounded, then the VMM stopped).
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<VmLink> link,
//                         VmLink::Boot(layout, create_request, options));
//   link->agent()->StartContainer(...);
//   absl::StatusOr<hypervisor::VmExit> end = link->WaitVmEnd();   // blocks; a watcher thread
//   link->Stop(/*destroy_guest=*/true);                          // ends WaitVmEnd too
//
// Contracts: a failed Boot leaves no VMM running (the layout's directories are the caller's).
// Thread-safe; Stop acts once (a later or concurrent call waits until the first is done, then
// returns OK) and never leaves a VMM process behind.
#ifndef KATA_SRC_RUNTIME_SANDBOX_VM_LINK_H_
#define KATA_SRC_RUNTIME_SANDBOX_VM_LINK_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/protocols/agent.pb.h"
#include "src/runtime/agent/agent_client.h"
#include "src/runtime/config/config.h"
#include "src/runtime/hypervisor/factory.h"
#include "src/runtime/hypervisor/hypervisor.h"
#include "src/runtime/network/network.h"
#include "src/runtime/sandbox/layout.h"

namespace kata::runtime {

// Connects to the agent on `channel`, waiting (Health.Check) until it answers or `timeout`
// passes. Default: DialAgent of agent/ttrpc_agent_client.h.
using AgentDialer = std::function<absl::StatusOr<std::unique_ptr<AgentClient>>(
    const hypervisor::AgentChannel& channel, absl::Duration timeout)>;

// Told how long each step of the boot took: "prepare" (VM created), "start_vm" (VMM up, its
// control channel answering), "agent_ready" (dial and Health.Check: mostly the guest's boot),
// "release_boot_memory" (Hypervisor::ReleaseBootMemory once the agent answered), "create_sandbox".
using StartStepObserver = std::function<void(absl::string_view step, absl::Duration took)>;

struct VmLinkOptions {
  config::RuntimeConfig config;
  hypervisor::HypervisorFactory hypervisor_factory;  // required
  AgentDialer agent_dialer;                          // empty: ttRPC
  StartStepObserver on_step;
  // Told what went wrong without failing the boot (e.g. ReleaseBootMemory's error). For logs.
  std::function<void(absl::string_view message)> on_warning;
  absl::Duration start_vm_timeout = absl::Seconds(30);
  absl::Duration destroy_timeout = absl::Seconds(5);  // DestroySandbox before StopVm
  // The pod network (owned by the caller, alive until the VM is stopped): its NICs join the
  // VM's config, and the guest is told its interfaces, routes and ARP neighbours before
  // CreateSandbox. nullptr: no NIC.
  const network::GuestNetwork* network = nullptr;
};

class VmLink {
 public:
  static absl::StatusOr<std::unique_ptr<VmLink>> Boot(SandboxLayout& layout,
                                                      const ::grpc::CreateSandboxRequest& create,
                                                      VmLinkOptions options);
  ~VmLink();

  std::shared_ptr<AgentClient> agent() const { return agent_; }
  std::vector<pid_t> Pids() const { return vm_->Pids(); }

  // The driver's block hot(un)plug (hypervisor.h): where the guest finds the device.
  absl::StatusOr<hypervisor::DeviceInfo> HotplugBlockDevice(const hypervisor::BlockDevice& d) {
    return vm_->HotplugBlockDevice(d);
  }
  absl::Status UnplugDevice(const std::string& id) { return vm_->UnplugDevice(id); }
  bool CanHotplugBlockDevices() const { return vm_->GetCapabilities().block_hotplug; }
  hypervisor::VmState State() const { return vm_->State(); }

  // Blocks until the VM has ended (by itself or through Stop) and says why.
  absl::StatusOr<hypervisor::VmExit> WaitVmEnd();

  // Ends the VM: with `destroy_guest`, DestroySandbox first (best effort, bounded: returns
  // early when the guest powers off); then the agent connection is closed and the VMM stopped.
  absl::Status Stop(bool destroy_guest);

 private:
  VmLink(std::shared_ptr<hypervisor::Hypervisor> vm, std::shared_ptr<AgentClient> agent,
         absl::Duration destroy_timeout)
      : vm_(std::move(vm)), agent_(std::move(agent)), destroy_timeout_(destroy_timeout) {}

  const std::shared_ptr<hypervisor::Hypervisor> vm_;
  const std::shared_ptr<AgentClient> agent_;
  const absl::Duration destroy_timeout_;
  absl::Mutex stop_mu_;  // held for the whole of Stop
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_VM_LINK_H_
