// The hypervisor interface: what the host runtime asks of a VMM driver.
//
// A driver (QEMU first, in qemu/) implements `Hypervisor`; the sandbox code above it never
// sees a VMM's flags, sockets or protocols. One Hypervisor object drives one VM through an
// explicit lifecycle (see VmState below):
//
//   std::unique_ptr<Hypervisor> vm = std::make_unique<qemu::QemuDriver>(options);
//   KATA_RETURN_IF_ERROR(vm->CreateVm(config));           // validate, prepare paths
//   KATA_RETURN_IF_ERROR(vm->StartVm(absl::Seconds(10))); // VMM process up, control ready
//   KATA_ASSIGN_OR_RETURN(DeviceInfo d, vm->HotplugBlockDevice({"blk0", "/img.raw"}));
//   // d.pci_path ("10/00") is what the agent needs to find the disk in the guest.
//   KATA_RETURN_IF_ERROR(vm->StopVm());
//   KATA_ASSIGN_OR_RETURN(VmExit how, vm->WaitVm(absl::ZeroDuration()));  // kStoppedByHost
//
// Contracts common to every driver:
//   - A call not legal in the current state fails with FAILED_PRECONDITION and changes
//     nothing (the legal calls per state are in CheckVmOp).
//   - Calls are serialized by the driver: a Hypervisor may be used from several threads.
//   - StopVm (and the destructor) never leave a VMM process behind.
//   - WaitVm reports how the VM ended (VmExit: the guest shut down, the VMM exited or was
//     killed by itself, or the host stopped it), once for every waiter.
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_HYPERVISOR_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_HYPERVISOR_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace kata::hypervisor {

enum class MachineType { kQ35, kMicrovm };
enum class Accelerator { kTcg, kKvm };
// How VmConfig::shared_dir reaches the guest: QEMU's own 9p server, or virtio-fs (a
// virtiofsd per VM, sandboxed to the directory; guest memory is then a shared memfd).
enum class SharedFsKind { k9p, kVirtioFs };

// How the host reaches the agent inside the guest.
enum class AgentChannelKind {
  kVirtioSerial,  // a virtio-serial port named "agent.channel.0"; the host end is a unix socket
  kVsock,         // a vhost-vsock device; the host dials (guest_cid, port)
};

// The agent's debug console (see VmConfig::debug_console): Kata's vsock port, and the name of
// the virtio-serial port that stands in for it where the host has no vhost-vsock.
inline constexpr uint32_t kDebugConsoleVsockPort = 1026;
inline constexpr char kDebugConsolePortName[] = "agent.debug_console";
// The unix socket (in VmConfig::work_dir) a driver gives the virtio-serial port's host end.
inline constexpr char kDebugConsoleSocketName[] = "debug-console.sock";

// The agent's trace stream (see VmConfig::agent_trace and src/libs/trace/frame.h): Kata's
// vsock port for the agent's spans, the virtio-serial port that stands in for it, and the unix
// socket (in VmConfig::work_dir) a driver gives that port's host end.
inline constexpr uint32_t kAgentTraceVsockPort = 10240;
inline constexpr char kAgentTracePortName[] = "agent.trace";
inline constexpr char kAgentTraceSocketName[] = "agent-trace.sock";

// Everything needed to create one VM. Plain data; drivers validate it in CreateVm.
// A NIC for the guest: an open tap fd (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) that the VMM
// inherits, and the MAC the guest sees. The fds are the caller's: they must stay open until
// StopVm. vhost_fd: an open /dev/vhost-net fd for the device (used with KVM only), or -1.
struct NetDevice {
  int tap_fd = -1;
  int vhost_fd = -1;
  std::string mac;  // "aa:bb:cc:dd:ee:ff"
};

struct VmConfig {
  std::string kernel_path;    // required (a bzImage or an ELF vmlinux)
  std::string initrd_path;    // optional
  std::string kernel_params;  // appended to the kernel command line as given
  uint32_t memory_mib = 256;
  uint32_t vcpus = 1;
  MachineType machine = MachineType::kQ35;
  Accelerator accelerator = Accelerator::kTcg;

  // Host directory shared with the guest (empty: no sharing) and the tag the guest mounts.
  std::string shared_dir;
  std::string shared_mount_tag = "kataShared";
  SharedFsKind shared_fs = SharedFsKind::k9p;
  // kVirtioFs: the daemon (absolute), its cache mode (auto, always, none) and extra arguments.
  std::string virtiofsd_path;
  std::string virtio_fs_cache = "auto";
  std::vector<std::string> virtiofsd_extra_args;

  AgentChannelKind agent_channel = AgentChannelKind::kVirtioSerial;
  uint32_t vsock_guest_cid = 3;  // kVsock only; must be >= 3
  uint32_t vsock_port = 1024;    // kVsock only: the agent's port

  // The agent's debug console (Kata's debug_console_enabled; a root shell in the guest): with
  // kVirtioSerial a second virtio-serial port named kDebugConsolePortName whose host end is a
  // unix socket the VMM listens on in work_dir (0600); with kVsock the agent's vsock port
  // kDebugConsoleVsockPort. The kernel command line must also carry `agent.debug_console`
  // (factory.h's job). false: no port at all.
  bool debug_console = false;

  // The agent's spans (Kata's [agent.kata] enable_tracing): with kVirtioSerial a port named
  // kAgentTracePortName whose host end is a unix socket the VMM listens on in work_dir (0600;
  // the shim reads it); with kVsock nothing (the agent sends to the host's port
  // kAgentTraceVsockPort). The kernel command line must also carry `agent.trace=true`.
  // false: no port at all.
  bool agent_trace = false;

  // Kata's entropy_source: a host file (absolute; /dev/urandom) behind a virtio-rng device, so
  // the guest's random pool is ready within its first moments of boot instead of after its
  // own slow entropy gathering (getrandom(2) in the agent and in containers blocks until
  // then). Empty: no device.
  std::string entropy_source;

  // Kata's reclaim_guest_freed_memory: a virtio-balloon device with free page reporting, so
  // the guest hands the pages it frees back to the host (the VMM's RSS shrinks after boot).
  bool reclaim_guest_freed_memory = false;
  // TCG only: the translation cache in MiB (QEMU's tb-size; 0 = QEMU's default, 1 GiB for
  // a system emulator, which a small guest fills with RSS it never gives back).
  uint32_t tcg_tb_size_mib = 0;

  // Number of hotplug slots (PCIe root ports on q35) to provision; 0 means no block
  // hotplug. Machines that cannot hotplug (microvm) reject a non-zero value.
  uint32_t hotplug_slots = 0;

  // NICs, in order (the guest matches them by MAC).
  std::vector<NetDevice> net_devices;

  // Absolute directory, owned by the sandbox, for the VMM's sockets and logs. Kept short:
  // unix socket paths hold 107 bytes.
  std::string work_dir;
};

// A host block device (a file or block device node) to hot-plug.
struct BlockDevice {
  std::string id;    // caller's unique id, reused by UnplugDevice; [A-Za-z0-9_-]+
  std::string path;  // host path
  bool read_only = false;
  std::string format = "raw";
};

// What the guest will see of a hot-plugged device.
struct DeviceInfo {
  std::string id;
  // Kata's PCI path: "SS/DD" hex slots from the root bus to the device ("10/00" is the
  // device in slot 0 behind the bridge/root port in slot 0x10 of the root bus).
  std::string pci_path;
};

// Where the host dials the agent.
struct AgentChannel {
  AgentChannelKind kind = AgentChannelKind::kVirtioSerial;
  std::string socket_path;  // kVirtioSerial: a unix stream socket (the VMM listens)
  uint32_t vsock_cid = 0;   // kVsock
  uint32_t vsock_port = 0;  // kVsock
};

// What a driver (for its configured machine) can do.
struct Capabilities {
  bool block_hotplug = false;
  bool fs_sharing = false;  // a shared host directory (9p/virtio-fs)
  bool vsock = false;       // the driver can attach vsock (the host still needs vhost-vsock)
  bool pause = false;
};

// The lifecycle of one VM.
//
//   kInitial --CreateVm--> kCreated --StartVm--> kRunning <--Pause/Resume--> kPaused
//   kCreated/kRunning/kPaused --StopVm--> kStopped (terminal)
//
// A failed CreateVm stays kInitial; a failed StartVm stays kCreated (nothing left running);
// a VMM that dies by itself ends the VM in kStopped: State() and WaitVm see it at once, and the
// next call that needs the VMM (or StopVm, which then succeeds) reports it: UNAVAILABLE with
// the VMM's exit.
// Hot(un)plug and GetAgentChannel are legal in kRunning and kPaused. A driver may be
// configured to start paused: its StartVm then ends in kPaused.
enum class VmState { kInitial, kCreated, kRunning, kPaused, kStopped };

enum class VmOp { kCreate, kStart, kStop, kPause, kResume, kHotplug, kQuery };

inline const char* VmStateName(VmState s) {
  switch (s) {
    case VmState::kInitial:
      return "initial";
    case VmState::kCreated:
      return "created";
    case VmState::kRunning:
      return "running";
    case VmState::kPaused:
      return "paused";
    case VmState::kStopped:
      return "stopped";
  }
  return "unknown";
}

inline const char* VmOpName(VmOp op) {
  switch (op) {
    case VmOp::kCreate:
      return "CreateVm";
    case VmOp::kStart:
      return "StartVm";
    case VmOp::kStop:
      return "StopVm";
    case VmOp::kPause:
      return "PauseVm";
    case VmOp::kResume:
      return "ResumeVm";
    case VmOp::kHotplug:
      return "device hotplug";
    case VmOp::kQuery:
      return "query";
  }
  return "unknown";
}

// OK if `op` is legal in state `s`, else FAILED_PRECONDITION naming both.
inline absl::Status CheckVmOp(VmState s, VmOp op) {
  bool ok = false;
  switch (op) {
    case VmOp::kCreate:
      ok = s == VmState::kInitial;
      break;
    case VmOp::kStart:
      ok = s == VmState::kCreated;
      break;
    case VmOp::kStop:
      ok = s == VmState::kCreated || s == VmState::kRunning || s == VmState::kPaused;
      break;
    case VmOp::kPause:
      ok = s == VmState::kRunning;
      break;
    case VmOp::kResume:
      ok = s == VmState::kPaused;
      break;
    case VmOp::kHotplug:
    case VmOp::kQuery:
      ok = s == VmState::kRunning || s == VmState::kPaused;
      break;
  }
  if (ok) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(VmOpName(op), " is not allowed in VM state ", VmStateName(s)));
}

// The state after `op` succeeded in a state where it was legal.
inline VmState StateAfter(VmState s, VmOp op) {
  switch (op) {
    case VmOp::kCreate:
      return VmState::kCreated;
    case VmOp::kStart:
      return VmState::kRunning;
    case VmOp::kStop:
      return VmState::kStopped;
    case VmOp::kPause:
      return VmState::kPaused;
    case VmOp::kResume:
      return VmState::kRunning;
    case VmOp::kHotplug:
    case VmOp::kQuery:
      return s;
  }
  return s;
}

// Why a VM ended.
enum class VmExitCause {
  kGuestShutdown,  // the guest powered off or halted (QEMU: SHUTDOWN event with a guest cause,
                   // VMM exits 0)
  kVmmExited,      // the VMM exited by itself for another reason; exit_code says how
  kVmmSignaled,    // the VMM was killed by a signal we did not send (e.g. kill -9 from outside);
                   // signal says which
  kStoppedByHost,  // StopVm (or the destructor) ended it
};

inline const char* VmExitCauseName(VmExitCause c) {
  switch (c) {
    case VmExitCause::kGuestShutdown:
      return "guest shutdown";
    case VmExitCause::kVmmExited:
      return "vmm exited";
    case VmExitCause::kVmmSignaled:
      return "vmm signaled";
    case VmExitCause::kStoppedByHost:
      return "stopped by host";
  }
  return "unknown";
}

// How a VM ended, as WaitVm reports it.
struct VmExit {
  VmExitCause cause = VmExitCause::kVmmExited;
  int exit_code = 0;   // kVmmExited / kGuestShutdown
  int signal = 0;      // kVmmSignaled / kStoppedByHost when it took SIGKILL
  std::string detail;  // human readable, e.g. "qemu exited with status 1: <last stderr line>"
};

// "<cause> (exit code N | signal N): <detail>", e.g.
// "vmm signaled (signal 9): qemu killed by signal 9 (SIGKILL)".
inline std::string VmExitToString(const VmExit& e) {
  std::string s = VmExitCauseName(e.cause);
  switch (e.cause) {
    case VmExitCause::kGuestShutdown:
    case VmExitCause::kVmmExited:
      absl::StrAppend(&s, " (exit code ", e.exit_code, ")");
      break;
    case VmExitCause::kVmmSignaled:
    case VmExitCause::kStoppedByHost:
      if (e.signal != 0) absl::StrAppend(&s, " (signal ", e.signal, ")");
      break;
  }
  if (!e.detail.empty()) absl::StrAppend(&s, ": ", e.detail);
  return s;
}

// One VM driven by one VMM. Pure interface; see the file comment for the shared contracts.
class Hypervisor {
 public:
  virtual ~Hypervisor() = default;

  // Validates `config` (INVALID_ARGUMENT with the reason) and prepares paths under
  // config.work_dir. Starts nothing. kInitial -> kCreated.
  virtual absl::Status CreateVm(const VmConfig& config) = 0;

  // Starts the VMM and waits until its control channel answers, at most `timeout`
  // (DEADLINE_EXCEEDED). If the VMM exits early the status carries its error output.
  // kCreated -> kRunning.
  virtual absl::Status StartVm(absl::Duration timeout) = 0;

  // Stops the VM: an orderly quit, then SIGKILL after a grace period. Always ends in
  // kStopped with no VMM process left, even when it returns an error.
  virtual absl::Status StopVm() = 0;

  // Freezes / thaws the guest's vCPUs. kRunning <-> kPaused.
  virtual absl::Status PauseVm() = 0;
  virtual absl::Status ResumeVm() = 0;

  // Hot-plugs a block device; returns where the guest will find it. UNIMPLEMENTED /
  // FAILED_PRECONDITION when the machine cannot hotplug, RESOURCE_EXHAUSTED when no slot is
  // free, ALREADY_EXISTS for a duplicate id.
  virtual absl::StatusOr<DeviceInfo> HotplugBlockDevice(const BlockDevice& device) = 0;

  // Removes a hot-plugged device and waits until the VMM confirms it (NOT_FOUND for an
  // unknown id). The guest must cooperate (a paused or kernel-less guest acks immediately).
  virtual absl::Status UnplugDevice(const std::string& id) = 0;

  // How the host reaches the agent. Legal once running (the endpoint exists).
  virtual absl::StatusOr<AgentChannel> GetAgentChannel() const = 0;

  // The guest has booted (its agent answered): the VMM drops what it keeps only to boot or
  // reset the guest (QEMU: the pages of the kernel and initrd files it keeps mapped; they are
  // re-read from the files if ever needed). A hint: the VM is unaffected whatever the result;
  // an error says why nothing was dropped (UNIMPLEMENTED where the host kernel cannot). Legal
  // once running. Default: nothing to drop.
  virtual absl::Status ReleaseBootMemory() { return absl::OkStatus(); }

  // Host PIDs of the VMM's processes (for cgroups and accounting); empty when not running.
  virtual std::vector<pid_t> Pids() const = 0;

  // What this driver can do with the configured machine (known after CreateVm; before it,
  // the capabilities of the default configuration).
  virtual Capabilities GetCapabilities() const = 0;

  virtual VmState State() const = 0;

  // Blocks until the VM has ended, at most `timeout` (DEADLINE_EXCEEDED then;
  // absl::InfiniteDuration() waits for ever). FAILED_PRECONDITION before StartVm succeeded
  // (a VM stopped before it ever started included). Once the VM ended, every call (from any
  // thread, any number of waiters, before or after StopVm) returns the same VmExit at once, the
  // VMM process is reaped and State() is kStopped. Stopped processes (SIGSTOP) are not an end.
  // Never polls /proc. Legal while another call runs (it does not hold the driver while it
  // waits), so one thread may wait for the VM's end while others drive it.
  virtual absl::StatusOr<VmExit> WaitVm(absl::Duration timeout) = 0;
};

}  // namespace kata::hypervisor

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_HYPERVISOR_H_
