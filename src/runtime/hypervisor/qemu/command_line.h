// QEMU's command line, built from a VmConfig. The only place that knows QEMU's flags.
//
//   QemuPaths paths = PathsFor(config);
//   KATA_ASSIGN_OR_RETURN(std::vector<std::string> argv, BuildCommandLine(config, {}));
//   // argv[0] is the QEMU binary; exec it as is.
//
// Layout (stable, so the guest side can rely on it):
//   q35:     virtio-serial-pci at 00:02, virtio-9p-pci (or vhost-user-fs-pci) at 00:03,
//            vhost-vsock-pci at 00:04,
//            virtio-net-pci NICs at 00:05.. (a tap fd each, `-netdev tap,fd=N`),
//            hotplug root ports "rp0".."rpN-1" at 00:10.. (native PCIe hotplug, so unplug
//            completes without guest help while the slot is powered off, e.g. before boot);
//            a device hot-plugged behind root port i has the PCI path "<10+i>/00";
//            virtio-rng-pci (VmConfig::entropy_source) at 00:1d, virtio-balloon-pci
//            (reclaim_guest_freed_memory) at 00:1e.
//   microvm: virtio-mmio devices (virtio-serial-device, virtio-9p-device or
//            vhost-user-fs-device, vhost-vsock-device, virtio-rng-device,
//            virtio-balloon-device); no hotplug.
//   virtio-fs: guest RAM is a shared memfd (`memory-backend-memfd,share=on`, the machine's
//            memory-backend) so virtiofsd can map it; QEMU connects to virtiofsd's socket
//            (QemuPaths::virtiofs_socket), which the driver listens on before QEMU starts.
//   Both:    the console is virtio-console port 0 (kernel "console=hvc0"; the guest's
//            first lines, before its module loads, go to the first serial port), both on one
//            mux chardev into a socket the runtime reads (CommandLineOptions::console_fd;
//            console_log.h caps the log); virtio-serial exists whenever there is a console
//            or the agent channel is virtio-serial. QMP
//            on a unix socket (QEMU listens), the agent channel as named in VmConfig; with
//            VmConfig::debug_console a second port "agent.debug_console" on
//            debug-console.sock (virtio-serial), or nothing more (vsock: the agent's port);
//            with VmConfig::agent_trace a port "agent.trace" on agent-trace.sock likewise;
//            `-sandbox <value>` (QEMU's seccomp filter) and 9p `multidevs=remap` when the
//            options ask for them (the caller probes what the QEMU binary supports: features.h).
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_COMMAND_LINE_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_COMMAND_LINE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/runtime/hypervisor/hypervisor.h"

namespace kata::hypervisor::qemu {

// Upper bound on VmConfig::hotplug_slots (root ports occupy slots 0x10.. of pcie.0).
inline constexpr uint32_t kMaxHotplugSlots = 8;
inline constexpr int kFirstRootPortSlot = 0x10;
// NICs (VmConfig::net_devices) sit at pcie.0 slots 0x5..0xf on q35.
inline constexpr int kFirstNicSlot = 0x5;
inline constexpr size_t kMaxNetDevices = 11;
// The virtio-balloon device (VmConfig::reclaim_guest_freed_memory) on q35.
inline constexpr int kBalloonSlot = 0x1e;
// The virtio-rng device (VmConfig::entropy_source) on q35.
inline constexpr int kRngSlot = 0x1d;

// Files QEMU creates under VmConfig::work_dir.
struct QemuPaths {
  std::string qmp_socket;       // work_dir/qmp.sock
  std::string agent_socket;     // work_dir/agent.sock (virtio-serial only)
  std::string console_log;      // work_dir/console.log (the guest's serial console)
  std::string qemu_log;         // work_dir/qemu.log (QEMU's own stdout/stderr)
  std::string virtiofs_socket;  // work_dir/vfs.sock (virtio-fs only: virtiofsd listens)
  std::string virtiofsd_log;    // work_dir/virtiofsd.log
  // work_dir/debug-console.sock (VmConfig::debug_console with virtio-serial only): QEMU
  // listens; the client (`kata-runtime exec`) talks to the guest's debug console through it.
  std::string debug_console_socket;
  // work_dir/agent-trace.sock (VmConfig::agent_trace with virtio-serial only): QEMU listens;
  // the shim reads the agent's spans from it.
  std::string agent_trace_socket;
};
QemuPaths PathsFor(const VmConfig& config);

struct CommandLineOptions {
  std::string binary = "qemu-system-x86_64";
  // -S: QEMU starts with vCPUs stopped (QMP "cont" starts them).
  bool start_paused = false;
  // false allows a VM without a kernel (firmware only; useful paused, for tests of the
  // control plane without a guest image).
  bool require_kernel = true;
  // kVsock: an open /dev/vhost-vsock fd that holds VmConfig::vsock_guest_cid (vsock_cid.h),
  // passed as the device's vhostfd (QEMU must inherit it at this number); -1: QEMU opens the
  // device itself.
  int vhost_vsock_fd = -1;
  // The guest's serial console: a connected socket QEMU inherits at this number
  // (`-chardev socket,fd=N`); -1: the console goes nowhere (`-serial null`).
  int console_fd = -1;
  // `-sandbox <value>` (e.g. "on,obsolete=deny,elevateprivileges=deny,spawn=deny,
  // resourcecontrol=deny"); empty: no seccomp sandbox.
  std::string sandbox;
  // The 9p share gets `multidevs=remap` (inode numbers stay unique across host devices).
  bool fsdev_multidevs_remap = false;
};

// OK, or INVALID_ARGUMENT naming the offending field: missing kernel, zero vcpus/memory,
// relative or missing work_dir, socket paths too long, microvm with hotplug slots, too many
// slots, relative shared_dir, bad mount tag, vsock CID < 3, a NIC without a tap fd or with a
// bad MAC, too many NICs, a console fd < 3, a sandbox value that is not an option list of
// [a-z=,]. Does not touch the filesystem.
absl::Status ValidateConfig(const VmConfig& config, const CommandLineOptions& options);

// The full argv (argv[0] = options.binary), or ValidateConfig's error.
absl::StatusOr<std::vector<std::string>> BuildCommandLine(const VmConfig& config,
                                                          const CommandLineOptions& options);

// The id and pcie.0 slot of hotplug root port `i` (0-based).
std::string RootPortId(uint32_t i);
int RootPortSlot(uint32_t i);

// A value for a QEMU option list: commas doubled ("a,b" -> "a,,b").
std::string EscapeOptionValue(const std::string& value);

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_COMMAND_LINE_H_
