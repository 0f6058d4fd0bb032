// The VM sandbox's class, shared by its implementation files (vm_sandbox.cc: lifecycle and
// containers; vm_sandbox_io.cc: processes' stdio). Private to //src/runtime/sandbox:vm_sandbox.
#ifndef KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_IMPL_H_
#define KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_IMPL_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/runtime/sandbox/completions.h"
#include "src/runtime/sandbox/host_cgroup.h"
#include "src/runtime/sandbox/host_devices.h"
#include "src/runtime/sandbox/layout.h"
#include "src/runtime/sandbox/registry.h"
#include "src/runtime/sandbox/sandbox.h"
#include "src/runtime/sandbox/vm_link.h"
#include "src/runtime/sandbox/vm_sandbox.h"

namespace kata::runtime::internal {

inline std::string Context(const std::string& cid) { return "container " + cid; }

// Where the agent mounts a block volume in the guest (Kata's sandbox storage directory).
inline constexpr char kGuestBlockVolumeDir[] = "/run/kata-containers/sandbox/storage/";

class VmSandbox : public Sandbox {
 public:
  explicit VmSandbox(SandboxOptions options)
      : o_(std::move(options)), layout_(o_.id, o_.paths), registry_(o_.id) {}

  ~VmSandbox() override { Shutdown().IgnoreError(); }

  const std::string& id() const override { return o_.id; }
  SandboxState State() const override {
    absl::MutexLock l(&mu_);
    return state_;
  }
  void SetExitObserver(ExitObserver observer) override {
    registry_.SetObserver(std::move(observer));
  }
  void SetOomObserver(OomObserver observer) override {
    absl::MutexLock l(&oom_mu_);
    oom_observer_ = std::move(observer);
  }

  absl::Status Start() override;
  absl::Status Shutdown() override;
  absl::Status WaitVmDeath() override;
  std::vector<pid_t> VmPids() const override;
  absl::StatusOr<std::string> AgentMetrics() override;

  absl::Status CreateContainer(const ContainerConfig& config) override;
  absl::Status StartContainer(const std::string& cid) override;
  absl::Status DeleteContainer(const std::string& cid) override;
  absl::StatusOr<ContainerState> GetContainerState(const std::string& cid) const override;
  std::vector<std::string> ContainerIds() const override { return registry_.Ids(); }
  absl::Status Pause(const std::string& cid) override;
  absl::Status Resume(const std::string& cid) override;
  absl::StatusOr<ContainerStats> Stats(const std::string& cid) override;
  absl::Status Update(const std::string& cid, const oci::LinuxResources& resources) override;
  absl::Status Exec(const std::string& cid, const std::string& exec_id, const oci::Process& process,
                    bool terminal) override;
  absl::Status Signal(const std::string& cid, const std::string& exec_id, int signal,
                      bool all) override;
  absl::StatusOr<ExitStatus> Wait(const std::string& cid, const std::string& exec_id) override;
  absl::StatusOr<std::vector<ProcessInfo>> Processes(const std::string& cid) const override;
  absl::StatusOr<ProcessInfo> GetProcess(const std::string& cid,
                                         const std::string& exec_id) const override;
  absl::Status DeleteProcess(const std::string& cid, const std::string& exec_id) override;
  absl::StatusOr<size_t> WriteStdin(const std::string& cid, const std::string& exec_id,
                                    absl::string_view data) override;
  absl::Status CloseStdin(const std::string& cid, const std::string& exec_id) override;
  absl::StatusOr<std::string> ReadStdout(const std::string& cid, const std::string& exec_id,
                                         size_t max_bytes) override;
  absl::StatusOr<std::string> ReadStderr(const std::string& cid, const std::string& exec_id,
                                         size_t max_bytes) override;
  void ReadOutputAsync(const std::string& cid, const std::string& exec_id, bool stderr_stream,
                       size_t max_bytes, ReadDone done) override;
  void WriteStdinAsync(const std::string& cid, const std::string& exec_id, std::string data,
                       WriteDone done) override;
  absl::Status ResizePty(const std::string& cid, const std::string& exec_id, uint32_t width,
                         uint32_t height) override;

 private:
  // Start, inside its span "sandbox.start".
  absl::Status StartTraced();
  // A block device given to a container: its id in the VM, its host claim.
  struct PluggedDevice {
    std::string vm_id;
    HostBlockDevice host;
  };
  // The VM link, after checking the sandbox allows `op` (null in a sandbox without one).
  absl::StatusOr<std::shared_ptr<VmLink>> Link(SandboxOp op) const;
  // vm_sandbox_devices.cc: claims and hot-plugs the block devices and block volumes of `spec`
  // (host_devices.h). Each device becomes a grpc.Device of `req` (type "blk", id = its PCI
  // path, container_path); each volume a grpc.Storage (driver "blk", source = its PCI path,
  // ext4, at kGuestBlockVolumeDir/<vm id>), which becomes the source of its bind mount in
  // `spec`. A block-device rootfs (`rootfs`) goes first, as the same kind of Storage with
  // containerd's options; its mount point becomes `*guest_root`. All or nothing: on error
  // what was plugged is unplugged again and nothing stays claimed.
  absl::StatusOr<std::vector<PluggedDevice>> PlugDevices(VmLink* link,
                                                         std::optional<HostBlockRootfs> rootfs,
                                                         oci::Spec* spec,
                                                         ::grpc::CreateContainerRequest* req,
                                                         std::string* guest_root);
  // The rootfs of `config` when it is a block device this VM can take (HostBlockRootfs; not
  // with hypervisor.qemu.disable_block_device_use or without hot-plug slots). When its
  // hot-plug finds no free root port, CreateContainer shares it instead.
  std::optional<HostBlockRootfs> BlockRootfsOf(const ContainerConfig& config,
                                               const VmLink* link) const;
  // Claims `device`, hot-plugs it and appends it to `plugged`.
  absl::StatusOr<hypervisor::DeviceInfo> PlugOne(VmLink* link, HostBlockDevice device,
                                                 bool read_only,
                                                 std::vector<PluggedDevice>* plugged);
  // DeleteContainer: the devices of `cid` leave the VM (UnplugDevices) when it runs.
  absl::Status ReleaseDevices(const std::string& cid);
  // Unplugs each device (the driver waits until the VM released it), then drops its claim.
  // A device the VM did not release stays claimed until Shutdown. Returns the first error.
  absl::Status UnplugDevices(VmLink* link, std::vector<PluggedDevice> devices);
  // The agent, after checking the sandbox allows `op`.
  absl::StatusOr<std::shared_ptr<AgentClient>> Agent(SandboxOp op) const;
  // The agent and the process for a guest call on (cid, exec_id).
  struct Target {
    std::shared_ptr<AgentClient> agent;
    ProcessRegistry::ProcessRef proc;
  };
  absl::StatusOr<Target> GuestTarget(const std::string& cid, const std::string& exec_id,
                                     ContainerOp op) const;
  absl::Status CheckQuery() const;
  // With static_sandbox_resource_mgmt, `config`'s default_vcpus/default_memory become the
  // pod's VM size (pod.h). INVALID_ARGUMENT for a spec whose sizing annotations are bad.
  absl::Status SizeForPod(config::RuntimeConfig* config) const;
  // The pod's cgroup (spec linux.cgroupsPath), this process moved into it; null without one.
  absl::StatusOr<std::unique_ptr<PodCgroup>> EnterPodCgroup() const;
  // The one wait for a process in the guest (WaitProcessAsync: no thread while it runs);
  // its completion records the exit in the registry (through completions_).
  void StartWaiter(const std::shared_ptr<AgentClient>& agent, const std::string& cid,
                   const std::string& exec_id, const std::string& agent_exec);
  // Why a guest wait or read failed with `error`: the VM's death, the shutdown, or itself.
  absl::Status LostCause(const std::string& cid, const absl::Status& error);
  void Watch(std::shared_ptr<VmLink> link);
  // The OOM watcher: GetOOMEvent after GetOOMEvent, each event to the OomObserver, until the
  // sandbox is no longer running (the agent closed ends the pending call).
  void WatchOom(std::shared_ptr<AgentClient> agent);
  // Waits up to `d` or until the sandbox stops running; returns whether it still runs.
  bool RunningAfter(absl::Duration d);
  void VmDied(absl::Status cause);
  // Runs `call` (a guest call) for at most o_.guest_timeout. A guest that does not answer in
  // time, or whose connection fails (DEADLINE_EXCEEDED, UNAVAILABLE), cannot be trusted to be
  // consistent any more: AbandonVm, and the result is that cause. Otherwise the answer.
  absl::Status BoundedGuestCall(const std::string& what, std::function<absl::Status()> call);
  // The VM is treated as dead: kVmDied with `cause`, the agent closed, the VMM stopped (for
  // good: SIGKILL when it does not quit), every process ended with `cause`. A no-op unless
  // kRunning and not shutting down.
  void AbandonVm(absl::Status cause);
  absl::Status ReadStream(const std::string& cid, const std::string& exec_id, size_t max_bytes,
                          bool stderr_stream, std::string* out);
  // What a stdio read that failed with `error` (not EOF) returns: OK ("", EOF) after the VM's
  // end, a shutdown or the container's deletion, else the cause. May wait (LostCause).
  absl::Status ReadFailure(const std::string& cid, const absl::Status& error);
  // The read's request, or what it returns at once ("" for EOF).
  absl::StatusOr<std::optional<::grpc::ReadStreamRequest>> ReadRequest(
      const std::string& cid, const std::string& exec_id, size_t max_bytes, bool stderr_stream,
      std::shared_ptr<AgentClient>* agent);

  const SandboxOptions o_;
  SandboxLayout layout_;

  mutable absl::Mutex mu_;  // taken before the registry's own lock, never after
  absl::CondVar changed_;   // state_ changed (VM death, shutdown)
  SandboxState state_ ABSL_GUARDED_BY(mu_) = SandboxState::kInitial;
  absl::Status death_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<VmLink> link_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<PodCgroup> cgroup_ ABSL_GUARDED_BY(mu_);             // null: the spec named none
  std::unique_ptr<network::PodNetwork> network_ ABSL_GUARDED_BY(mu_);  // removed by Shutdown
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // Block devices in the VM by container; those the VM would not release, until Shutdown.
  std::map<std::string, std::vector<PluggedDevice>> devices_ ABSL_GUARDED_BY(mu_);
  std::vector<PluggedDevice> stuck_devices_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> next_device_{0};  // VM ids "blk0", "blk1", ...
  std::thread watcher_;
  std::thread oom_watcher_;
  absl::Mutex oom_mu_;  // never held with mu_
  OomObserver oom_observer_ ABSL_GUARDED_BY(oom_mu_);
  absl::Mutex shutdown_mu_;  // one Shutdown at a time
  ProcessRegistry registry_;
  // Last: destroyed first, so a process wait still finishing finds every member above alive
  // (Shutdown, which the destructor runs, has waited for them already).
  Completions completions_;
  Completions reads_;  // asynchronous stdio reads (their failures may wait: LostCause)
};

}  // namespace kata::runtime::internal

#endif  // KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_IMPL_H_
