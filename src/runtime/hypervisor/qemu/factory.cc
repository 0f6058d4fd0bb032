#include "src/runtime/hypervisor/qemu/factory.h"

#include <unistd.h>

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_macros.h"

namespace kata::hypervisor::qemu {

absl::StatusOr<VmConfig> QemuVmConfig(const config::RuntimeConfig& config, const VmLayout& layout) {
  const config::QemuConfig& q = config.hypervisor;
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("sandbox ", layout.sandbox_id, ": ", why));
  };
  VmConfig vm;
  vm.kernel_path = q.kernel;
  if (!q.image.empty()) {
    return invalid("hypervisor.qemu.image (a rootfs image) is not supported; use initrd");
  }
  vm.initrd_path = q.initrd;
  if (q.machine_type == "q35") {
    vm.machine = MachineType::kQ35;
  } else if (q.machine_type == "microvm") {
    vm.machine = MachineType::kMicrovm;
  } else {
    return invalid(absl::StrCat("hypervisor.qemu.machine_type \"", q.machine_type,
                                "\" is not supported by the QEMU driver (q35, microvm)"));
  }
  if (q.accelerator == "kvm") {
    vm.accelerator = Accelerator::kKvm;
  } else if (q.accelerator == "tcg") {
    vm.accelerator = Accelerator::kTcg;
  } else {
    return invalid(absl::StrCat("hypervisor.qemu.accelerator \"", q.accelerator, "\""));
  }
  if (q.shared_fs == "virtio-fs") {
    vm.shared_fs = SharedFsKind::kVirtioFs;
    vm.virtiofsd_path = q.virtio_fs_daemon;
    // Kata's "never" is virtiofsd's "none"; "metadata" has no C virtiofsd equivalent.
    vm.virtio_fs_cache = q.virtio_fs_cache == "never" ? "none" : q.virtio_fs_cache;
    if (vm.virtio_fs_cache == "metadata") {
      return invalid(
          "hypervisor.qemu.virtio_fs_cache \"metadata\" is not supported by "
          "virtiofsd (auto, always, never)");
    }
    if (q.virtio_fs_cache_size > 0) {
      return invalid("hypervisor.qemu.virtio_fs_cache_size (DAX) is not supported; set 0");
    }
    vm.virtiofsd_extra_args = q.virtio_fs_extra_args;
  } else if (q.shared_fs != "virtio-9p") {
    return invalid(absl::StrCat("hypervisor.qemu.shared_fs \"", q.shared_fs,
                                "\" is not supported: container rootfs need \"virtio-9p\" or "
                                "\"virtio-fs\""));
  }
  // Hot-plugged block devices go behind root ports of their own (q35 only; none when block
  // devices are disabled). block_device_driver is not read: devices are always virtio-blk.
  if (vm.machine == MachineType::kQ35 && !q.disable_block_device_use) {
    vm.hotplug_slots = q.pcie_root_port;
  }
  vm.memory_mib = q.default_memory;
  vm.tcg_tb_size_mib = q.tcg_tb_size;
  vm.entropy_source = q.entropy_source;
  vm.reclaim_guest_freed_memory = q.reclaim_guest_freed_memory;
  vm.vcpus = q.default_vcpus;
  vm.shared_dir = layout.shared_dir;
  vm.shared_mount_tag = layout.shared_mount_tag;
  vm.work_dir = layout.work_dir;
  vm.agent_channel = access("/dev/vhost-vsock", R_OK | W_OK) == 0 ? AgentChannelKind::kVsock
                                                                  : AgentChannelKind::kVirtioSerial;
  std::string params = "panic=1";
  if (vm.agent_channel == AgentChannelKind::kVirtioSerial) {
    absl::StrAppend(&params, " agent.server_addr=serial://agent.channel.0");
  }
  if (config.agent.enable_debug) absl::StrAppend(&params, " agent.log=debug");
  // Kata's debug console: the agent serves a shell on its vsock port (here also the port the
  // virtio-serial stand-in is named for); nothing of it when disabled.
  vm.debug_console = config.agent.debug_console_enabled;
  if (vm.debug_console) {
    absl::StrAppend(&params,
                    " agent.debug_console agent.debug_console_vport=", kDebugConsoleVsockPort);
  }
  // Kata's agent tracing: the agent sends its spans to the host (the shim reads them).
  vm.agent_trace = config.agent.enable_tracing;
  if (vm.agent_trace) absl::StrAppend(&params, " agent.trace=true");
  if (!q.kernel_params.empty()) absl::StrAppend(&params, " ", q.kernel_params);
  vm.kernel_params = params;
  return vm;
}

HypervisorFactory QemuFactory(std::function<void(QemuDriverOptions*)> tune) {
  return [tune = std::move(tune)](const config::RuntimeConfig& config,
                                  const VmLayout& layout) -> absl::StatusOr<VmPlan> {
    KATA_ASSIGN_OR_RETURN(VmConfig vm_config, QemuVmConfig(config, layout));
    QemuDriverOptions options;
    options.binary = config.hypervisor.path;
    options.seccomp_sandbox = config.hypervisor.seccompsandbox;
    options.console_log_max_bytes = config.hypervisor.console_log_max_bytes;
    options.features_cache_file = kQemuFeaturesCacheFile;
    if (tune) tune(&options);
    return VmPlan{std::make_unique<QemuDriver>(options), std::move(vm_config)};
  };
}

}  // namespace kata::hypervisor::qemu
