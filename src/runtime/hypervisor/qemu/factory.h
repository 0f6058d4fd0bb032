// The QEMU driver's side of the Kata configuration: [hypervisor.qemu] -> VmConfig, and the
// factory the shim injects into the sandbox (hypervisor/factory.h).
//
//   HypervisorFactory make = QemuFactory();   // QemuDriver for config.hypervisor.path
//   KATA_ASSIGN_OR_RETURN(VmPlan plan, make(config, layout));
//
// QemuVmConfig maps: kernel, initrd (a rootfs `image` is refused), machine_type q35|microvm,
// accelerator kvm|tcg, default_memory, default_vcpus, kernel_params, pcie_root_port (the
// hotplug_slots on q35, 0 with disable_block_device_use or microvm); shared_fs virtio-9p or
// virtio-fs (virtio_fs_daemon, virtio_fs_cache auto|always|never, virtio_fs_extra_args; no
// DAX window) (the share is `layout.shared_dir` with `layout.shared_mount_tag`). The agent
// channel is vsock when the host has a usable /dev/vhost-vsock (each VM then claims its own
// free guest CID when it starts: QemuDriverOptions::allocate_vsock_cid), else virtio-serial
// (then the kernel command line tells the agent agent.server_addr=serial://agent.channel.0).
// A guest panic powers the VM off (panic=1 with QEMU's -no-reboot). tcg_tb_size sizes TCG's
// translation cache; reclaim_guest_freed_memory adds a free-page-reporting balloon.
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_FACTORY_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_FACTORY_H_

#include <functional>

#include "absl/status/statusor.h"
#include "src/runtime/config/config.h"
#include "src/runtime/hypervisor/factory.h"
#include "src/runtime/hypervisor/qemu/qemu.h"

namespace kata::hypervisor::qemu {

// INVALID_ARGUMENT "sandbox <id>: <setting and why>" for what the driver cannot do.
absl::StatusOr<VmConfig> QemuVmConfig(const config::RuntimeConfig& config, const VmLayout& layout);

// Where QemuFactory's drivers keep what the QEMU binary accepts (features.h), for every shim on
// the host: root's tmpfs, next to the VM directories.
inline constexpr char kQemuFeaturesCacheFile[] = "/run/vc/qemu-features";

// A factory making a QemuDriver (binary = config.hypervisor.path, seccomp_sandbox =
// seccompsandbox, console_log_max_bytes as configured, features cached in
// kQemuFeaturesCacheFile) with QemuVmConfig.
// `tune`, when set, adjusts the driver's options first (tests: start paused, no kernel).
HypervisorFactory QemuFactory(std::function<void(QemuDriverOptions*)> tune = nullptr);

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_FACTORY_H_
