// How the sandbox gets a VM without knowing which VMM runs it.
//
// The sandbox says where the VM's files go (VmLayout); a driver's factory (for QEMU:
// qemu/factory.h) turns the Kata configuration into its own VmConfig and a driver object that
// is not created yet. The shim injects the factory, so the sandbox code depends only on this
// header and hypervisor.h:
//
//   HypervisorFactory make = qemu::QemuFactory();
//   KATA_ASSIGN_OR_RETURN(VmPlan plan, make(runtime_config, {.sandbox_id = "s1", ...}));
//   KATA_RETURN_IF_ERROR(plan.vm->CreateVm(plan.config));
//
// A factory validates the configuration for its driver (INVALID_ARGUMENT naming the setting,
// e.g. "hypervisor.qemu.machine_type \"pseries\" is not supported") and starts nothing.
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_FACTORY_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_FACTORY_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/runtime/config/config.h"
#include "src/runtime/hypervisor/hypervisor.h"

namespace kata::hypervisor {

// What the sandbox decides about a VM's host side.
struct VmLayout {
  std::string sandbox_id;
  std::string shared_dir;        // the host directory shared with the guest ("" = none)
  std::string shared_mount_tag;  // the tag the guest mounts it by
  std::string work_dir;          // the VMM's sockets, logs (owned by the sandbox, short path)
};

// A VM ready to be created: its driver (kInitial) and the config to create it with.
struct VmPlan {
  std::unique_ptr<Hypervisor> vm;
  VmConfig config;
};

using HypervisorFactory = std::function<absl::StatusOr<VmPlan>(const config::RuntimeConfig& config,
                                                               const VmLayout& layout)>;

}  // namespace kata::hypervisor

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_FACTORY_H_
