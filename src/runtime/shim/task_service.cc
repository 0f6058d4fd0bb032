#include "src/runtime/shim/task_service.h"

#include <unistd.h>

#include <csignal>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/oci/spec_json.h"
#include "src/libs/protocols/containerd/events/task.pb.h"
#include "src/libs/protocols/runtimeoptions.pb.h"
#include "src/libs/trace/scoped_span.h"
#include "src/runtime/sandbox/pod.h"
#include "src/runtime/shim/log.h"
#include "src/runtime/shim/metrics.pb.h"
#include "src/runtime/shim/oom_events.h"
#include "src/runtime/shim/task_convert.h"

namespace kata {
namespace shim {
namespace {

namespace tpb = ::containerd::task::v2;
namespace ev = ::containerd::events;

// The configuration path in the runtime options of a CreateTaskRequest ("" when none).
std::string ConfigPathOf(const tpb::CreateTaskRequest& req) {
  if (!req.has_options() ||
      !absl::EndsWith(req.options().type_url(), "runtimeoptions.v1.Options")) {
    return "";
  }
  ::runtimeoptions::v1::Options ro;
  return ro.ParseFromString(req.options().value()) ? ro.config_path() : "";
}

// The sandbox's view of the container a CreateTaskRequest asks for.
runtime::ContainerConfig ContainerConfigOf(const tpb::CreateTaskRequest& req, oci::Spec spec) {
  runtime::ContainerConfig cc;
  cc.id = req.id();
  cc.spec = std::move(spec);
  cc.bundle = req.bundle();
  cc.terminal = req.terminal();
  for (const auto& m : req.rootfs()) {
    cc.rootfs_mounts.push_back(
        {m.type(), m.source(), std::vector<std::string>(m.options().begin(), m.options().end())});
  }
  return cc;
}

ev::TaskCreate TaskCreateEvent(const tpb::CreateTaskRequest& req, uint32_t pid) {
  ev::TaskCreate e;
  e.set_container_id(req.id());
  e.set_bundle(req.bundle());
  *e.mutable_rootfs() = req.rootfs();
  e.mutable_io()->set_stdin(req.stdin());
  e.mutable_io()->set_stdout(req.stdout());
  e.mutable_io()->set_stderr(req.stderr());
  e.mutable_io()->set_terminal(req.terminal());
  e.set_pid(pid);
  return e;
}

}  // namespace

std::string SandboxIdFor(const std::string& container_id, const oci::Spec& spec) {
  // containerd's and CRI-O's annotations (sandbox/pod.h). A spec they do not make sense in is
  // its own sandbox here, and the sandbox's Start then names what is wrong with it.
  absl::StatusOr<runtime::PodRole> role = runtime::PodRoleOf(container_id, spec);
  return role.ok() ? role->sandbox_id : container_id;
}

TaskService::TaskService(Options options) : options_(std::move(options)) {}

TaskService::~TaskService() {
  // The sandbox reports its last exits to OnExit while this object is still whole.
  std::unique_ptr<runtime::Sandbox> sandbox;
  bool shut_down;
  {
    absl::MutexLock lock(&mu_);
    sandbox = std::move(sandbox_);
    shut_down = shut_down_;
  }
  if (sandbox && !shut_down) sandbox->Shutdown().IgnoreError();
  // The processes' stdio threads call the sandbox: they end before it does.
  std::map<std::string, Task> tasks;
  std::map<std::string, std::shared_ptr<Proc>> pending;
  {
    absl::MutexLock lock(&mu_);
    tasks.swap(tasks_);
    pending.swap(pending_exits_);
  }
  tasks.clear();
  pending.clear();
  sandbox.reset();
}

TaskState TaskService::StateOf(const Proc& p) {
  if (p.exited.HasBeenNotified()) return TaskState::kStopped;
  if (!p.started) return TaskState::kCreated;
  if (!p.exec_id.empty() || sandbox_ == nullptr) return TaskState::kRunning;
  // Until its exit is published (after its output), a process that ended is still running.
  absl::StatusOr<runtime::ContainerState> c = sandbox_->GetContainerState(p.container_id);
  if (c.ok() && *c == runtime::ContainerState::kPaused) return TaskState::kPaused;
  return TaskState::kRunning;
}

absl::StatusOr<std::shared_ptr<TaskService::Proc>> TaskService::FindProc(
    const std::string& id, const std::string& exec_id) {
  auto t = tasks_.find(id);
  if (t == tasks_.end()) return absl::NotFoundError(absl::StrCat("task ", id, ": not found"));
  auto p = t->second.procs.find(exec_id);
  if (p == t->second.procs.end()) {
    return absl::NotFoundError(absl::StrCat("process ", ProcessName(id, exec_id), ": not found"));
  }
  return p->second;
}

absl::StatusOr<runtime::Sandbox*> TaskService::GetSandbox() {
  if (sandbox_ == nullptr) return absl::FailedPreconditionError("shim: no sandbox yet");
  return sandbox_.get();
}

absl::Status TaskService::State(Ctx&, const tpb::StateRequest& req, tpb::StateResponse* resp) {
  absl::MutexLock lock(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(req.id(), req.exec_id()));
  resp->set_id(req.id());
  resp->set_exec_id(req.exec_id());
  resp->set_bundle(tasks_[req.id()].bundle);
  resp->set_pid(pid_);
  const TaskState state = StateOf(*p);
  resp->set_status(ToProtoStatus(state));
  resp->set_stdin(p->stdio.stdin);
  resp->set_stdout(p->stdio.stdout);
  resp->set_stderr(p->stdio.stderr);
  resp->set_terminal(p->stdio.terminal);
  if (state == TaskState::kStopped) {
    resp->set_exit_status(p->exit_status);
    *resp->mutable_exited_at() = ToTimestamp(p->exited_at);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<runtime::Sandbox>> TaskService::StartSandbox(
    const std::string& id, const oci::Spec& spec, const std::string& config_path) {
  KATA_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Sandbox> sb,
                        options_.factory(id, spec, config_path));
  sb->SetExitObserver([this](const std::string& cid, const std::string& exec_id,
                             const runtime::ExitStatus& status) { OnExit(cid, exec_id, status); });
  sb->SetOomObserver(OomEventPublisher(options_.events));
  SHIM_LOG(Info) << "sandbox " << id << ": starting the VM";
  absl::Status started = sb->Start();
  if (!started.ok()) {
    absl::Status down = sb->Shutdown();
    if (!down.ok())
      SHIM_LOG(Warning) << "sandbox " << id << ": shutdown after failed start: " << down;
    return started;
  }
  if (options_.on_sandbox_started) options_.on_sandbox_started(id);
  return sb;
}

absl::Status TaskService::Create(Ctx&, const tpb::CreateTaskRequest& req,
                                 tpb::CreateTaskResponse* resp) {
  trace::ScopedSpan span(tracer(), "task.Create", options_.trace_parent);
  absl::MutexLock create_lock(&create_mu_);
  const std::string& id = req.id();
  if (id.empty()) return absl::InvalidArgumentError("create: empty task id");
  if (!req.checkpoint().empty()) {
    return absl::UnimplementedError(absl::StrCat("task ", id, ": restore from a checkpoint"));
  }
  runtime::Sandbox* sandbox = nullptr;
  std::string current_sid;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_)
      return absl::FailedPreconditionError(absl::StrCat("task ", id, ": shim is shutting down"));
    if (tasks_.count(id))
      return absl::AlreadyExistsError(absl::StrCat("task ", id, ": already exists"));
    sandbox = sandbox_.get();
    current_sid = sandbox_id_;
  }
  KATA_ASSIGN_OR_RETURN(oci::Spec spec, oci::LoadSpecFile(req.bundle() + "/config.json"));
  const std::string sid = SandboxIdFor(id, spec);
  bool made_sandbox = false;
  if (sandbox == nullptr) {
    if (sid != id) {
      return absl::FailedPreconditionError(
          absl::StrCat("task ", id, ": its sandbox ", sid, " is not run by this shim"));
    }
    KATA_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Sandbox> sb,
                          StartSandbox(id, spec, ConfigPathOf(req)));
    std::vector<pid_t> pids = sb->VmPids();
    absl::MutexLock lock(&mu_);
    sandbox_ = std::move(sb);
    sandbox_id_ = id;
    pid_ = pids.empty() ? 0 : static_cast<uint32_t>(pids[0]);
    sandbox = sandbox_.get();
    made_sandbox = true;
  } else if (sid != current_sid) {
    return absl::FailedPreconditionError(absl::StrCat("task ", id, ": belongs to sandbox ", sid,
                                                      ", this shim runs sandbox ", current_sid));
  }
  auto undo_sandbox = [&] {
    if (!made_sandbox) return;
    absl::Status down = sandbox->Shutdown();
    if (!down.ok())
      SHIM_LOG(Warning) << "sandbox " << id << ": shutdown after failed create: " << down;
  };

  auto proc = std::make_shared<Proc>();
  proc->container_id = id;
  proc->stdio = {req.stdin(), req.stdout(), req.stderr(), req.terminal()};
  absl::StatusOr<std::unique_ptr<ProcessIo>> io =
      ProcessIo::Open(proc->stdio, {.container_id = id, .ns = options_.ns});
  if (!io.ok()) {
    undo_sandbox();
    return AnnotateStatus(io.status(), absl::StrCat("task ", id));
  }
  proc->io = std::move(*io);

  absl::Status created = sandbox->CreateContainer(ContainerConfigOf(req, std::move(spec)));
  if (!created.ok()) {
    undo_sandbox();
    return created;
  }
  absl::MutexLock lock(&mu_);
  Task& task = tasks_[id];
  task.id = id;
  task.bundle = req.bundle();
  task.procs[""] = proc;
  options_.events->Publish(kTopicCreate, TaskCreateEvent(req, pid_));
  resp->set_pid(pid_);
  SHIM_LOG(Info) << "task " << id << " created in sandbox " << sandbox_id_;
  return absl::OkStatus();
}

absl::Status TaskService::BeginStart(Proc& p, const Task& task) {
  const std::string who = ProcessName(p.container_id, p.exec_id);
  if (p.starting) return absl::FailedPreconditionError(absl::StrCat(who, " is being started"));
  if (p.deleting || task.deleting) {
    return absl::FailedPreconditionError(absl::StrCat(who, " is being deleted"));
  }
  KATA_RETURN_IF_ERROR(CheckTaskOp(who, StateOf(p), TaskOp::kStart));
  p.starting = true;
  return absl::OkStatus();
}

absl::Status TaskService::Start(Ctx&, const tpb::StartRequest& req, tpb::StartResponse* resp) {
  trace::ScopedSpan span(tracer(), "task.Start", options_.trace_parent);
  std::shared_ptr<Proc> p;
  runtime::Sandbox* sandbox;
  {
    absl::MutexLock lock(&mu_);
    KATA_ASSIGN_OR_RETURN(p, FindProc(req.id(), req.exec_id()));
    KATA_ASSIGN_OR_RETURN(sandbox, GetSandbox());
    KATA_RETURN_IF_ERROR(BeginStart(*p, tasks_[req.id()]));
  }
  // The guest calls, without mu_ (p->starting keeps Delete and a second Start away).
  absl::Status started = req.exec_id().empty() ? sandbox->StartContainer(req.id())
                                               : sandbox->Exec(req.id(), req.exec_id(),
                                                               *p->exec_process, p->stdio.terminal);
  if (started.ok() && p->io) p->io->Start(sandbox, req.id(), req.exec_id());
  std::optional<runtime::ExitStatus> early_exit;
  {
    absl::MutexLock lock(&mu_);
    p->starting = false;
    early_exit = std::exchange(p->early_exit, std::nullopt);
    KATA_RETURN_IF_ERROR(started);
    p->started = true;
    if (req.exec_id().empty()) {
      ev::TaskStart e;
      e.set_container_id(req.id());
      e.set_pid(pid_);
      options_.events->Publish(kTopicStart, e);
    } else {
      ev::TaskExecStarted e;
      e.set_container_id(req.id());
      e.set_exec_id(req.exec_id());
      e.set_pid(pid_);
      options_.events->Publish(kTopicExecStarted, e);
    }
    resp->set_pid(pid_);
  }
  // It exited before we were done: its exit is published now, after its start.
  if (early_exit.has_value()) OnExit(req.id(), req.exec_id(), *early_exit);
  return absl::OkStatus();
}

void TaskService::OnExit(const std::string& container_id, const std::string& exec_id,
                         const runtime::ExitStatus& exit) {
  std::shared_ptr<Proc> p;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<std::shared_ptr<Proc>> found = FindProc(container_id, exec_id);
    if (!found.ok()) {
      // Its task was deleted before this exit came (a VM death reports every process at
      // once): it is still published, so its Wait returns.
      auto pending = pending_exits_.find(ProcessName(container_id, exec_id));
      if (pending != pending_exits_.end()) found = pending->second;
    }
    if (found.ok() && (*found)->starting) {
      (*found)->early_exit = exit;  // Start publishes it once the process counts as started
      return;
    }
    // Never started (deleted while created) or already published: nothing to report.
    if (!found.ok() || !(*found)->started || (*found)->exited.HasBeenNotified()) return;
    p = *std::move(found);
  }
  runtime::ExitStatus status = exit;
  if (!status.error.ok()) {
    SHIM_LOG(Error) << "process " << ProcessName(container_id, exec_id)
                    << " lost: " << status.error;
  }
  if (status.exited_at == absl::InfinitePast()) status.exited_at = absl::Now();
  if (p->io && !p->io->WaitOutput(options_.output_grace)) {
    SHIM_LOG(Warning) << "process " << ProcessName(container_id, exec_id)
                      << ": output still copying after " << options_.output_grace;
  }
  bool deleted;
  {
    absl::MutexLock lock(&mu_);
    p->exit_status = static_cast<uint32_t>(status.exit_code);
    p->exited_at = status.exited_at;
    ev::TaskExit e;
    e.set_container_id(container_id);
    e.set_id(exec_id.empty() ? container_id : exec_id);
    e.set_pid(pid_);
    e.set_exit_status(p->exit_status);
    *e.mutable_exited_at() = ToTimestamp(p->exited_at);
    options_.events->Publish(kTopicExit, e);
    p->exited.Notify();
    deleted = pending_exits_.erase(ProcessName(container_id, exec_id)) > 0;
  }
  if (deleted) p->io.reset();  // closing the stdio waits for its threads: not under the lock
}

absl::Status TaskService::BeginDelete(Proc& p, Task& task) {
  const std::string who = ProcessName(p.container_id, p.exec_id);
  bool starting = p.starting;
  if (p.exec_id.empty()) {
    for (const auto& [eid, q] : task.procs) starting = starting || q->starting;
  }
  if (starting) {
    return absl::FailedPreconditionError(absl::StrCat(
        who, ": cannot delete: ", p.starting ? "it" : "one of its processes", " is being started"));
  }
  if (p.deleting || task.deleting) {
    return absl::FailedPreconditionError(absl::StrCat(who, " is being deleted"));
  }
  KATA_RETURN_IF_ERROR(CheckTaskOp(who, StateOf(p), TaskOp::kDelete));
  (p.exec_id.empty() ? task.deleting : p.deleting) = true;
  return absl::OkStatus();
}

absl::Status TaskService::Delete(Ctx&, const tpb::DeleteRequest& req, tpb::DeleteResponse* resp) {
  trace::ScopedSpan span(tracer(), "task.Delete", options_.trace_parent);
  std::shared_ptr<Proc> p;
  runtime::Sandbox* sandbox;
  bool was_created;
  {
    absl::MutexLock lock(&mu_);
    KATA_ASSIGN_OR_RETURN(p, FindProc(req.id(), req.exec_id()));
    KATA_ASSIGN_OR_RETURN(sandbox, GetSandbox());
    was_created = StateOf(*p) == TaskState::kCreated;
    KATA_RETURN_IF_ERROR(BeginDelete(*p, tasks_[req.id()]));
  }
  // The guest calls, without mu_ (the deleting mark keeps Start and a second Delete away).
  absl::Status deleted = absl::OkStatus();
  if (req.exec_id().empty()) {
    deleted = sandbox->DeleteContainer(req.id());
  } else if (!was_created) {
    deleted = sandbox->DeleteProcess(req.id(), req.exec_id());
  }
  std::vector<std::shared_ptr<Proc>> gone;
  {
    absl::MutexLock lock(&mu_);
    if (!deleted.ok()) {
      auto t = tasks_.find(req.id());
      if (t != tasks_.end() && req.exec_id().empty()) t->second.deleting = false;
      p->deleting = false;
      return deleted;
    }
    FinishDelete(req, *p, was_created, &gone);
    resp->set_pid(pid_);
    resp->set_exit_status(p->exit_status);
    *resp->mutable_exited_at() = ToTimestamp(p->exited_at);
  }
  // Outside the lock: closing the stdio waits for its copying threads.
  {
    trace::ScopedSpan close("stdio.close");
    for (auto& q : gone) q->io.reset();  // exited or never started: no OnExit touches it
  }
  SHIM_LOG(Info) << "process " << ProcessName(req.id(), req.exec_id()) << " deleted";
  return absl::OkStatus();
}

void TaskService::FinishDelete(const tpb::DeleteRequest& req, Proc& p, bool was_created,
                               std::vector<std::shared_ptr<Proc>>* gone) {
  if (was_created) {
    p.exit_status = req.exec_id().empty() ? 128 + SIGKILL : 0;
    p.exited_at = absl::Now();
    p.exited.Notify();
  }
  auto t = tasks_.find(req.id());
  if (t == tasks_.end()) return;
  if (!req.exec_id().empty()) {
    auto it = t->second.procs.find(req.exec_id());
    if (it != t->second.procs.end()) {
      gone->push_back(it->second);
      t->second.procs.erase(it);
    }
    return;
  }
  for (auto& [eid, q] : t->second.procs) {
    if (q->started && !q->exited.HasBeenNotified()) {
      // An exec whose exit is still on its way: OnExit publishes it and closes its stdio.
      pending_exits_[ProcessName(req.id(), eid)] = q;
    } else {
      gone->push_back(q);
    }
  }
  tasks_.erase(t);
  ev::TaskDelete e;
  e.set_container_id(req.id());
  e.set_pid(pid_);
  e.set_exit_status(p.exit_status);
  *e.mutable_exited_at() = ToTimestamp(p.exited_at);
  options_.events->Publish(kTopicDelete, e);
}

absl::Status TaskService::Connect(Ctx&, const tpb::ConnectRequest&, tpb::ConnectResponse* resp) {
  absl::MutexLock lock(&mu_);
  resp->set_shim_pid(static_cast<uint32_t>(getpid()));
  resp->set_task_pid(pid_);
  resp->set_version("kata-cpp");
  return absl::OkStatus();
}

absl::Status TaskService::Shutdown(Ctx&, const tpb::ShutdownRequest& req,
                                   google::protobuf::Empty*) {
  trace::ScopedSpan span(tracer(), "task.Shutdown", options_.trace_parent);
  {
    absl::MutexLock lock(&mu_);
    if (!tasks_.empty() && !req.now()) return absl::OkStatus();
  }
  absl::Status s = ShutdownSandbox();
  if (!s.ok()) SHIM_LOG(Error) << "shutdown: " << s;
  span->End();  // before on_shutdown, which exports the trace
  if (options_.on_shutdown) options_.on_shutdown();
  return absl::OkStatus();
}

trace::Tracer& TaskService::tracer() const {
  static trace::Tracer* const off = new trace::Tracer({});
  return options_.tracer != nullptr ? *options_.tracer : *off;
}

SandboxView TaskService::View() const {
  absl::MutexLock lock(&mu_);
  SandboxView view;
  view.sandbox = sandbox_.get();
  for (const auto& [id, task] : tasks_) view.container_ids.push_back(id);
  return view;
}

absl::Status TaskService::ShutdownSandbox() {
  runtime::Sandbox* sandbox;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::OkStatus();
    shut_down_ = true;
    sandbox = sandbox_.get();
  }
  if (sandbox == nullptr) return absl::OkStatus();
  SHIM_LOG(Info) << "sandbox " << sandbox->id() << ": shutting down";
  return sandbox->Shutdown();
}

}  // namespace shim
}  // namespace kata
