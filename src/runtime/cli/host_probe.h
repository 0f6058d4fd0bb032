// What this host offers the runtime, found by looking and, for KVM, by booting.
//
//   HostFacts facts = ProbeHost(config);                 // cheap: files, ioctls, qemu -version
//   absl::StatusOr<BootProbe> boot = ProbeBoot(config, hypervisor::Accelerator::kKvm, 15s);
//
// ProbeBoot runs QEMU with the configured kernel and no initrd ("console=ttyS0 panic=-1"):
// a kernel that boots panics on the missing root file system and, with -no-reboot, QEMU
// exits; the console shows "Kernel panic". That proves the accelerator runs a real guest
// kernel to the end of its boot. A guest that hangs (as on this host's KVM) hits the timeout.
#ifndef KATA_SRC_RUNTIME_CLI_HOST_PROBE_H_
#define KATA_SRC_RUNTIME_CLI_HOST_PROBE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/runtime/config/config.h"
#include "src/runtime/hypervisor/hypervisor.h"

namespace kata::runtime::cli {

struct HostFacts {
  std::string qemu_path;
  bool qemu_found = false;
  std::string qemu_version;      // "QEMU emulator version 7.2.22 (...)", or the error
  bool qemu_9p = false;          // `-device help` lists virtio-9p-pci
  bool qemu_virtio_fs = false;   // `-device help` lists vhost-user-fs-pci
  bool virtiofsd_found = false;  // hypervisor.qemu.virtio_fs_daemon is executable
  bool kvm_device = false;       // /dev/kvm exists
  int kvm_api = -1;              // KVM_GET_API_VERSION (12), -1 when it cannot be opened
  std::string kvm_error;
  bool vhost_vsock = false;  // /dev/vhost-vsock can be opened read/write
  bool kernel_found = false;
  bool initrd_found = false;  // or no initrd configured
  bool host_9p = false;       // host kernel knows 9p (only matters for debugging)
  std::string host_kernel;    // uname -r
};

HostFacts ProbeHost(const config::RuntimeConfig& config);

struct BootProbe {
  bool booted = false;  // the kernel reached its final panic and QEMU exited
  absl::Duration elapsed;
  std::string detail;  // the console line that proved it, or why not
};

// INVALID_ARGUMENT/NOT_FOUND when QEMU or the kernel is missing; otherwise the outcome.
absl::StatusOr<BootProbe> ProbeBoot(const config::RuntimeConfig& config,
                                    hypervisor::Accelerator accelerator, absl::Duration timeout);

}  // namespace kata::runtime::cli

#endif  // KATA_SRC_RUNTIME_CLI_HOST_PROBE_H_
