// The QEMU driver: a Hypervisor that runs one qemu-system-x86_64 process per VM.
//
//   QemuDriver vm({.binary = "qemu-system-x86_64"});
//   KATA_RETURN_IF_ERROR(vm.CreateVm(config));            // validates, checks files, mkdir
//   KATA_RETURN_IF_ERROR(vm.StartVm(absl::Seconds(10)));  // exec QEMU, QMP connected
//   KATA_ASSIGN_OR_RETURN(DeviceInfo d, vm.HotplugBlockDevice({.id = "b0", .path = img}));
//   KATA_RETURN_IF_ERROR(vm.UnplugDevice("b0"));
//   std::thread watch([&] { absl::StatusOr<VmExit> e = vm.WaitVm(absl::InfiniteDuration()); });
//   KATA_RETURN_IF_ERROR(vm.StopVm());                     // quit, SIGKILL after a grace
//   watch.join();                                          // e->cause == kStoppedByHost
//
// Beyond hypervisor.h's contracts:
//   - StartVm: QEMU's stdout/stderr go to work_dir/qemu.log; if QEMU exits before QMP
//     answers, the status (FAILED_PRECONDITION) quotes the end of that log.
//   - The guest's serial console goes through a socket to a thread of the driver
//     (console_log.h) into work_dir/console.log (0600), rotated into console.log.1 so that
//     neither exceeds options.console_log_max_bytes; the thread ends with the VM (Teardown
//     joins it after QEMU is gone). A slow reader makes QEMU drop console bytes, never wait.
//   - QEMU runs with `-sandbox options.seccomp_sandbox` (its seccomp filter) and the 9p share
//     with multidevs=remap when the binary accepts them: CreateVm probes it (features.h, once
//     per binary and value in a process) unless options.features is given.
//   - With options.start_paused QEMU starts with -S and StartVm ends in kPaused (the vCPUs
//     have never run; ResumeVm starts them). Devices hot-plugged then are present at boot.
//   - shared_fs kVirtioFs: StartVm starts virtiofsd (virtiofsd.h) before QEMU and the VM's
//     end ends it (Teardown); Pids() lists QEMU and virtiofsd (the host cgroup holds both).
//   - Block devices go behind the q35 root ports (VmConfig::hotplug_slots), one per port:
//     blockdev-add (protocol "host_device" for a host block device, else "file") then
//     device_add virtio-blk-pci; a failed device_add deletes the node again. Unplug is
//     device_del, DEVICE_DELETED (at most unplug_timeout), blockdev-del.
//   - One reaper thread per QEMU (ChildProcess) is the only one to wait(2) for it; WaitVm
//     blocks on it without holding the driver, so StopVm and any number of WaitVm callers
//     never race to reap. How the VM ended comes from QEMU's wait status and its QMP
//     SHUTDOWN event (vm_exit.h): the guest powering off is kGuestShutdown.
//   - If QEMU dies on its own, State() is kStopped at once; the next call that needs QEMU
//     reports UNAVAILABLE "qemu <exit>: <log tail>" (StopVm returns OK instead), whether or
//     not a WaitVm saw the end first.
//   - Under TCG QEMU runs with transparent huge pages disabled (PR_SET_THP_DISABLE, process.h):
//     guest RAM then costs the 4 KiB pages the guest touched, not 2 MiB each; KVM keeps them.
//   - The destructor kills a QEMU still running (SIGKILL to its process group) and records
//     kStoppedByHost. Every WaitVm must have returned before the driver is destroyed (StopVm
//     first, then join the waiting threads).
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_QEMU_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_QEMU_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/libs/base/unique_fd.h"
#include "src/runtime/hypervisor/hypervisor.h"
#include "src/runtime/hypervisor/qemu/command_line.h"
#include "src/runtime/hypervisor/qemu/console_log.h"
#include "src/runtime/hypervisor/qemu/features.h"
#include "src/runtime/hypervisor/qemu/virtiofsd.h"
#include "src/runtime/hypervisor/qemu/vsock_cid.h"

namespace kata::hypervisor::qemu {

class ChildProcess;
class QmpClient;

struct QemuDriverOptions {
  std::string binary = "qemu-system-x86_64";
  bool start_paused = false;
  // false allows a VmConfig without a kernel (control-plane tests; start it paused).
  bool require_kernel = true;
  absl::Duration qmp_timeout = absl::Seconds(10);  // per QMP command
  // quit -> SIGKILL: StopVm takes at most this long (a QEMU that does not answer "quit" in
  // time, e.g. stopped with SIGSTOP, gets SIGKILL at once).
  absl::Duration stop_grace = absl::Seconds(5);
  // device_del -> DEVICE_DELETED. A running Linux guest powers a root port's slot off 5 s
  // after the attention button device_del presses (pciehp), so an unplug takes that long.
  absl::Duration unplug_timeout = absl::Seconds(30);
  // QEMU gets SIGKILL if the thread that started it dies (PR_SET_PDEATHSIG). Only for
  // callers whose starting thread outlives the VM (tests, a dedicated VM thread).
  bool die_with_parent = false;
  // kVsock: StartVm claims a host-unique guest CID (vsock_cid.h) instead of
  // VmConfig::vsock_guest_cid, holds its /dev/vhost-vsock fd until the VM is stopped and passes
  // it to QEMU as vhostfd; GetAgentChannel reports that CID. false: the config's CID as is.
  bool allocate_vsock_cid = true;
  VsockCidOptions vsock_cid;  // the device, the range, the probe (tests)
  // QEMU's `-sandbox` value, used when the binary accepts it; "" = no seccomp sandbox.
  std::string seccomp_sandbox = kStrictSandbox;
  // What the binary accepts; unset: probed by CreateVm (CachedQemuFeatures, with this cache
  // file when set: the factory's kQemuFeaturesCacheFile).
  std::optional<QemuFeatures> features;
  std::string features_cache_file;
  // Each of console.log and console.log.1 holds at most this many bytes (>= 4096).
  uint64_t console_log_max_bytes = uint64_t{1} << 20;
};

class QemuDriver : public Hypervisor {
 public:
  explicit QemuDriver(QemuDriverOptions options = {});
  ~QemuDriver() override;

  absl::Status CreateVm(const VmConfig& config) override;
  absl::Status StartVm(absl::Duration timeout) override;
  absl::Status StopVm() override;
  absl::Status PauseVm() override;
  absl::Status ResumeVm() override;
  absl::StatusOr<DeviceInfo> HotplugBlockDevice(const BlockDevice& device) override;
  absl::Status UnplugDevice(const std::string& id) override;
  absl::StatusOr<AgentChannel> GetAgentChannel() const override;
  // MADV_PAGEOUT (page_out.h) on QEMU's mappings of the kernel and initrd files.
  absl::Status ReleaseBootMemory() override;
  std::vector<pid_t> Pids() const override;
  Capabilities GetCapabilities() const override;
  VmState State() const override;
  absl::StatusOr<VmExit> WaitVm(absl::Duration timeout) override;

  // The argv StartVm runs (after CreateVm; the console fd and an allocated vsock CID appear
  // after StartVm).
  std::vector<std::string> argv() const;
  // What CreateVm found the binary accepts (features.h).
  QemuFeatures features() const;
  // The console reader's counters (after the VM: its final ones).
  ConsoleReader::Stats console_stats() const;

 private:
  // Checks `op` against the state, and (when QEMU should be up) that it still is; reports a
  // death noticed by WaitVm once.
  absl::Status Check(VmOp op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // qmp_->Execute; if the connection is lost (QEMU died), Ended().
  absl::StatusOr<std::string> Qmp(absl::string_view command, absl::string_view args = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // QEMU ended (or its QMP connection did: then it gets 2 s to exit before SIGKILL): records
  // the exit, tears down (-> kStopped) and returns UNAVAILABLE "qemu <exit>: <log tail>".
  absl::Status Ended() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends QEMU for the host: quit (if `orderly`), SIGKILL after the grace; records
  // kStoppedByHost unless an exit is recorded already; tears down.
  void Shutdown(bool orderly) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets exit_ (once) from the reaped process_, its SHUTDOWN event and its log.
  void RecordExit(bool by_host) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // kVsock with allocate_vsock_cid: claims a free CID into vsock_fd_ and config_.
  absl::Status ClaimVsockCid() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The command line's options for this driver (console and vhost fds: -1 = none yet).
  CommandLineOptions CommandLine(int console_fd) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Closes QMP, drops the process and the devices, removes the sockets, ends the console
  // reader; -> kStopped.
  void Teardown() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the sockets QEMU listens on (stale ones would be "connected" to nobody).
  void UnlinkSockets() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct PluggedDevice {
    uint32_t slot;  // root port index
    std::string node_name;
  };

  const QemuDriverOptions options_;
  mutable absl::Mutex mu_;
  VmState state_ ABSL_GUARDED_BY(mu_) = VmState::kInitial;
  VmConfig config_ ABSL_GUARDED_BY(mu_);
  QemuPaths paths_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> argv_ ABSL_GUARDED_BY(mu_);
  // Shared with WaitVm callers blocked on its exit while mu_ is free.
  std::shared_ptr<ChildProcess> process_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<QmpClient> qmp_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, PluggedDevice> devices_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> slot_used_ ABSL_GUARDED_BY(mu_);
  std::optional<VmExit> exit_ ABSL_GUARDED_BY(mu_);  // set once QEMU has ended
  UniqueFd vsock_fd_ ABSL_GUARDED_BY(mu_);  // holds config_.vsock_guest_cid while QEMU runs
  QemuFeatures features_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ConsoleReader> console_ ABSL_GUARDED_BY(mu_);  // while QEMU runs
  std::unique_ptr<Virtiofsd> virtiofsd_ ABSL_GUARDED_BY(mu_);    // virtio-fs, while QEMU runs
  ConsoleReader::Stats console_stats_ ABSL_GUARDED_BY(mu_);      // the last VM's
  // A death WaitVm noticed that no call has reported yet (OK: none).
  absl::Status unreported_death_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_QEMU_H_
