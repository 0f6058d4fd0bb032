#include "src/runtime/sandbox/vm_sandbox.h"

#include <signal.h>

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/oci/spec_proto.h"
#include "src/libs/trace/scoped_span.h"
#include "src/runtime/sandbox/agent_stats.h"
#include "src/runtime/sandbox/guest_spec.h"
#include "src/runtime/sandbox/host_cgroup.h"
#include "src/runtime/sandbox/ids.h"
#include "src/runtime/sandbox/pod.h"
#include "src/runtime/sandbox/registry.h"
#include "src/runtime/sandbox/vm_sandbox_impl.h"

namespace kata::runtime {
namespace internal {
namespace {

// How long a broken agent connection waits for the watcher to confirm the VM's death, so the
// death is reported rather than the broken pipe.
constexpr absl::Duration kDeathConfirmation = absl::Seconds(5);
// The pause before asking the agent for OOM events again after a failed call (doubling).
constexpr absl::Duration kOomRetryFirst = absl::Milliseconds(100);
constexpr absl::Duration kOomRetryMax = absl::Seconds(5);

::grpc::CreateSandboxRequest CreateSandboxRequestFor(const std::string& id, const oci::Spec& spec,
                                                     const SandboxLayout& layout,
                                                     const config::RuntimeConfig& config) {
  ::grpc::CreateSandboxRequest create;
  create.set_sandbox_id(id);
  if (spec.hostname.has_value()) create.set_hostname(*spec.hostname);
  // No sandbox_pidns, as Kata's runtime: the agent makes the first container's (the pause
  // container's) PID namespace the pod's, joined by the containers that ask for it
  // (SharesPodPidNamespace), so the pause process is their PID 1, as with runc.
  create.set_sandbox_pidns(false);
  *create.add_storages() = layout.GuestShareStorage(
      config.hypervisor.shared_fs == "virtio-fs" ? ShareKind::kVirtioFs : ShareKind::k9p);
  return create;
}

}  // namespace

absl::Status VmSandbox::SizeForPod(config::RuntimeConfig* config) const {
  if (!config->runtime.static_sandbox_resource_mgmt) return absl::OkStatus();
  KATA_ASSIGN_OR_RETURN(PodResources extra, PodResourcesOf(o_.id, o_.spec));
  const VmSize size = SizeVm(config->hypervisor, extra, CurrentHostLimits());
  config->hypervisor.default_vcpus = size.vcpus;
  config->hypervisor.default_memory = size.memory_mib;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PodCgroup>> VmSandbox::EnterPodCgroup() const {
  if (!o_.spec.linux.has_value() || !o_.spec.linux->cgroups_path.has_value() ||
      o_.spec.linux->cgroups_path->empty()) {
    return std::unique_ptr<PodCgroup>();
  }
  KATA_ASSIGN_OR_RETURN(std::vector<CgroupHierarchy> hierarchies, HostCgroupHierarchies());
  KATA_ASSIGN_OR_RETURN(std::unique_ptr<PodCgroup> cgroup,
                        PodCgroup::Create(*o_.spec.linux->cgroups_path, std::move(hierarchies)));
  KATA_RETURN_IF_ERROR(cgroup->Enter());
  return cgroup;
}

absl::Status VmSandbox::Start() {
  trace::ScopedSpan span("sandbox.start");
  span->SetString("sandbox.id", o_.id);
  absl::Status started = StartTraced();
  span->SetError(started);
  return started;
}

absl::Status VmSandbox::StartTraced() {
  {
    absl::MutexLock l(&mu_);
    KATA_RETURN_IF_ERROR(CheckSandboxOp(o_.id, state_, SandboxOp::kStart));
    state_ = SandboxState::kStopped;  // until it succeeds: a failed Start is final
  }
  VmLinkOptions lo;
  lo.config = o_.config;
  KATA_RETURN_IF_ERROR(AnnotateStatus(SizeForPod(&lo.config), "sandbox " + o_.id));
  // The shim joins the pod's cgroup first, so QEMU (its child) starts there.
  std::optional<trace::ScopedSpan> step(std::in_place, "sandbox.host_setup");
  absl::StatusOr<std::unique_ptr<PodCgroup>> cgroup = EnterPodCgroup();
  if (!cgroup.ok()) return AnnotateStatus(cgroup.status(), "sandbox " + o_.id);
  absl::Cleanup leave_cgroup = [&cgroup] {
    if (*cgroup) (*cgroup)->Remove().IgnoreError();
  };
  KATA_RETURN_IF_ERROR(layout_.Create());
  absl::Cleanup remove_dirs = [this] { layout_.Remove().IgnoreError(); };
  lo.hypervisor_factory = o_.hypervisor_factory;
  lo.agent_dialer = o_.agent_dialer;
  lo.on_step = o_.on_start_step;
  lo.on_warning = o_.on_warning;
  lo.destroy_timeout = std::min(lo.destroy_timeout, o_.guest_timeout);
  std::unique_ptr<network::PodNetwork> net;  // removed again if the boot fails
  if (o_.network_factory) {
    KATA_ASSIGN_OR_RETURN(net, o_.network_factory(o_.id, o_.spec, o_.config));
  }
  if (net) lo.network = &net->guest();
  step.reset();
  KATA_ASSIGN_OR_RETURN(
      std::shared_ptr<VmLink> link,
      VmLink::Boot(layout_, CreateSandboxRequestFor(o_.id, o_.spec, layout_, lo.config), lo));
  if (*cgroup) {
    for (pid_t pid : link->Pids()) {
      absl::Status added = (*cgroup)->Add(pid);
      if (!added.ok()) {
        link->Stop(/*destroy_guest=*/true).IgnoreError();
        return AnnotateStatus(added, "sandbox " + o_.id);
      }
    }
  }
  std::move(remove_dirs).Cancel();
  std::move(leave_cgroup).Cancel();
  {
    absl::MutexLock l(&mu_);
    link_ = link;
    network_ = std::move(net);
    state_ = SandboxState::kRunning;
    cgroup_ = *std::move(cgroup);
  }
  watcher_ = std::thread([this, link] { Watch(link); });
  oom_watcher_ = std::thread([this, agent = link->agent()] { WatchOom(agent); });
  return absl::OkStatus();
}

bool VmSandbox::RunningAfter(absl::Duration d) {
  absl::MutexLock l(&mu_);
  const absl::Time deadline = absl::Now() + d;
  while (state_ == SandboxState::kRunning && !shutting_down_ && absl::Now() < deadline) {
    changed_.WaitWithDeadline(&mu_, deadline);
  }
  return state_ == SandboxState::kRunning && !shutting_down_;
}

void VmSandbox::WatchOom(std::shared_ptr<AgentClient> agent) {
  absl::Duration pause = kOomRetryFirst;
  while (true) {
    absl::StatusOr<::grpc::OOMEvent> event = agent->GetOOMEvent({});
    if (!RunningAfter(absl::ZeroDuration())) return;
    if (event.ok()) {
      pause = kOomRetryFirst;
      OomObserver observer;
      {
        absl::MutexLock l(&oom_mu_);
        observer = oom_observer_;
      }
      if (observer) observer(event->container_id());
      continue;
    }
    // An agent without OOM events, or a connection that is gone (the VM's death is reported
    // by the VM watcher): nothing more will come.
    if (absl::IsUnimplemented(event.status()) || absl::IsUnavailable(event.status())) return;
    // The agent gave up on the call (CANCELLED, DEADLINE_EXCEEDED, ...): ask again, slowly.
    if (!RunningAfter(pause)) return;
    pause = std::min(pause * 2, kOomRetryMax);
  }
}

void VmSandbox::Watch(std::shared_ptr<VmLink> link) {
  absl::StatusOr<hypervisor::VmExit> end = link->WaitVmEnd();
  {
    absl::MutexLock l(&mu_);
    if (shutting_down_ || state_ != SandboxState::kRunning) return;
  }
  std::string why = end.status().ToString();
  if (end.ok()) why = end->detail.empty() ? hypervisor::VmExitToString(*end) : end->detail;
  VmDied(absl::UnavailableError(absl::StrCat("sandbox ", o_.id, ": VM died: ", why)));
}

void VmSandbox::VmDied(absl::Status cause) {
  std::shared_ptr<VmLink> link;
  {
    absl::MutexLock l(&mu_);
    if (state_ != SandboxState::kRunning || shutting_down_) return;
    state_ = SandboxState::kVmDied;
    death_ = cause;
    link = link_;
    changed_.SignalAll();
  }
  // Unblocks every pending guest call (waits, reads) before the exits are reported.
  if (link) link->agent()->Close();
  registry_.ExitAll({255, absl::Now(), cause});
}

void VmSandbox::AbandonVm(absl::Status cause) {
  std::shared_ptr<VmLink> link;
  {
    absl::MutexLock l(&mu_);
    if (state_ != SandboxState::kRunning || shutting_down_) return;
    state_ = SandboxState::kVmDied;
    death_ = cause;
    link = link_;
    changed_.SignalAll();
  }
  // Closes the agent (pending guest calls return) and stops the VMM; the watcher then sees
  // the sandbox is no longer running and reports nothing more.
  if (link) link->Stop(/*destroy_guest=*/false).IgnoreError();
  registry_.ExitAll({255, absl::Now(), cause});
}

absl::Status VmSandbox::BoundedGuestCall(const std::string& what,
                                         std::function<absl::Status()> call) {
  struct Pending {
    absl::Notification done;
    absl::Status status;
  };
  auto pending = std::make_shared<Pending>();
  std::thread caller([pending, call = std::move(call), tracer = trace::CurrentTracer(),
                      parent = trace::CurrentContext(), what] {
    std::optional<trace::ScopedSpan> span;  // the caller's span is the parent (if traced)
    if (tracer != nullptr) {
      span.emplace(*tracer, "guest.call", parent);
      (*span)->SetString("call", what);
    }
    pending->status = call();
    pending->done.Notify();
  });
  // Joined on return: by then the call was answered, or the agent was closed (AbandonVm here,
  // or VmDied/Shutdown elsewhere), which ends it.
  absl::Cleanup join = [&caller] { caller.join(); };
  const bool answered = pending->done.WaitForNotificationWithTimeout(o_.guest_timeout);
  if (answered && !absl::IsDeadlineExceeded(pending->status) &&
      !absl::IsUnavailable(pending->status)) {
    return pending->status;
  }
  if (answered && absl::IsUnavailable(pending->status)) {
    // A lost connection is how a VM's death usually shows first: report that death if the
    // watcher confirms it (LostCause waits for it), else the guest is given up below.
    absl::Status lost = LostCause("", pending->status);
    if (State() != SandboxState::kRunning) return lost;
  }
  const absl::Status cause = absl::UnavailableError(
      absl::StrCat("sandbox ", o_.id, ": the guest did not answer ", what, " within ",
                   absl::FormatDuration(o_.guest_timeout),
                   answered ? absl::StrCat(" (", pending->status.ToString(), ")") : std::string(),
                   ": the VM is stopped"));
  AbandonVm(cause);
  return cause;
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
  if (!link_) return {};
  return link_->Pids();
}

absl::Status VmSandbox::Shutdown() {
  absl::MutexLock one(&shutdown_mu_);
  trace::ScopedSpan span("sandbox.shutdown");
  std::shared_ptr<VmLink> link;
  bool was_running;
  {
    absl::MutexLock l(&mu_);
    if (state_ == SandboxState::kInitial) {  // nothing was made on the host
      state_ = SandboxState::kStopped;
      changed_.SignalAll();
      return absl::OkStatus();
    }
    if (state_ == SandboxState::kStopped && !link_) return absl::OkStatus();
    shutting_down_ = true;  // the VM's end from here on is ours, not a death
    was_running = state_ == SandboxState::kRunning;
    link = link_;
  }
  absl::Status first;
  auto note = [&first](absl::Status s) {
    if (first.ok() && !s.ok()) first = std::move(s);
  };
  // DestroySandbox (bounded), the agent closed, the VMM stopped: the watcher returns.
  if (link) note(link->Stop(was_running));
  std::unique_ptr<network::PodNetwork> net;
  std::map<std::string, std::vector<PluggedDevice>> devices;  // the VMM is gone: claims end
  std::vector<PluggedDevice> stuck;
  {
    absl::MutexLock l(&mu_);
    devices.swap(devices_);
    stuck.swap(stuck_devices_);
    net = std::move(network_);
    if (state_ != SandboxState::kVmDied) death_ = absl::OkStatus();
    state_ = SandboxState::kStopped;
    changed_.SignalAll();
  }
  const ExitStatus down{255, absl::Now(),
                        absl::UnavailableError(absl::StrCat("sandbox ", o_.id, ": shut down"))};
  registry_.ExitAll(down);
  if (watcher_.joinable()) watcher_.join();
  if (oom_watcher_.joinable()) oom_watcher_.join();  // the agent is closed: its call ended
  // The agent is closed: every pending wait completes, and its exit is recorded (a no-op
  // after ExitAll) before the sandbox forgets its containers.
  completions_.Stop();
  reads_.Stop();
  for (const std::string& cid : registry_.Ids()) registry_.Remove(cid, down);
  trace::ScopedSpan cleanup_span("sandbox.host_cleanup");
  if (net) note(net->Remove());  // the VMM is gone: its taps vanish with our fds
  note(layout_.Remove());
  std::unique_ptr<PodCgroup> cgroup;
  {
    absl::MutexLock l(&mu_);
    link_.reset();
    cgroup = std::move(cgroup_);
  }
  // The VMM is gone: the pod cgroup holds no process of ours (this one moves back first).
  if (cgroup) note(cgroup->Remove());
  return AnnotateStatus(first, absl::StrCat("sandbox ", o_.id, ": shutdown"));
}

absl::StatusOr<std::shared_ptr<AgentClient>> VmSandbox::Agent(SandboxOp op) const {
  absl::MutexLock l(&mu_);
  KATA_RETURN_IF_ERROR(CheckSandboxOp(o_.id, state_, op));
  if (!link_) return std::shared_ptr<AgentClient>();
  return link_->agent();
}

absl::Status VmSandbox::CheckQuery() const {
  absl::MutexLock l(&mu_);
  return CheckSandboxOp(o_.id, state_, SandboxOp::kQuery);
}

absl::StatusOr<VmSandbox::Target> VmSandbox::GuestTarget(const std::string& cid,
                                                         const std::string& exec_id,
                                                         ContainerOp op) const {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<AgentClient> agent, Agent(SandboxOp::kContainerOp));
  KATA_ASSIGN_OR_RETURN(ProcessRegistry::ProcessRef proc, registry_.Find(cid, exec_id, op));
  return Target{std::move(agent), std::move(proc)};
}

absl::Status VmSandbox::LostCause(const std::string& cid, const absl::Status& error) {
  absl::MutexLock l(&mu_);
  if (absl::IsUnavailable(error)) {
    // A lost agent connection is how a VM's death usually shows first.
    const absl::Time deadline = absl::Now() + kDeathConfirmation;
    while (state_ == SandboxState::kRunning && !shutting_down_ && absl::Now() < deadline) {
      changed_.WaitWithDeadline(&mu_, deadline);
    }
  }
  if (shutting_down_) {
    return absl::UnavailableError(absl::StrCat("sandbox ", o_.id, ": shut down"));
  }
  if (state_ != SandboxState::kRunning) return death_;
  return AnnotateStatus(error, Context(cid));
}

absl::Status VmSandbox::CreateContainer(const ContainerConfig& config) {
  const std::string& cid = config.id;
  KATA_RETURN_IF_ERROR(CheckId("container id", cid));
  const std::string ctx = Context(cid);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<AgentClient> agent, Agent(SandboxOp::kCreateContainer));
  KATA_RETURN_IF_ERROR(registry_.Reserve(cid));
  absl::Cleanup unreserve = [&] { registry_.Unreserve(cid); };
  absl::Cleanup unshare = [&] { layout_.UnshareContainer(cid).IgnoreError(); };
  const bool terminal = config.terminal.value_or(config.spec.process.has_value() &&
                                                 config.spec.process->terminal.value_or(false));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<VmLink> link, Link(SandboxOp::kCreateContainer));
  std::optional<HostBlockRootfs> block_rootfs = BlockRootfsOf(config, link.get());
  const bool block_root = block_rootfs.has_value();
  // The rootfs (unless a block device) and volumes through the share; the agent gets the
  // guest's view of the spec.
  std::optional<trace::ScopedSpan> step(std::in_place, "container.share");
  KATA_ASSIGN_OR_RETURN(oci::Spec spec,
                        layout_.ShareContainer(config, /*share_rootfs=*/!block_root));
  step.reset();
  ::grpc::CreateContainerRequest req;
  req.set_container_id(cid);
  req.set_exec_id(cid);
  req.set_sandbox_pidns(SharesPodPidNamespace(config.spec));
  // Block devices are hot-plugged first: the agent waits for each and rewrites the spec.
  std::string guest_root;
  absl::StatusOr<std::vector<PluggedDevice>> plugged =
      PlugDevices(link.get(), std::move(block_rootfs), &spec, &req, &guest_root);
  if (!plugged.ok() && block_root && absl::IsResourceExhausted(plugged.status())) {
    // No root port left (the pod's other devices hold them): the rootfs is shared instead,
    // as any other rootfs (PlugDevices plugged nothing).
    KATA_RETURN_IF_ERROR(AnnotateStatus(layout_.UnshareContainer(cid), ctx));
    KATA_ASSIGN_OR_RETURN(spec, layout_.ShareContainer(config));
    req.clear_storages();
    req.clear_devices();
    plugged = PlugDevices(link.get(), std::nullopt, &spec, &req, &guest_root);
  }
  if (!plugged.ok()) return AnnotateStatus(plugged.status(), ctx);
  absl::Cleanup unplug = [&] { UnplugDevices(link.get(), *std::move(plugged)).IgnoreError(); };
  oci::Spec guest = GuestSpec(spec, cid, terminal, o_.config);
  if (!guest_root.empty()) guest.root->path = guest_root;
  *req.mutable_oci() = oci::SpecToProto(guest);
  KATA_RETURN_IF_ERROR(AnnotateStatus(agent->CreateContainer(req), ctx));
  {
    absl::MutexLock l(&mu_);
    if (state_ != SandboxState::kRunning) {
      // The VM died or the sandbox was shut down meanwhile: nothing to keep.
      return absl::UnavailableError(
          absl::StrCat(ctx, ": sandbox ", o_.id, " is ", SandboxStateName(state_)));
    }
    registry_.Commit(cid, terminal);
    if (!plugged->empty()) devices_[cid] = *std::move(plugged);
  }
  std::move(unplug).Cancel();
  std::move(unshare).Cancel();
  std::move(unreserve).Cancel();
  return absl::OkStatus();
}

absl::Status VmSandbox::StartContainer(const std::string& cid) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, "", ContainerOp::kStart));
  ::grpc::StartContainerRequest r;
  r.set_container_id(cid);
  KATA_RETURN_IF_ERROR(AnnotateStatus(t.agent->StartContainer(r), Context(cid)));
  registry_.SetRunning(cid, "");
  StartWaiter(t.agent, cid, "", t.proc.agent_exec);
  return absl::OkStatus();
}

absl::Status VmSandbox::DeleteContainer(const std::string& cid) {
  std::shared_ptr<AgentClient> agent;
  bool guest;
  {
    absl::MutexLock l(&mu_);
    KATA_RETURN_IF_ERROR(CheckSandboxOp(o_.id, state_, SandboxOp::kHostCleanup));
    guest = state_ == SandboxState::kRunning && link_;
    if (guest) agent = link_->agent();
  }
  KATA_RETURN_IF_ERROR(registry_.Check(cid, ContainerOp::kDelete));
  if (guest) {
    ::grpc::RemoveContainerRequest r;
    r.set_container_id(cid);
    absl::Status s = BoundedGuestCall(absl::StrCat("RemoveContainer of ", Context(cid)),
                                      [agent, r] { return agent->RemoveContainer(r); });
    // An answer with an error leaves everything as it was; no answer in time made the VM
    // dead (kVmDied): only the host side is left to clean.
    if (!s.ok() && !absl::IsNotFound(s) && State() == SandboxState::kRunning) {
      return AnnotateStatus(s, Context(cid));
    }
  }
  // The agent's RemoveContainer (or the VM's end) ended every process, so the waiters return.
  const ExitStatus deleted{255, absl::Now(), absl::AbortedError(Context(cid) + ": deleted")};
  registry_.Remove(cid, deleted);
  std::optional<trace::ScopedSpan> step(std::in_place, "container.await_idle");
  completions_.AwaitIdle(cid);  // so no late exit of this container meets a new one
  step.emplace("container.release_devices");
  absl::Status unplugged = ReleaseDevices(cid);
  step.emplace("container.unshare");
  absl::Status unshared = layout_.UnshareContainer(cid);
  step.reset();
  return AnnotateStatus(unshared.ok() ? unplugged : unshared, Context(cid));
}

absl::StatusOr<ContainerState> VmSandbox::GetContainerState(const std::string& cid) const {
  KATA_RETURN_IF_ERROR(CheckQuery());
  return registry_.GetContainerState(cid);
}

absl::Status VmSandbox::Pause(const std::string& cid) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, "", ContainerOp::kPause));
  ::grpc::PauseContainerRequest r;
  r.set_container_id(cid);
  KATA_RETURN_IF_ERROR(AnnotateStatus(t.agent->PauseContainer(r), Context(cid)));
  registry_.Transition(cid, ContainerState::kRunning, ContainerState::kPaused);
  return absl::OkStatus();
}

absl::Status VmSandbox::Resume(const std::string& cid) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, "", ContainerOp::kResume));
  ::grpc::ResumeContainerRequest r;
  r.set_container_id(cid);
  KATA_RETURN_IF_ERROR(AnnotateStatus(t.agent->ResumeContainer(r), Context(cid)));
  registry_.Transition(cid, ContainerState::kPaused, ContainerState::kRunning);
  return absl::OkStatus();
}

absl::StatusOr<std::string> VmSandbox::AgentMetrics() {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<AgentClient> agent, Agent(SandboxOp::kContainerOp));
  if (agent == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox ", o_.id, ": no agent"));
  }
  absl::StatusOr<::grpc::Metrics> m = agent->GetMetrics(::grpc::GetMetricsRequest());
  if (!m.ok()) return AnnotateStatus(m.status(), absl::StrCat("sandbox ", o_.id));
  return std::move(*m->mutable_metrics());
}

absl::StatusOr<ContainerStats> VmSandbox::Stats(const std::string& cid) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, "", ContainerOp::kStats));
  ::grpc::StatsContainerRequest r;
  r.set_container_id(cid);
  absl::StatusOr<::grpc::StatsContainerResponse> s = t.agent->StatsContainer(r);
  if (!s.ok()) return AnnotateStatus(s.status(), Context(cid));
  return FromAgentStats(*s);
}

absl::Status VmSandbox::Update(const std::string& cid, const oci::LinuxResources& resources) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, "", ContainerOp::kUpdate));
  ::grpc::UpdateContainerRequest r;
  r.set_container_id(cid);
  *r.mutable_resources() = GuestResources(resources);
  return AnnotateStatus(t.agent->UpdateContainer(r), Context(cid));
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<Sandbox>> NewVmSandbox(SandboxOptions options) {
  KATA_RETURN_IF_ERROR(CheckId("sandbox id", options.id));
  if (!options.hypervisor_factory) {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox ", options.id, ": no hypervisor factory (the shim injects one)"));
  }
  return std::make_unique<internal::VmSandbox>(std::move(options));
}

}  // namespace kata::runtime
