// containerd's `containerd.task.v2.Task` service over one pod's Sandbox (src/runtime/sandbox).
//
//   TaskService service({.ns = "default", .factory = MakeVmSandbox, .events = &forwarder,
//                        .on_shutdown = [&] { /* stop serving, exit */ }});
//   server.Register(&service);
//
// What containerd can rely on:
// - Create makes the pod's sandbox (factory + Start: the VM boots) for the first container,
//   or adds the container to it when its spec names this sandbox
//   (io.kubernetes.cri.container-type=container, io.kubernetes.cri.sandbox-id=<first id>, or
//   CRI-O's io.kubernetes.cri-o.ContainerType / io.kubernetes.cri-o.SandboxID).
//   The rootfs comes from the request's mounts (else the bundle's root.path), the spec from
//   <bundle>/config.json, stdio from the request (see process_io.h).
// - The sandbox owns the processes' lifecycles; the shim keeps no state machine of its own.
//   It maps the sandbox's states to containerd's (task_state.h: an exec not yet started is
//   CREATED, a process is STOPPED once its exit was published) and learns of exits from the
//   sandbox's exit observer: no thread of its own waits for a process. An illegal rpc changes
//   nothing and answers FAILED_PRECONDITION, an unknown id NOT_FOUND. Checkpoint answers
//   UNIMPLEMENTED.
// - Events, through one ordered publisher: /tasks/create, /tasks/start, /tasks/exit,
//   /tasks/delete for a task; /tasks/exec-added, /tasks/exec-started, /tasks/exit for an exec;
//   /tasks/paused, /tasks/resumed; /tasks/oom for each OOM kill the sandbox reports
//   (oom_events.h). A process's /tasks/exit is published (and its Wait
//   answered) only after its output was copied to containerd (bounded by
//   Options::output_grace), so nothing printed before the exit is lost.
// - The pid reported for every process is the VMM's host pid (as Kata does: the container's
//   processes live in the guest).
// - Shutdown with no task left (or `now`) shuts the sandbox down (the VM stops, its
//   directories and mounts go) and then calls on_shutdown once; it answers first.
// - No guest call is made under the service's lock: an rpc takes what it needs under the
//   lock, calls the sandbox without it, and records the result under it again. So a slow or
//   stuck guest call never holds up State, Kill, Wait or Delete of other processes. A
//   process being started (Start in flight) cannot be deleted, nor its task's init
//   (FAILED_PRECONDITION "... is being started"); a process being deleted cannot be started.
//   Wait is a blocking method (ttrpc::Service::IsBlocking): each runs on its own thread.
#ifndef KATA_SRC_RUNTIME_SHIM_TASK_SERVICE_H_
#define KATA_SRC_RUNTIME_SHIM_TASK_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "src/libs/oci/spec.h"
#include "src/libs/protocols/task.ttrpc.pb.h"
#include "src/libs/trace/span_context.h"
#include "src/libs/trace/tracer.h"
#include "src/runtime/sandbox/sandbox.h"
#include "src/runtime/shim/events.h"
#include "src/runtime/shim/monitor.h"
#include "src/runtime/shim/process_io.h"
#include "src/runtime/shim/task_state.h"

namespace kata {
namespace shim {

inline constexpr char kContainerTypeAnnotation[] = "io.kubernetes.cri.container-type";
inline constexpr char kSandboxIdAnnotation[] = "io.kubernetes.cri.sandbox-id";

// Makes the (not started) sandbox for a pod. `config_path` is the runtime options'
// config_path ("" = the default search, config/resolve.h).
using SandboxFactory = std::function<absl::StatusOr<std::unique_ptr<runtime::Sandbox>>(
    const std::string& sandbox_id, const oci::Spec& spec, const std::string& config_path)>;

// The sandbox a container with `spec` belongs to: the sandbox-id annotation for a pod's
// container (container-type "container"; containerd's or CRI-O's names, sandbox/pod.h), else
// the container's own id.
std::string SandboxIdFor(const std::string& container_id, const oci::Spec& spec);

class TaskService : public ::containerd::task::v2::TaskTtrpc::Service {
 public:
  struct Options {
    std::string ns;
    SandboxFactory factory;
    EventPublisher* events = nullptr;
    // Called by Shutdown once the sandbox is down, on the rpc's thread before its answer is sent.
    std::function<void()> on_shutdown;
    absl::Duration output_grace = absl::Seconds(10);
    // Tracing (src/libs/trace): Create, Start, Wait, Kill, Delete and Shutdown are spans
    // "task.<rpc>", children of trace_parent (the shim's root span), with what they do below
    // them; null: no span.
    trace::Tracer* tracer = nullptr;
    trace::SpanContext trace_parent;
    // Called with the sandbox's id once its VM and agent are up (e.g. to read the agent's
    // trace stream); on the rpc's thread.
    std::function<void(const std::string& sandbox_id)> on_sandbox_started;
  };

  explicit TaskService(Options options);
  ~TaskService() override;

  using Ctx = ::kata::ttrpc::ServerContext;
  absl::Status State(Ctx& ctx, const ::containerd::task::v2::StateRequest& request,
                     ::containerd::task::v2::StateResponse* response) override;
  absl::Status Create(Ctx& ctx, const ::containerd::task::v2::CreateTaskRequest& request,
                      ::containerd::task::v2::CreateTaskResponse* response) override;
  absl::Status Start(Ctx& ctx, const ::containerd::task::v2::StartRequest& request,
                     ::containerd::task::v2::StartResponse* response) override;
  absl::Status Delete(Ctx& ctx, const ::containerd::task::v2::DeleteRequest& request,
                      ::containerd::task::v2::DeleteResponse* response) override;
  absl::Status Pids(Ctx& ctx, const ::containerd::task::v2::PidsRequest& request,
                    ::containerd::task::v2::PidsResponse* response) override;
  absl::Status Pause(Ctx& ctx, const ::containerd::task::v2::PauseRequest& request,
                     ::google::protobuf::Empty* response) override;
  absl::Status Resume(Ctx& ctx, const ::containerd::task::v2::ResumeRequest& request,
                      ::google::protobuf::Empty* response) override;
  absl::Status Checkpoint(Ctx& ctx, const ::containerd::task::v2::CheckpointTaskRequest& request,
                          ::google::protobuf::Empty* response) override;
  absl::Status Kill(Ctx& ctx, const ::containerd::task::v2::KillRequest& request,
                    ::google::protobuf::Empty* response) override;
  absl::Status Exec(Ctx& ctx, const ::containerd::task::v2::ExecProcessRequest& request,
                    ::google::protobuf::Empty* response) override;
  absl::Status ResizePty(Ctx& ctx, const ::containerd::task::v2::ResizePtyRequest& request,
                         ::google::protobuf::Empty* response) override;
  absl::Status CloseIO(Ctx& ctx, const ::containerd::task::v2::CloseIORequest& request,
                       ::google::protobuf::Empty* response) override;
  absl::Status Update(Ctx& ctx, const ::containerd::task::v2::UpdateTaskRequest& request,
                      ::google::protobuf::Empty* response) override;
  absl::Status Wait(Ctx& ctx, const ::containerd::task::v2::WaitRequest& request,
                    ::containerd::task::v2::WaitResponse* response) override;
  absl::Status Stats(Ctx& ctx, const ::containerd::task::v2::StatsRequest& request,
                     ::containerd::task::v2::StatsResponse* response) override;
  absl::Status Connect(Ctx& ctx, const ::containerd::task::v2::ConnectRequest& request,
                       ::containerd::task::v2::ConnectResponse* response) override;
  absl::Status Shutdown(Ctx& ctx, const ::containerd::task::v2::ShutdownRequest& request,
                        ::google::protobuf::Empty* response) override;

  // Wait blocks until the process exits.
  bool IsBlocking(absl::string_view method) const override { return method == "Wait"; }

  // Shuts the sandbox down if there is one (the daemon's SIGTERM path). Idempotent.
  absl::Status ShutdownSandbox();

  // The sandbox (null before the first Create) and its tasks' ids, for the management socket
  // (monitor.h): taken under the service's lock, used without it. The sandbox lives as long
  // as the service.
  SandboxView View() const;

 private:
  struct Proc {
    std::string container_id;
    std::string exec_id;  // "" = init
    StdioPaths stdio;
    bool started = false;   // Start succeeded (the sandbox runs it)
    bool starting = false;  // a Start is in flight (its guest call runs without mu_)
    bool deleting = false;  // a Delete is in flight
    // An exit the sandbox reported while Start was still in flight: Start publishes it.
    std::optional<runtime::ExitStatus> early_exit;
    uint32_t exit_status = 0;
    absl::Time exited_at = absl::InfinitePast();
    std::unique_ptr<ProcessIo> io;
    std::optional<oci::Process> exec_process;  // exec: what to run at Start
    absl::Notification exited;                 // the exit is published: STOPPED
  };
  struct Task {
    std::string id;
    std::string bundle;
    std::map<std::string, std::shared_ptr<Proc>> procs;  // "" = init
    bool deleting = false;  // a Delete of the init (the whole task) is in flight
  };

  absl::StatusOr<std::shared_ptr<Proc>> FindProc(const std::string& id, const std::string& exec_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<runtime::Sandbox*> GetSandbox() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The pod's sandbox from the factory, started (the VM boots) and observed by OnExit; shut
  // down again if it does not start.
  absl::StatusOr<std::unique_ptr<runtime::Sandbox>> StartSandbox(const std::string& id,
                                                                 const oci::Spec& spec,
                                                                 const std::string& config_path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(create_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // For Start: marks `p` starting (FAILED_PRECONDITION if it, or its task, cannot start now).
  absl::Status BeginStart(Proc& p, const Task& task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // For Delete: marks `p` (or its task, for the init) deleting; FAILED_PRECONDITION while a
  // Start of it (or of one of the task's processes, for the init) is in flight.
  absl::Status BeginDelete(Proc& p, Task& task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Delete's bookkeeping once the sandbox has deleted the process: the task's records go,
  // events are published; the processes whose stdio is to be closed are added to `gone`.
  void FinishDelete(const ::containerd::task::v2::DeleteRequest& req, Proc& p, bool was_created,
                    std::vector<std::shared_ptr<Proc>>* gone) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The span of an rpc (a no-op one without a Tracer).
  trace::Tracer& tracer() const;
  // containerd's view of `p`, from the sandbox's state of it.
  TaskState StateOf(const Proc& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The sandbox's exit observer: waits for the process's output, then publishes /tasks/exit.
  void OnExit(const std::string& container_id, const std::string& exec_id,
              const runtime::ExitStatus& status);

  const Options options_;
  absl::Mutex create_mu_;  // serializes Create (sandbox creation may take seconds)
  mutable absl::Mutex mu_;
  std::unique_ptr<runtime::Sandbox> sandbox_ ABSL_GUARDED_BY(mu_);
  std::string sandbox_id_ ABSL_GUARDED_BY(mu_);
  uint32_t pid_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Task> tasks_ ABSL_GUARDED_BY(mu_);
  // Started processes of deleted tasks whose exit is not published yet, by "cid/exec_id".
  std::map<std::string, std::shared_ptr<Proc>> pending_exits_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_TASK_SERVICE_H_
