#include <algorithm>
#include <optional>
#include <string>
#include <utility>

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

absl::StatusOr<std::optional<::grpc::ReadStreamRequest>> VmSandbox::ReadRequest(
    const std::string& cid, const std::string& exec_id, size_t max_bytes, bool stderr_stream,
    std::shared_ptr<AgentClient>* agent) {
  KATA_ASSIGN_OR_RETURN(*agent, Agent(SandboxOp::kQuery));
  KATA_ASSIGN_OR_RETURN(ProcessRegistry::ProcessRef proc,
                        registry_.Find(cid, exec_id, ContainerOp::kStdio));
  // After the VM's death or a shutdown there is nothing more to read.
  if (State() != SandboxState::kRunning || !*agent) return std::nullopt;
  if (stderr_stream && proc.terminal) return std::nullopt;
  ::grpc::ReadStreamRequest r;
  r.set_container_id(cid);
  r.set_exec_id(proc.agent_exec);
  r.set_len(static_cast<uint32_t>(std::min<size_t>(max_bytes, 1 << 20)));
  return r;
}

// A read's end that is EOF: the agent's OUT_OF_RANGE, or an exec the agent freed once its exit
// was collected and everything it wrote was returned (src/agent/container/container.h).
static bool IsEof(const absl::Status& s, const std::string& exec_id) {
  return absl::IsOutOfRange(s) || (absl::IsNotFound(s) && !exec_id.empty());
}

absl::Status VmSandbox::ReadFailure(const std::string& cid, const absl::Status& error) {
  absl::Status cause = LostCause(cid, error);
  // The VM's end, a shutdown or the container's deletion: EOF.
  if (State() != SandboxState::kRunning || !registry_.Check(cid, ContainerOp::kQuery).ok()) {
    return absl::OkStatus();
  }
  return cause;
}

absl::Status VmSandbox::ReadStream(const std::string& cid, const std::string& exec_id,
                                   size_t max_bytes, bool stderr_stream, std::string* out) {
  out->clear();
  std::shared_ptr<AgentClient> agent;
  KATA_ASSIGN_OR_RETURN(std::optional<::grpc::ReadStreamRequest> r,
                        ReadRequest(cid, exec_id, max_bytes, stderr_stream, &agent));
  if (!r.has_value()) return absl::OkStatus();
  absl::StatusOr<::grpc::ReadStreamResponse> got =
      stderr_stream ? agent->ReadStderr(*r) : agent->ReadStdout(*r);
  if (got.ok()) {
    *out = got->data();
    return absl::OkStatus();
  }
  if (IsEof(got.status(), exec_id)) return absl::OkStatus();
  return ReadFailure(cid, got.status());
}

void VmSandbox::ReadOutputAsync(const std::string& cid, const std::string& exec_id,
                                bool stderr_stream, size_t max_bytes, ReadDone done) {
  std::shared_ptr<AgentClient> agent;
  absl::StatusOr<std::optional<::grpc::ReadStreamRequest>> r =
      ReadRequest(cid, exec_id, max_bytes, stderr_stream, &agent);
  if (!r.ok()) return done(r.status());
  if (!r->has_value()) return done(std::string());
  reads_.Begin(cid, exec_id);
  auto complete = [this, cid, exec_id,
                   done = std::move(done)](absl::StatusOr<::grpc::ReadStreamResponse> got) mutable {
    // On the transport's thread: an answer or EOF is passed on here; a failure may wait for
    // the VM's death to be confirmed (LostCause), so it is judged off this thread.
    if (got.ok() || IsEof(got.status(), exec_id)) {
      done(got.ok() ? std::move(*got->mutable_data()) : std::string());
      return reads_.End(cid, exec_id);
    }
    reads_.Finish(cid, exec_id,
                  [this, cid, error = got.status(), done = std::move(done)]() mutable {
                    absl::Status s = ReadFailure(cid, error);
                    if (s.ok()) return done(std::string());
                    done(s);
                  });
  };
  if (stderr_stream) return agent->ReadStderrAsync(**r, std::move(complete));
  agent->ReadStdoutAsync(**r, std::move(complete));
}

void VmSandbox::WriteStdinAsync(const std::string& cid, const std::string& exec_id,
                                std::string data, WriteDone done) {
  absl::StatusOr<Target> t = GuestTarget(cid, exec_id, ContainerOp::kStdio);
  if (!t.ok()) return done(t.status());
  ::grpc::WriteStreamRequest r;
  r.set_container_id(cid);
  r.set_exec_id(t->proc.agent_exec);
  r.set_data(std::move(data));
  t->agent->WriteStdinAsync(
      r, [cid, done = std::move(done)](absl::StatusOr<::grpc::WriteStreamResponse> w) mutable {
        if (!w.ok()) return done(AnnotateStatus(w.status(), Context(cid)));
        done(static_cast<size_t>(w->len()));
      });
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
