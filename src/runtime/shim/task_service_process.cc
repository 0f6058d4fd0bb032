// TaskService's operations on a created task or exec: Pids, Pause, Resume, Checkpoint, Kill,
// Exec, ResizePty, CloseIO, Update, Wait, Stats. The lifecycle (Create, Start, exits, Delete,
// Connect, Shutdown) is in task_service.cc; the contract of both is task_service.h's.
#include <csignal>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/protocols/containerd/events/task.pb.h"
#include "src/libs/trace/scoped_span.h"
#include "src/runtime/shim/log.h"
#include "src/runtime/shim/task_convert.h"
#include "src/runtime/shim/task_service.h"

namespace kata {
namespace shim {
namespace {

namespace tpb = ::containerd::task::v2;
namespace ev = ::containerd::events;

}  // namespace

absl::Status TaskService::Pids(Ctx&, const tpb::PidsRequest& req, tpb::PidsResponse* resp) {
  absl::MutexLock lock(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(req.id(), ""));
  (void)p;
  resp->add_processes()->set_pid(pid_);
  return absl::OkStatus();
}

absl::Status TaskService::Pause(Ctx&, const tpb::PauseRequest& req, google::protobuf::Empty*) {
  runtime::Sandbox* sandbox;
  {
    absl::MutexLock lock(&mu_);
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(req.id(), ""));
    KATA_RETURN_IF_ERROR(CheckTaskOp(req.id(), StateOf(*p), TaskOp::kPause));
    KATA_ASSIGN_OR_RETURN(sandbox, GetSandbox());
  }
  KATA_RETURN_IF_ERROR(sandbox->Pause(req.id()));  // the sandbox checks its state again
  absl::MutexLock lock(&mu_);
  ev::TaskPaused e;
  e.set_container_id(req.id());
  options_.events->Publish(kTopicPaused, e);
  return absl::OkStatus();
}

absl::Status TaskService::Resume(Ctx&, const tpb::ResumeRequest& req, google::protobuf::Empty*) {
  runtime::Sandbox* sandbox;
  {
    absl::MutexLock lock(&mu_);
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(req.id(), ""));
    KATA_RETURN_IF_ERROR(CheckTaskOp(req.id(), StateOf(*p), TaskOp::kResume));
    KATA_ASSIGN_OR_RETURN(sandbox, GetSandbox());
  }
  KATA_RETURN_IF_ERROR(sandbox->Resume(req.id()));
  absl::MutexLock lock(&mu_);
  ev::TaskResumed e;
  e.set_container_id(req.id());
  options_.events->Publish(kTopicResumed, e);
  return absl::OkStatus();
}

absl::Status TaskService::Checkpoint(Ctx&, const tpb::CheckpointTaskRequest& req,
                                     google::protobuf::Empty*) {
  return absl::UnimplementedError(absl::StrCat("task ", req.id(), ": checkpoint is not supported"));
}

absl::Status TaskService::Kill(Ctx&, const tpb::KillRequest& req, google::protobuf::Empty*) {
  trace::ScopedSpan span(tracer(), "task.Kill", options_.trace_parent);
  runtime::Sandbox* sandbox;
  {
    absl::MutexLock lock(&mu_);
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(req.id(), req.exec_id()));
    KATA_RETURN_IF_ERROR(
        CheckTaskOp(ProcessName(req.id(), req.exec_id()), StateOf(*p), TaskOp::kKill));
    KATA_ASSIGN_OR_RETURN(sandbox, GetSandbox());
  }
  return sandbox->Signal(req.id(), req.exec_id(), static_cast<int>(req.signal()), req.all());
}

absl::Status TaskService::Exec(Ctx&, const tpb::ExecProcessRequest& req, google::protobuf::Empty*) {
  if (req.exec_id().empty())
    return absl::InvalidArgumentError(absl::StrCat("task ", req.id(), ": exec without an exec id"));
  KATA_ASSIGN_OR_RETURN(oci::Process process, ParseProcessJson(req.spec().value()));
  auto p = std::make_shared<Proc>();
  p->container_id = req.id();
  p->exec_id = req.exec_id();
  p->stdio = {req.stdin(), req.stdout(), req.stderr(), req.terminal()};
  p->exec_process = std::move(process);
  absl::MutexLock lock(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> init, FindProc(req.id(), ""));
  KATA_RETURN_IF_ERROR(CheckTaskOp(req.id(), StateOf(*init), TaskOp::kExec));
  Task& task = tasks_[req.id()];
  if (task.deleting) {
    return absl::FailedPreconditionError(absl::StrCat("task ", req.id(), " is being deleted"));
  }
  if (task.procs.count(req.exec_id())) {
    return absl::AlreadyExistsError(
        absl::StrCat("process ", ProcessName(req.id(), req.exec_id()), ": already exists"));
  }
  absl::StatusOr<std::unique_ptr<ProcessIo>> io =
      ProcessIo::Open(p->stdio, {.container_id = req.id(), .ns = options_.ns});
  if (!io.ok())
    return AnnotateStatus(io.status(),
                          absl::StrCat("process ", ProcessName(req.id(), req.exec_id())));
  p->io = std::move(*io);
  task.procs[req.exec_id()] = p;
  ev::TaskExecAdded e;
  e.set_container_id(req.id());
  e.set_exec_id(req.exec_id());
  options_.events->Publish(kTopicExecAdded, e);
  return absl::OkStatus();
}

absl::Status TaskService::ResizePty(Ctx&, const tpb::ResizePtyRequest& req,
                                    google::protobuf::Empty*) {
  runtime::Sandbox* sandbox;
  {
    absl::MutexLock lock(&mu_);
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(req.id(), req.exec_id()));
    KATA_RETURN_IF_ERROR(
        CheckTaskOp(ProcessName(req.id(), req.exec_id()), StateOf(*p), TaskOp::kResizePty));
    KATA_ASSIGN_OR_RETURN(sandbox, GetSandbox());
  }
  return sandbox->ResizePty(req.id(), req.exec_id(), req.width(), req.height());
}

absl::Status TaskService::CloseIO(Ctx&, const tpb::CloseIORequest& req, google::protobuf::Empty*) {
  absl::MutexLock lock(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(req.id(), req.exec_id()));
  if (req.stdin() && p->io) p->io->CloseStdin();
  return absl::OkStatus();
}

absl::Status TaskService::Update(Ctx&, const tpb::UpdateTaskRequest& req,
                                 google::protobuf::Empty*) {
  KATA_ASSIGN_OR_RETURN(oci::LinuxResources resources, ParseResourcesJson(req.resources().value()));
  runtime::Sandbox* sandbox;
  {
    absl::MutexLock lock(&mu_);
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(req.id(), ""));
    KATA_RETURN_IF_ERROR(CheckTaskOp(req.id(), StateOf(*p), TaskOp::kUpdate));
    KATA_ASSIGN_OR_RETURN(sandbox, GetSandbox());
  }
  return sandbox->Update(req.id(), resources);
}

absl::Status TaskService::Wait(Ctx& ctx, const tpb::WaitRequest& req, tpb::WaitResponse* resp) {
  trace::ScopedSpan span(tracer(), "task.Wait", options_.trace_parent);
  std::shared_ptr<Proc> p;
  {
    absl::MutexLock lock(&mu_);
    KATA_ASSIGN_OR_RETURN(p, FindProc(req.id(), req.exec_id()));
  }
  while (!p->exited.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
    if (ctx.cancelled()) {
      return absl::CancelledError(
          absl::StrCat("wait ", ProcessName(req.id(), req.exec_id()), ": cancelled"));
    }
  }
  absl::MutexLock lock(&mu_);
  resp->set_exit_status(p->exit_status);
  *resp->mutable_exited_at() = ToTimestamp(p->exited_at);
  return absl::OkStatus();
}

absl::Status TaskService::Stats(Ctx&, const tpb::StatsRequest& req, tpb::StatsResponse* resp) {
  runtime::Sandbox* sandbox;
  {
    absl::MutexLock lock(&mu_);
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(req.id(), ""));
    KATA_RETURN_IF_ERROR(CheckTaskOp(req.id(), StateOf(*p), TaskOp::kStats));
    KATA_ASSIGN_OR_RETURN(sandbox, GetSandbox());
  }
  KATA_ASSIGN_OR_RETURN(runtime::ContainerStats stats, sandbox->Stats(req.id()));
  *resp->mutable_stats() = PackAny(ToMetrics(stats), kMetricsTypeUrl);
  return absl::OkStatus();
}

}  // namespace shim
}  // namespace kata
