#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/runtime/sandbox/vm_sandbox_impl.h"

namespace kata::runtime::internal {

absl::StatusOr<size_t> VmSandbox::WriteStdin(const std::string& cid, const std::string& exec_id,
                                             absl::string_view data) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, exec_id, ContainerOp::kStdio));
  ::grpc::WriteStreamRequest r;
  r.set_container_id(cid);
  r.set_exec_id(t.proc.agent_exec);
  r.set_data(std::string(data));
  absl::StatusOr<::grpc::WriteStreamResponse> w = t.agent->WriteStdin(r);
  if (!w.ok()) return AnnotateStatus(w.status(), Context(cid));
  return static_cast<size_t>(w->len());
}

absl::Status VmSandbox::CloseStdin(const std::string& cid, const std::string& exec_id) {
  KATA_ASSIGN_OR_RETURN(Target t, GuestTarget(cid, exec_id, ContainerOp::kStdio));
  ::grpc::CloseStdinRequest r;
  r.set_container_id(cid);
  r.set_exec_id(t.proc.agent_exec);
  absl::Status s = t.agent->CloseStdin(r);
  // A freed exec (exited, collected, read) has no stdin left to close.
  if (absl::IsNotFound(s) && !exec_id.empty() && t.proc.exited) return absl::OkStatus();
  return AnnotateStatus(s, Context(cid));
}

absl::Status VmSandbox::ReadStream(const std::string& cid, const std::string& exec_id,
                                   size_t max_bytes, bool stderr_stream, std::string* out) {
  out->clear();
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<AgentClient> agent, Agent(SandboxOp::kQuery));
  KATA_ASSIGN_OR_RETURN(ProcessRegistry::ProcessRef proc,
                        registry_.Find(cid, exec_id, ContainerOp::kStdio));
  // After the VM's death or a shutdown there is nothing more to read.
  if (State() != SandboxState::kRunning || !agent) return absl::OkStatus();
  if (stderr_stream && proc.terminal) return absl::OkStatus();
  ::grpc::ReadStreamRequest r;
  r.set_container_id(cid);
  r.set_exec_id(proc.agent_exec);
  r.set_len(static_cast<uint32_t>(std::min<size_t>(max_bytes, 1 << 20)));
  absl::StatusOr<::grpc::ReadStreamResponse> got =
      stderr_stream ? agent->ReadStderr(r) : agent->ReadStdout(r);
  if (got.ok()) {
    *out = got->data();
    return absl::OkStatus();
  }
  if (absl::IsOutOfRange(got.status())) return absl::OkStatus();  // EOF
  // The agent frees an exec once its exit was collected and everything it wrote was returned
  // (src/agent/container/container.h): what is left to read of it is EOF.
  if (absl::IsNotFound(got.status()) && !exec_id.empty()) return absl::OkStatus();
  absl::Status cause = LostCause(cid, got.status());
  // The VM's end, a shutdown or the container's deletion: EOF.
  if (State() != SandboxState::kRunning || !registry_.Check(cid, ContainerOp::kQuery).ok()) {
    return absl::OkStatus();
  }
  return cause;
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
  if (!t.proc.terminal) {
    return absl::FailedPreconditionError(
        absl::StrCat(Context(cid), ": process \"", exec_id, "\" has no terminal"));
  }
  ::grpc::TtyWinResizeRequest r;
  r.set_container_id(cid);
  r.set_exec_id(t.proc.agent_exec);
  r.set_row(height);
  r.set_column(width);
  return AnnotateStatus(t.agent->TtyWinResize(r), Context(cid));
}

}  // namespace kata::runtime::internal
