// VmSandbox's processes (vm_sandbox_impl.h): each process's exit wait on the agent, and the
// exec, signal, wait, listing and removal of processes.
#include <signal.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/trace/scoped_span.h"
#include "src/runtime/sandbox/guest_spec.h"
#include "src/runtime/sandbox/ids.h"
#include "src/runtime/sandbox/registry.h"
#include "src/runtime/sandbox/vm_sandbox_impl.h"

namespace kata::runtime::internal {

void VmSandbox::StartWaiter(const std::shared_ptr<AgentClient>& agent, const std::string& cid,
                            const std::string& exec_id, const std::string& agent_exec) {
  ::grpc::WaitProcessRequest r;
  r.set_container_id(cid);
  r.set_exec_id(agent_exec);
  completions_.Begin(cid, exec_id);
  agent->WaitProcessAsync(
      r, [this, cid, exec_id](absl::StatusOr<::grpc::WaitProcessResponse> w) mutable {
        // On the transport's thread, which must not block: the exit is recorded off it.
        const absl::Time at = absl::Now();
        completions_.Finish(cid, exec_id, [this, cid, exec_id, at, w = std::move(w)] {
          ExitStatus exit{255, at, absl::OkStatus()};
          if (w.ok()) {
            exit.exit_code = w->status();
          } else {
            exit.error = LostCause(cid, w.status());
            exit.exited_at = absl::Now();
          }
          registry_.RecordExit(cid, exec_id, exit);
        });
      });
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
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<AgentClient> agent, Agent(SandboxOp::kContainerOp));
  KATA_RETURN_IF_ERROR(registry_.AddExec(cid, exec_id, terminal));  // reserves the id
  ::grpc::ExecProcessRequest r;
  r.set_container_id(cid);
  r.set_exec_id(exec_id);
  *r.mutable_process() = GuestProcess(process, terminal);
  absl::Status s = agent->ExecProcess(r);
  if (!s.ok()) {
    registry_.DropExec(cid, exec_id);
    return AnnotateStatus(s, ctx);
  }
  registry_.SetRunning(cid, exec_id);
  StartWaiter(agent, cid, exec_id, exec_id);
  return absl::OkStatus();
}

absl::Status VmSandbox::Signal(const std::string& cid, const std::string& exec_id, int signal,
                               bool all) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, exec_id, ContainerOp::kSignal));
  if (signal < 0 || signal > 64) {
    return absl::InvalidArgumentError(absl::StrCat(Context(cid), ": bad signal ", signal));
  }
  if (t.proc.exited && !all) {
    return absl::NotFoundError(
        absl::StrCat(Context(cid), ": process \"", exec_id, "\" has exited"));
  }
  ::grpc::SignalProcessRequest r;
  r.set_container_id(cid);
  // The agent signals every process of the container for an empty exec id.
  r.set_exec_id(all ? "" : t.proc.agent_exec);
  r.set_signal(static_cast<uint32_t>(signal));
  if (signal != SIGKILL) return AnnotateStatus(t.agent->SignalProcess(r), Context(cid));
  // A SIGKILL must end the process: if the guest does not take it in time, the VM is stopped,
  // which ends every process of it (reported with the cause).
  std::shared_ptr<AgentClient> agent = t.agent;
  absl::Status s = BoundedGuestCall(absl::StrCat("SignalProcess (SIGKILL) of ", Context(cid)),
                                    [agent, r] { return agent->SignalProcess(r); });
  if (!s.ok() && State() != SandboxState::kRunning) return absl::OkStatus();
  return AnnotateStatus(s, Context(cid));
}

absl::StatusOr<ExitStatus> VmSandbox::Wait(const std::string& cid, const std::string& exec_id) {
  KATA_RETURN_IF_ERROR(CheckQuery());
  return registry_.Wait(cid, exec_id);
}

absl::StatusOr<std::vector<ProcessInfo>> VmSandbox::Processes(const std::string& cid) const {
  KATA_RETURN_IF_ERROR(CheckQuery());
  return registry_.Processes(cid);
}

absl::StatusOr<ProcessInfo> VmSandbox::GetProcess(const std::string& cid,
                                                  const std::string& exec_id) const {
  KATA_RETURN_IF_ERROR(CheckQuery());
  return registry_.GetProcess(cid, exec_id);
}

absl::Status VmSandbox::DeleteProcess(const std::string& cid, const std::string& exec_id) {
  KATA_RETURN_IF_ERROR(CheckQuery());
  KATA_RETURN_IF_ERROR(registry_.DeleteProcess(cid, exec_id));
  completions_.AwaitIdle(cid, exec_id);  // so its late exit never meets a new exec of that id
  return absl::OkStatus();
}

}  // namespace kata::runtime::internal
