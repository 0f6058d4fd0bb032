#include "src/runtime/sandbox/vm_sandbox.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/oci/spec_proto.h"
#include "src/runtime/agent/ttrpc_agent_client.h"
#include "src/runtime/hypervisor/qemu/qemu.h"
#include "src/runtime/sandbox/guest_spec.h"
#include "src/runtime/sandbox/host_mounts.h"

namespace kata::runtime {
namespace {

namespace fs = std::filesystem;
using hypervisor::Hypervisor;

constexpr char kPidFile[] = "vmm.pid";
constexpr absl::Duration kStartVmTimeout = absl::Seconds(30);
constexpr absl::Duration kDestroyTimeout = absl::Seconds(5);
constexpr absl::Duration kDeathConfirmation = absl::Seconds(5);

absl::Status CheckId(absl::string_view what, const std::string& id) {
  bool ok = !id.empty() && id.size() <= 128 && absl::ascii_isalnum(id[0]);
  for (char c : id) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-')) ok = false;
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"", id, "\": not a plain name ([A-Za-z0-9][A-Za-z0-9_.-]*, <= 128)"));
}

absl::Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("mkdir ", dir));
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& dir) {
  // Never follow into something still mounted: unmount first.
  absl::Status s = UnmountUnder(dir);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec && s.ok()) s = ErrnoStatus(ec.value(), absl::StrCat("remove ", dir));
  return s;
}

// True when `pid` is gone or a zombie (dead, not yet reaped by its parent).
bool ProcessDead(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return true;
  char state = line[close + 2];
  return state == 'Z' || state == 'X';
}

bool HasOption(const std::optional<oci::Strings>& options, absl::string_view o) {
  if (!options.has_value()) return false;
  return std::find(options->begin(), options->end(), o) != options->end();
}

// Binds each host path that `spec` bind-mounts into the container (a volume; not /proc,
// /sys or /dev) to <shared_dir>/volumes/<n>-<basename> and points the mount's source at the
// guest's view of it, as Kata does for shared-directory mounts. Undone with the container's
// shared directory.
absl::Status ShareBindMounts(const std::string& cid, const std::string& shared_dir,
                             oci::Spec* spec) {
  if (!spec->mounts.has_value()) return absl::OkStatus();
  int n = 0;
  for (oci::Mount& m : *spec->mounts) {
    const bool bind = m.type.value_or("") == "bind" || HasOption(m.options, "bind") ||
                      HasOption(m.options, "rbind");
    const std::string source = m.source.value_or("");
    if (!bind || source.empty() || source[0] != '/') continue;
    if (absl::StartsWith(source, "/proc") || absl::StartsWith(source, "/sys") ||
        absl::StartsWith(source, "/dev")) {
      continue;
    }
    struct stat st;
    if (stat(source.c_str(), &st) != 0) {
      return ErrnoStatus(errno, absl::StrCat("bind mount source ", source));
    }
    const std::string name =
        absl::StrCat(n++, "-", fs::path(m.destination).filename().string());
    const std::string dir = absl::StrCat(shared_dir, "/volumes");
    const std::string target = absl::StrCat(dir, "/", name);
    KATA_RETURN_IF_ERROR(MakeDirs(dir));
    if (S_ISDIR(st.st_mode)) {
      KATA_RETURN_IF_ERROR(MakeDirs(target));
    } else {
      std::ofstream touch(target);
      if (!touch) return ErrnoStatus(errno, absl::StrCat("create ", target));
    }
    KATA_RETURN_IF_ERROR(BindMount(source, target,
                                   {.recursive = HasOption(m.options, "rbind"),
                                    .read_only = HasOption(m.options, "ro")}));
    m.source = absl::StrCat(kGuestSharedDir, cid, "/volumes/", name);
  }
  return absl::OkStatus();
}

struct Proc {
  std::string exec_id;     // "" = init
  std::string agent_exec;  // the agent's exec id (the container id for init)
  bool terminal = false;
  ProcessState state = ProcessState::kCreated;
  std::optional<ExitStatus> exit;
  std::thread waiter;
};

struct Ctr {
  std::string id;
  ContainerState state = ContainerState::kCreated;
  std::vector<std::shared_ptr<Proc>> procs;  // init first
  std::string host_rootfs;    // <sb>/mounts/<cid>/rootfs (containerd's mounts), or ""
  std::string shared_dir;     // <sb>/shared/<cid>
  bool deleting = false;
};

class VmSandbox : public Sandbox {
 public:
  explicit VmSandbox(SandboxOptions options)
      : o_(std::move(options)),
        sandbox_dir_(absl::StrCat(o_.paths.shared_root, "/", o_.id)),
        shared_dir_(absl::StrCat(sandbox_dir_, "/shared")),
        mounts_dir_(absl::StrCat(sandbox_dir_, "/mounts")),
        vm_dir_(absl::StrCat(o_.paths.vm_root, "/", o_.id)) {}

  ~VmSandbox() override { Shutdown().IgnoreError(); }

  const std::string& id() const override { return o_.id; }

  SandboxState State() const override {
    absl::MutexLock l(&mu_);
    return state_;
  }

  absl::Status Start() override;
  absl::Status Shutdown() override;
  absl::Status WaitVmDeath() override;
  std::vector<pid_t> VmPids() const override;

  absl::Status CreateContainer(const ContainerConfig& config) override;
  absl::Status StartContainer(const std::string& cid) override;
  absl::Status DeleteContainer(const std::string& cid) override;
  absl::StatusOr<ContainerState> GetContainerState(const std::string& cid) const override;
  std::vector<std::string> ContainerIds() const override;
  absl::Status Pause(const std::string& cid) override;
  absl::Status Resume(const std::string& cid) override;
  absl::StatusOr<::grpc::StatsContainerResponse> Stats(const std::string& cid) override;
  absl::Status Update(const std::string& cid, const oci::LinuxResources& resources) override;
  absl::Status Exec(const std::string& cid, const std::string& exec_id,
                    const oci::Process& process, bool terminal) override;
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
  absl::Status ResizePty(const std::string& cid, const std::string& exec_id, uint32_t width,
                         uint32_t height) override;

 private:
  // The container `cid` after checking the sandbox for `sop` and the container for `cop`.
  absl::StatusOr<std::shared_ptr<Ctr>> Find(const std::string& cid, SandboxOp sop,
                                            ContainerOp cop) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::shared_ptr<Proc>> FindProc(const Ctr& c, const std::string& exec_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The agent for a guest call on (cid, exec): checks states under the lock.
  struct Target {
    std::shared_ptr<AgentClient> agent;
    std::shared_ptr<Ctr> ctr;
    std::shared_ptr<Proc> proc;
  };
  absl::StatusOr<Target> GuestTarget(const std::string& cid, const std::string& exec_id,
                                     ContainerOp op) const;
  // Starts the thread that waits for `p` in the guest.
  void StartWaiter(const std::shared_ptr<Ctr>& c, const std::shared_ptr<Proc>& p)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Watch();
  // A lost agent connection is how a VM's death usually shows first: waits (bounded) for the
  // watcher to confirm it, so the caller reports the death rather than the broken pipe.
  void AwaitVmDeath(absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time deadline = absl::Now() + timeout;
    while (state_ == SandboxState::kRunning && !shutting_down_ && absl::Now() < deadline) {
      changed_.WaitWithDeadline(&mu_, deadline);
    }
  }
  void VmDied(absl::Status cause);
  absl::Status ReadStream(const std::string& cid, const std::string& exec_id, size_t max_bytes,
                          bool stderr_stream, std::string* out);
  absl::Status RemoveHostSide(Ctr& c);
  std::string Context(const std::string& cid) const { return absl::StrCat("container ", cid); }

  const SandboxOptions o_;
  const std::string sandbox_dir_, shared_dir_, mounts_dir_, vm_dir_;

  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // any state change (process exit, VM death, shutdown)
  SandboxState state_ ABSL_GUARDED_BY(mu_) = SandboxState::kInitial;
  absl::Status death_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Hypervisor> vm_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<AgentClient> agent_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Ctr>> containers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool destroy_done_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_watch_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watcher_;
  absl::Mutex shutdown_mu_;  // one Shutdown at a time
};

absl::Status VmSandbox::Start() {
  {
    absl::MutexLock l(&mu_);
    KATA_RETURN_IF_ERROR(CheckSandboxOp(o_.id, state_, SandboxOp::kStart));
    state_ = SandboxState::kStopped;  // until it succeeds: a failed Start is final
  }
  const std::string ctx = absl::StrCat("sandbox ", o_.id);
  absl::Time step_start = absl::Now();
  auto step_done = [&](absl::string_view step) {
    const absl::Time now = absl::Now();
    if (o_.on_start_step) o_.on_start_step(step, now - step_start);
    step_start = now;
  };
  KATA_ASSIGN_OR_RETURN(hypervisor::VmConfig vm_config, VmConfigFor(o_.config, o_.id, o_.paths));

  // Another sandbox with this id, or what a dead one left: never take over (or remove) its
  // directories.
  for (const std::string& d : {sandbox_dir_, vm_dir_}) {
    if (access(d.c_str(), F_OK) == 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          ctx, ": ", d, " exists (a sandbox with this id is running, or one left it: "
          "CleanupSandbox removes leftovers)"));
    }
  }
  absl::Cleanup remove_dirs = [&] {
    RemoveTree(sandbox_dir_).IgnoreError();
    RemoveTree(vm_dir_).IgnoreError();
  };
  for (const std::string& d : {shared_dir_, mounts_dir_, vm_dir_}) {
    absl::Status s = MakeDirs(d);
    if (!s.ok()) return AnnotateStatus(s, ctx);
  }

  HypervisorFactory factory = o_.hypervisor_factory;
  if (!factory) {
    factory = [](const config::RuntimeConfig& c)
        -> absl::StatusOr<std::unique_ptr<hypervisor::Hypervisor>> {
      hypervisor::qemu::QemuDriverOptions qo;
      qo.binary = c.hypervisor.path;
      return std::make_unique<hypervisor::qemu::QemuDriver>(qo);
    };
  }
  absl::StatusOr<std::unique_ptr<Hypervisor>> made = factory(o_.config);
  if (!made.ok()) return AnnotateStatus(made.status(), ctx);
  std::shared_ptr<Hypervisor> vm = *std::move(made);

  absl::Status s = vm->CreateVm(vm_config);
  if (!s.ok()) return AnnotateStatus(s, absl::StrCat(ctx, ": create VM"));
  step_done("prepare");
  s = vm->StartVm(kStartVmTimeout);
  if (!s.ok()) {
    vm->StopVm().IgnoreError();
    return AnnotateStatus(s, absl::StrCat(ctx, ": start VM"));
  }
  step_done("start_vm");
  absl::Cleanup stop_vm = [&] { vm->StopVm().IgnoreError(); };
  {
    std::vector<pid_t> pids = vm->Pids();
    if (!pids.empty()) {
      std::ofstream(absl::StrCat(vm_dir_, "/", kPidFile)) << pids[0] << "\n";
    }
  }

  absl::StatusOr<hypervisor::AgentChannel> channel = vm->GetAgentChannel();
  if (!channel.ok()) return AnnotateStatus(channel.status(), absl::StrCat(ctx, ": agent channel"));
  AgentDialer dialer = o_.agent_dialer;
  if (!dialer) {
    AgentClientOptions ao;
    ao.create_container_timeout = absl::Seconds(o_.config.runtime.create_container_timeout);
    dialer = [ao](const hypervisor::AgentChannel& ch,
                  absl::Duration timeout) -> absl::StatusOr<std::unique_ptr<AgentClient>> {
      AgentClientOptions with = ao;
      with.dial_timeout = timeout;
      return DialAgent(AgentAddress(ch), with);
    };
  }
  absl::StatusOr<std::unique_ptr<AgentClient>> dialed =
      dialer(*channel, absl::Seconds(o_.config.agent.dial_timeout));
  if (!dialed.ok()) return AnnotateStatus(dialed.status(), ctx);
  std::shared_ptr<AgentClient> agent = *std::move(dialed);
  step_done("agent_ready");

  ::grpc::CreateSandboxRequest create;
  create.set_sandbox_id(o_.id);
  if (o_.spec.hostname.has_value()) create.set_hostname(*o_.spec.hostname);
  ::grpc::Storage* share = create.add_storages();
  share->set_driver("9p");
  share->set_source(kShareMountTag);
  share->set_fstype("9p");
  for (const char* opt : {"trans=virtio", "version=9p2000.L", "cache=mmap", "nodev"}) {
    share->add_options(opt);
  }
  share->set_mount_point(kGuestSharedDir);
  s = agent->CreateSandbox(create);
  if (!s.ok()) {
    agent->Close();
    return AnnotateStatus(s, ctx);
  }

  step_done("create_sandbox");
  std::move(stop_vm).Cancel();
  std::move(remove_dirs).Cancel();
  {
    absl::MutexLock l(&mu_);
    vm_ = std::move(vm);
    agent_ = std::move(agent);
    state_ = SandboxState::kRunning;
  }
  watcher_ = std::thread([this] { Watch(); });
  return absl::OkStatus();
}

void VmSandbox::Watch() {
  absl::MutexLock l(&mu_);
  while (!stop_watch_ && state_ == SandboxState::kRunning) {
    changed_.WaitWithTimeout(&mu_, o_.vm_watch_interval);
    if (stop_watch_ || shutting_down_ || state_ != SandboxState::kRunning) break;
    std::shared_ptr<Hypervisor> vm = vm_;
    bool dead = vm->State() == hypervisor::VmState::kStopped;
    std::vector<pid_t> pids = vm->Pids();
    if (pids.empty()) dead = true;
    for (pid_t p : pids) dead = dead || ProcessDead(p);
    if (!dead) continue;
    mu_.Unlock();
    // The driver reports how the VMM ended on its next state-checked call (and reaps it);
    // unplugging an id never plugged changes nothing on a live VM.
    // A multi-threaded VMM shows its leader as a zombie before its last thread is gone and
    // it can be reaped: ask again for a moment.
    absl::Status cause = vm->UnplugDevice("kata-vm-death-probe");
    for (int i = 0; i < 100 && absl::IsNotFound(cause); ++i) {
      absl::SleepFor(absl::Milliseconds(20));
      cause = vm->UnplugDevice("kata-vm-death-probe");
    }
    if (!absl::IsUnavailable(cause)) {
      cause = absl::UnavailableError(
          absl::StrCat("the VMM process is gone (driver: ", cause.ToString(), ")"));
    }
    vm->StopVm().IgnoreError();
    VmDied(absl::UnavailableError(absl::StrCat("sandbox ", o_.id, ": VM died: ", cause.message())));
    mu_.Lock();
  }
}

void VmSandbox::VmDied(absl::Status cause) {
  std::shared_ptr<AgentClient> agent;
  {
    absl::MutexLock l(&mu_);
    if (state_ != SandboxState::kRunning || shutting_down_) return;
    state_ = SandboxState::kVmDied;
    death_ = cause;
    agent = agent_;
    const absl::Time now = absl::Now();
    for (auto& [id, c] : containers_) {
      for (auto& p : c->procs) {
        if (!p->exit.has_value()) {
          p->exit = ExitStatus{255, now, cause};
          p->state = ProcessState::kExited;
        }
      }
      c->state = ContainerState::kStopped;
    }
    changed_.SignalAll();
  }
  // Unblocks every pending guest call (waits, reads).
  if (agent) agent->Close();
}

absl::Status VmSandbox::WaitVmDeath() {
  absl::MutexLock l(&mu_);
  while (state_ == SandboxState::kInitial || state_ == SandboxState::kRunning) {
    changed_.Wait(&mu_);
  }
  return death_;
}

std::vector<pid_t> VmSandbox::VmPids() const {
  absl::MutexLock l(&mu_);
  if (!vm_) return {};
  return vm_->Pids();
}

absl::Status VmSandbox::Shutdown() {
  absl::MutexLock one(&shutdown_mu_);
  std::shared_ptr<AgentClient> agent;
  std::shared_ptr<Hypervisor> vm;
  std::vector<std::shared_ptr<Ctr>> ctrs;
  bool was_running;
  {
    absl::MutexLock l(&mu_);
    if (state_ == SandboxState::kInitial) {  // nothing was made on the host
      state_ = SandboxState::kStopped;
      changed_.SignalAll();
      return absl::OkStatus();
    }
    if (state_ == SandboxState::kStopped && !vm_) return absl::OkStatus();
    shutting_down_ = true;  // the VM's end from here on is ours, not a death
    was_running = state_ == SandboxState::kRunning;
    agent = agent_;
    vm = vm_;
    for (auto& [id, c] : containers_) ctrs.push_back(c);
  }
  absl::Status first;
  auto note = [&first](absl::Status s) {
    if (first.ok() && !s.ok()) first = std::move(s);
  };
  if (agent && was_running) {
    // Best effort and bounded: DestroySandbox powers the guest off, so the answer may never
    // come; the VM is stopped next either way.
    std::thread destroy([this, agent] {
      agent->DestroySandbox({}).IgnoreError();
      absl::MutexLock l(&mu_);
      destroy_done_ = true;
    });
    const absl::Time deadline = absl::Now() + kDestroyTimeout;
    while (absl::Now() < deadline) {
      {
        absl::MutexLock l(&mu_);
        if (destroy_done_) break;
      }
      bool gone = true;
      for (pid_t p : vm->Pids()) gone = gone && ProcessDead(p);
      if (gone) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    agent->Close();
    destroy.join();
  }
  {
    absl::MutexLock l(&mu_);
    stop_watch_ = true;
    if (state_ != SandboxState::kVmDied) death_ = absl::OkStatus();
    state_ = SandboxState::kStopped;
    const absl::Time now = absl::Now();
    for (auto& c : ctrs) {
      for (auto& p : c->procs) {
        if (!p->exit.has_value()) {
          p->exit = ExitStatus{
              255, now, absl::UnavailableError(absl::StrCat("sandbox ", o_.id, ": shut down"))};
          p->state = ProcessState::kExited;
        }
      }
      c->state = ContainerState::kStopped;
    }
    changed_.SignalAll();
  }
  if (agent) agent->Close();
  if (watcher_.joinable()) watcher_.join();
  if (vm) {
    absl::Status s = vm->StopVm();
    if (vm->State() != hypervisor::VmState::kStopped) note(s);
  }
  std::vector<std::thread> threads;
  {
    absl::MutexLock l(&mu_);
    for (auto& c : ctrs) {
      for (auto& p : c->procs) {
        if (p->waiter.joinable()) threads.push_back(std::move(p->waiter));
      }
    }
  }
  for (auto& t : threads) t.join();
  for (auto& c : ctrs) note(RemoveHostSide(*c));
  note(RemoveTree(sandbox_dir_));
  note(RemoveTree(vm_dir_));
  {
    absl::MutexLock l(&mu_);
    containers_.clear();
    order_.clear();
    agent_.reset();
    vm_.reset();
  }
  return AnnotateStatus(first, absl::StrCat("sandbox ", o_.id, ": shutdown"));
}

absl::StatusOr<std::shared_ptr<Ctr>> VmSandbox::Find(const std::string& cid, SandboxOp sop,
                                                     ContainerOp cop) const {
  KATA_RETURN_IF_ERROR(CheckSandboxOp(o_.id, state_, sop));
  auto it = containers_.find(cid);
  if (it == containers_.end() || it->second->deleting) {
    return absl::NotFoundError(absl::StrCat("container ", cid, ": not found in sandbox ", o_.id));
  }
  KATA_RETURN_IF_ERROR(CheckContainerOp(cid, it->second->state, cop));
  return it->second;
}

absl::StatusOr<std::shared_ptr<Proc>> VmSandbox::FindProc(const Ctr& c,
                                                          const std::string& exec_id) const {
  for (const auto& p : c.procs) {
    if (p->exec_id == exec_id) return p;
  }
  return absl::NotFoundError(absl::StrCat("container ", c.id, ": no exec \"", exec_id, "\""));
}

absl::StatusOr<VmSandbox::Target> VmSandbox::GuestTarget(const std::string& cid,
                                                         const std::string& exec_id,
                                                         ContainerOp op) const {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, Find(cid, SandboxOp::kContainerOp, op));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(*c, exec_id));
  return Target{agent_, c, p};
}

void VmSandbox::StartWaiter(const std::shared_ptr<Ctr>& c, const std::shared_ptr<Proc>& p) {
  std::shared_ptr<AgentClient> agent = agent_;
  p->waiter = std::thread([this, c, p, agent] {
    ::grpc::WaitProcessRequest r;
    r.set_container_id(c->id);
    r.set_exec_id(p->agent_exec);
    absl::StatusOr<::grpc::WaitProcessResponse> w = agent->WaitProcess(r);
    absl::MutexLock l(&mu_);
    if (!w.ok() && absl::IsUnavailable(w.status())) AwaitVmDeath(kDeathConfirmation);
    if (!p->exit.has_value()) {
      if (w.ok()) {
        p->exit = ExitStatus{w->status(), absl::Now(), absl::OkStatus()};
      } else {
        p->exit = ExitStatus{255, absl::Now(),
                             state_ == SandboxState::kRunning
                                 ? AnnotateStatus(w.status(), Context(c->id))
                                 : death_};
      }
    }
    p->state = ProcessState::kExited;
    if (p->exec_id.empty() && c->state != ContainerState::kStopped) {
      c->state = ContainerState::kStopped;
    }
    changed_.SignalAll();
  });
}

absl::Status VmSandbox::CreateContainer(const ContainerConfig& config) {
  const std::string& cid = config.id;
  KATA_RETURN_IF_ERROR(CheckId("container id", cid));
  const std::string ctx = Context(cid);
  auto c = std::make_shared<Ctr>();
  c->id = cid;
  c->shared_dir = absl::StrCat(shared_dir_, "/", cid);
  std::shared_ptr<AgentClient> agent;
  {
    absl::MutexLock l(&mu_);
    KATA_RETURN_IF_ERROR(CheckSandboxOp(o_.id, state_, SandboxOp::kCreateContainer));
    if (containers_.count(cid)) return absl::AlreadyExistsError(ctx + ": already exists");
    c->deleting = true;  // reserved, invisible until created
    containers_[cid] = c;
    agent = agent_;
  }
  absl::Cleanup unreserve = [&] {
    absl::MutexLock l(&mu_);
    containers_.erase(cid);
  };

  const bool terminal = config.terminal.value_or(
      config.spec.process.has_value() && config.spec.process->terminal.value_or(false));

  // The rootfs on the host, then bound under the shared directory.
  std::string source;
  absl::Cleanup remove_host = [&] { RemoveHostSide(*c).IgnoreError(); };
  if (!config.rootfs_mounts.empty()) {
    c->host_rootfs = absl::StrCat(mounts_dir_, "/", cid, "/rootfs");
    KATA_RETURN_IF_ERROR(AnnotateStatus(MakeDirs(c->host_rootfs), ctx));
    KATA_RETURN_IF_ERROR(AnnotateStatus(MountAll(config.rootfs_mounts, c->host_rootfs), ctx));
    source = c->host_rootfs;
  } else {
    source = config.rootfs_dir;
    if (source.empty() && config.spec.root.has_value()) source = config.spec.root->path;
    if (source.empty()) return absl::InvalidArgumentError(ctx + ": no rootfs (no mounts, no root.path)");
    if (source[0] != '/') {
      if (config.bundle.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(ctx, ": rootfs \"", source, "\" is relative and there is no bundle"));
      }
      source = absl::StrCat(config.bundle, "/", source);
    }
    struct stat st;
    if (stat(source.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat(ctx, ": rootfs ", source));
    if (!S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(ctx, ": rootfs ", source, " is not a directory"));
    }
  }
  const std::string shared_rootfs = absl::StrCat(c->shared_dir, "/rootfs");
  KATA_RETURN_IF_ERROR(AnnotateStatus(MakeDirs(shared_rootfs), ctx));
  KATA_RETURN_IF_ERROR(AnnotateStatus(BindMount(source, shared_rootfs, {.recursive = true}), ctx));

  // Host paths bound into the container (volumes) travel through the share as well.
  oci::Spec spec = config.spec;
  KATA_RETURN_IF_ERROR(AnnotateStatus(ShareBindMounts(cid, c->shared_dir, &spec), ctx));

  ::grpc::CreateContainerRequest req;
  req.set_container_id(cid);
  req.set_exec_id(cid);
  *req.mutable_oci() = oci::SpecToProto(GuestSpec(spec, cid, terminal, o_.config));
  KATA_RETURN_IF_ERROR(AnnotateStatus(agent->CreateContainer(req), ctx));

  auto init = std::make_shared<Proc>();
  init->agent_exec = cid;
  init->terminal = terminal;
  c->procs.push_back(init);
  {
    absl::MutexLock l(&mu_);
    if (state_ != SandboxState::kRunning) {
      // The VM died or the sandbox was shut down meanwhile: nothing to keep.
      return absl::UnavailableError(absl::StrCat(ctx, ": sandbox ", o_.id, " is ",
                                                 SandboxStateName(state_)));
    }
    c->deleting = false;
    order_.push_back(cid);
  }
  std::move(remove_host).Cancel();
  std::move(unreserve).Cancel();
  return absl::OkStatus();
}

absl::Status VmSandbox::StartContainer(const std::string& cid) {
  std::shared_ptr<AgentClient> agent;
  std::shared_ptr<Ctr> c;
  {
    absl::MutexLock l(&mu_);
    KATA_ASSIGN_OR_RETURN(c, Find(cid, SandboxOp::kContainerOp, ContainerOp::kStart));
    agent = agent_;
  }
  ::grpc::StartContainerRequest r;
  r.set_container_id(cid);
  KATA_RETURN_IF_ERROR(AnnotateStatus(agent->StartContainer(r), Context(cid)));
  absl::MutexLock l(&mu_);
  if (c->state == ContainerState::kCreated) c->state = ContainerState::kRunning;
  c->procs[0]->state = ProcessState::kRunning;
  StartWaiter(c, c->procs[0]);
  return absl::OkStatus();
}

absl::Status VmSandbox::RemoveHostSide(Ctr& c) {
  absl::Status first = RemoveTree(c.shared_dir);
  if (!c.host_rootfs.empty()) {
    absl::Status s = RemoveTree(absl::StrCat(mounts_dir_, "/", c.id));
    if (first.ok()) first = s;
  }
  return first;
}

absl::Status VmSandbox::DeleteContainer(const std::string& cid) {
  std::shared_ptr<AgentClient> agent;
  std::shared_ptr<Ctr> c;
  bool guest;
  {
    absl::MutexLock l(&mu_);
    KATA_ASSIGN_OR_RETURN(c, Find(cid, SandboxOp::kHostCleanup, ContainerOp::kDelete));
    guest = state_ == SandboxState::kRunning;
    agent = agent_;
  }
  if (guest) {
    ::grpc::RemoveContainerRequest r;
    r.set_container_id(cid);
    absl::Status s = agent->RemoveContainer(r);
    if (!s.ok() && !absl::IsNotFound(s)) return AnnotateStatus(s, Context(cid));
  }
  std::vector<std::thread> waiters;
  {
    absl::MutexLock l(&mu_);
    c->deleting = true;
    for (auto& p : c->procs) {
      if (!p->exit.has_value()) {
        p->exit = ExitStatus{255, absl::Now(), absl::AbortedError(Context(cid) + ": deleted")};
        p->state = ProcessState::kExited;
      }
      if (p->waiter.joinable()) waiters.push_back(std::move(p->waiter));
    }
    changed_.SignalAll();
  }
  // The agent's RemoveContainer ends every process, so the waiters return.
  for (auto& t : waiters) t.join();
  absl::Status s = RemoveHostSide(*c);
  {
    absl::MutexLock l(&mu_);
    containers_.erase(cid);
    order_.erase(std::remove(order_.begin(), order_.end(), cid), order_.end());
  }
  return AnnotateStatus(s, Context(cid));
}

absl::StatusOr<ContainerState> VmSandbox::GetContainerState(const std::string& cid) const {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, Find(cid, SandboxOp::kQuery, ContainerOp::kQuery));
  return c->state;
}

std::vector<std::string> VmSandbox::ContainerIds() const {
  absl::MutexLock l(&mu_);
  return order_;
}

absl::Status VmSandbox::Pause(const std::string& cid) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, "", ContainerOp::kPause));
  ::grpc::PauseContainerRequest r;
  r.set_container_id(cid);
  KATA_RETURN_IF_ERROR(AnnotateStatus(t.agent->PauseContainer(r), Context(cid)));
  absl::MutexLock l(&mu_);
  if (t.ctr->state == ContainerState::kRunning) t.ctr->state = ContainerState::kPaused;
  return absl::OkStatus();
}

absl::Status VmSandbox::Resume(const std::string& cid) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, "", ContainerOp::kResume));
  ::grpc::ResumeContainerRequest r;
  r.set_container_id(cid);
  KATA_RETURN_IF_ERROR(AnnotateStatus(t.agent->ResumeContainer(r), Context(cid)));
  absl::MutexLock l(&mu_);
  if (t.ctr->state == ContainerState::kPaused) t.ctr->state = ContainerState::kRunning;
  return absl::OkStatus();
}

absl::StatusOr<::grpc::StatsContainerResponse> VmSandbox::Stats(const std::string& cid) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, "", ContainerOp::kStats));
  ::grpc::StatsContainerRequest r;
  r.set_container_id(cid);
  absl::StatusOr<::grpc::StatsContainerResponse> s = t.agent->StatsContainer(r);
  if (!s.ok()) return AnnotateStatus(s.status(), Context(cid));
  return s;
}

absl::Status VmSandbox::Update(const std::string& cid, const oci::LinuxResources& resources) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, "", ContainerOp::kUpdate));
  ::grpc::UpdateContainerRequest r;
  r.set_container_id(cid);
  *r.mutable_resources() = GuestResources(resources);
  return AnnotateStatus(t.agent->UpdateContainer(r), Context(cid));
}

absl::Status VmSandbox::Exec(const std::string& cid, const std::string& exec_id,
                             const oci::Process& process, bool terminal) {
  KATA_RETURN_IF_ERROR(CheckId("exec id", exec_id));
  const std::string ctx = absl::StrCat(Context(cid), ": exec ", exec_id);
  if (exec_id == cid) {
    return absl::AlreadyExistsError(ctx + ": the exec id of the container's init process");
  }
  if (!process.args.has_value() || process.args->empty()) {
    return absl::InvalidArgumentError(ctx + ": process.args is empty");
  }
  std::shared_ptr<AgentClient> agent;
  std::shared_ptr<Ctr> c;
  auto p = std::make_shared<Proc>();
  p->exec_id = exec_id;
  p->agent_exec = exec_id;
  p->terminal = terminal;
  {
    absl::MutexLock l(&mu_);
    KATA_ASSIGN_OR_RETURN(c, Find(cid, SandboxOp::kContainerOp, ContainerOp::kExec));
    if (FindProc(*c, exec_id).ok()) return absl::AlreadyExistsError(ctx + ": already exists");
    c->procs.push_back(p);  // reserves the id
    agent = agent_;
  }
  ::grpc::ExecProcessRequest r;
  r.set_container_id(cid);
  r.set_exec_id(exec_id);
  *r.mutable_process() = GuestProcess(process, terminal);
  absl::Status s = agent->ExecProcess(r);
  absl::MutexLock l(&mu_);
  if (!s.ok()) {
    c->procs.erase(std::remove(c->procs.begin(), c->procs.end(), p), c->procs.end());
    return AnnotateStatus(s, ctx);
  }
  p->state = ProcessState::kRunning;
  StartWaiter(c, p);
  return absl::OkStatus();
}

absl::Status VmSandbox::Signal(const std::string& cid, const std::string& exec_id, int signal,
                               bool all) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, exec_id, ContainerOp::kSignal));
  if (signal < 0 || signal > 64) {
    return absl::InvalidArgumentError(absl::StrCat(Context(cid), ": bad signal ", signal));
  }
  ::grpc::SignalProcessRequest r;
  r.set_container_id(cid);
  // The agent signals every process of the container for an empty exec id.
  r.set_exec_id(all ? "" : t.proc->agent_exec);
  r.set_signal(static_cast<uint32_t>(signal));
  {
    absl::MutexLock l(&mu_);
    if (t.proc->state == ProcessState::kExited && !all) {
      return absl::NotFoundError(absl::StrCat(Context(cid), ": process \"", exec_id,
                                              "\" has exited"));
    }
  }
  return AnnotateStatus(t.agent->SignalProcess(r), Context(cid));
}

absl::StatusOr<ExitStatus> VmSandbox::Wait(const std::string& cid, const std::string& exec_id) {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, Find(cid, SandboxOp::kQuery, ContainerOp::kQuery));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(*c, exec_id));
  while (!p->exit.has_value()) changed_.Wait(&mu_);
  return *p->exit;
}

absl::StatusOr<std::vector<ProcessInfo>> VmSandbox::Processes(const std::string& cid) const {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, Find(cid, SandboxOp::kQuery, ContainerOp::kQuery));
  std::vector<ProcessInfo> out;
  for (const auto& p : c->procs) out.push_back({p->exec_id, p->state, p->terminal, p->exit});
  return out;
}

absl::StatusOr<ProcessInfo> VmSandbox::GetProcess(const std::string& cid,
                                                  const std::string& exec_id) const {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, Find(cid, SandboxOp::kQuery, ContainerOp::kQuery));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(*c, exec_id));
  return ProcessInfo{p->exec_id, p->state, p->terminal, p->exit};
}

absl::Status VmSandbox::DeleteProcess(const std::string& cid, const std::string& exec_id) {
  std::thread waiter;
  {
    absl::MutexLock l(&mu_);
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c,
                          Find(cid, SandboxOp::kQuery, ContainerOp::kQuery));
    if (exec_id.empty()) {
      return absl::InvalidArgumentError(Context(cid) + ": the init process goes with DeleteContainer");
    }
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(*c, exec_id));
    if (p->state != ProcessState::kExited) {
      return absl::FailedPreconditionError(absl::StrCat(Context(cid), ": exec ", exec_id,
                                                        " is still ",
                                                        ProcessStateName(p->state)));
    }
    waiter = std::move(p->waiter);
    c->procs.erase(std::remove(c->procs.begin(), c->procs.end(), p), c->procs.end());
  }
  if (waiter.joinable()) waiter.join();
  return absl::OkStatus();
}

absl::StatusOr<size_t> VmSandbox::WriteStdin(const std::string& cid, const std::string& exec_id,
                                             absl::string_view data) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, exec_id, ContainerOp::kStdio));
  ::grpc::WriteStreamRequest r;
  r.set_container_id(cid);
  r.set_exec_id(t.proc->agent_exec);
  r.set_data(std::string(data));
  absl::StatusOr<::grpc::WriteStreamResponse> w = t.agent->WriteStdin(r);
  if (!w.ok()) return AnnotateStatus(w.status(), Context(cid));
  return static_cast<size_t>(w->len());
}

absl::Status VmSandbox::CloseStdin(const std::string& cid, const std::string& exec_id) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, exec_id, ContainerOp::kStdio));
  ::grpc::CloseStdinRequest r;
  r.set_container_id(cid);
  r.set_exec_id(t.proc->agent_exec);
  return AnnotateStatus(t.agent->CloseStdin(r), Context(cid));
}

absl::Status VmSandbox::ReadStream(const std::string& cid, const std::string& exec_id,
                                   size_t max_bytes, bool stderr_stream, std::string* out) {
  out->clear();
  Target t;
  {
    absl::MutexLock l(&mu_);
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c,
                          Find(cid, SandboxOp::kQuery, ContainerOp::kStdio));
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(*c, exec_id));
    // After the VM's death or a shutdown there is nothing more to read.
    if (state_ != SandboxState::kRunning) return absl::OkStatus();
    if (stderr_stream && p->terminal) return absl::OkStatus();
    t = Target{agent_, c, p};
  }
  ::grpc::ReadStreamRequest r;
  r.set_container_id(cid);
  r.set_exec_id(t.proc->agent_exec);
  r.set_len(static_cast<uint32_t>(std::min<size_t>(max_bytes, 1 << 20)));
  absl::StatusOr<::grpc::ReadStreamResponse> got =
      stderr_stream ? t.agent->ReadStderr(r) : t.agent->ReadStdout(r);
  if (got.ok()) {
    *out = got->data();
    return absl::OkStatus();
  }
  if (absl::IsOutOfRange(got.status())) return absl::OkStatus();  // EOF
  absl::MutexLock l(&mu_);
  if (absl::IsUnavailable(got.status())) AwaitVmDeath(kDeathConfirmation);
  if (state_ != SandboxState::kRunning || t.ctr->deleting) return absl::OkStatus();
  return AnnotateStatus(got.status(), Context(cid));
}

absl::StatusOr<std::string> VmSandbox::ReadStdout(const std::string& cid,
                                                  const std::string& exec_id, size_t max_bytes) {
  std::string out;
  KATA_RETURN_IF_ERROR(ReadStream(cid, exec_id, max_bytes, false, &out));
  return out;
}

absl::StatusOr<std::string> VmSandbox::ReadStderr(const std::string& cid,
                                                  const std::string& exec_id, size_t max_bytes) {
  std::string out;
  KATA_RETURN_IF_ERROR(ReadStream(cid, exec_id, max_bytes, true, &out));
  return out;
}

absl::Status VmSandbox::ResizePty(const std::string& cid, const std::string& exec_id,
                                  uint32_t width, uint32_t height) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, exec_id, ContainerOp::kResizePty));
  if (!t.proc->terminal) {
    return absl::FailedPreconditionError(absl::StrCat(Context(cid), ": process \"", exec_id,
                                                      "\" has no terminal"));
  }
  ::grpc::TtyWinResizeRequest r;
  r.set_container_id(cid);
  r.set_exec_id(t.proc->agent_exec);
  r.set_row(height);
  r.set_column(width);
  return AnnotateStatus(t.agent->TtyWinResize(r), Context(cid));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Sandbox>> NewVmSandbox(SandboxOptions options) {
  KATA_RETURN_IF_ERROR(CheckId("sandbox id", options.id));
  return std::make_unique<VmSandbox>(std::move(options));
}

absl::StatusOr<hypervisor::VmConfig> VmConfigFor(const config::RuntimeConfig& config,
                                                 const std::string& sandbox_id,
                                                 const SandboxPaths& paths) {
  const config::QemuConfig& q = config.hypervisor;
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("sandbox ", sandbox_id, ": ", why));
  };
  hypervisor::VmConfig vm;
  vm.kernel_path = q.kernel;
  if (!q.image.empty()) {
    return invalid("hypervisor.qemu.image (a rootfs image) is not supported; use initrd");
  }
  vm.initrd_path = q.initrd;
  if (q.machine_type == "q35") {
    vm.machine = hypervisor::MachineType::kQ35;
  } else if (q.machine_type == "microvm") {
    vm.machine = hypervisor::MachineType::kMicrovm;
  } else {
    return invalid(absl::StrCat("hypervisor.qemu.machine_type \"", q.machine_type,
                                "\" is not supported by the QEMU driver (q35, microvm)"));
  }
  if (q.accelerator == "kvm") {
    vm.accelerator = hypervisor::Accelerator::kKvm;
  } else if (q.accelerator == "tcg") {
    vm.accelerator = hypervisor::Accelerator::kTcg;
  } else {
    return invalid(absl::StrCat("hypervisor.qemu.accelerator \"", q.accelerator, "\""));
  }
  if (q.shared_fs != "virtio-9p") {
    return invalid(absl::StrCat("hypervisor.qemu.shared_fs \"", q.shared_fs,
                                "\" is not supported: container rootfs need \"virtio-9p\""));
  }
  vm.memory_mib = q.default_memory;
  vm.vcpus = q.default_vcpus;
  vm.shared_dir = absl::StrCat(paths.shared_root, "/", sandbox_id, "/shared");
  vm.shared_mount_tag = kShareMountTag;
  vm.work_dir = absl::StrCat(paths.vm_root, "/", sandbox_id);
  vm.agent_channel = access("/dev/vhost-vsock", R_OK | W_OK) == 0
                         ? hypervisor::AgentChannelKind::kVsock
                         : hypervisor::AgentChannelKind::kVirtioSerial;
  // panic=1 + QEMU's -no-reboot: a guest panic ends the VM, which the sandbox notices.
  std::string params = "panic=1";
  if (vm.agent_channel == hypervisor::AgentChannelKind::kVirtioSerial) {
    absl::StrAppend(&params, " agent.server_addr=serial://agent.channel.0");
  }
  if (config.agent.enable_debug) absl::StrAppend(&params, " agent.log=debug");
  if (!q.kernel_params.empty()) absl::StrAppend(&params, " ", q.kernel_params);
  vm.kernel_params = params;
  return vm;
}

absl::Status CleanupSandbox(const std::string& sandbox_id, const SandboxPaths& paths) {
  KATA_RETURN_IF_ERROR(CheckId("sandbox id", sandbox_id));
  const std::string vm_dir = absl::StrCat(paths.vm_root, "/", sandbox_id);
  const std::string sb_dir = absl::StrCat(paths.shared_root, "/", sandbox_id);
  absl::Status first;
  std::ifstream pid_file(absl::StrCat(vm_dir, "/", kPidFile));
  int pid = 0;
  if (pid_file >> pid && pid > 1) {
    // Only a VMM that is still ours: its command line names this sandbox's directory.
    std::ifstream cmdline(absl::StrCat("/proc/", pid, "/cmdline"));
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (absl::StrContains(args, vm_dir)) {
      kill(pid, SIGKILL);
      for (int i = 0; i < 250 && !ProcessDead(pid); ++i) absl::SleepFor(absl::Milliseconds(20));
    }
  }
  absl::Status s = RemoveTree(sb_dir);
  if (!s.ok()) first = s;
  s = RemoveTree(vm_dir);
  if (first.ok()) first = s;
  return AnnotateStatus(first, absl::StrCat("sandbox ", sandbox_id, ": cleanup"));
}

}  // namespace kata::runtime
