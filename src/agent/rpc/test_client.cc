#include "src/agent/rpc/test_client.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kata {
namespace agent {
namespace testing {

AgentApi::AgentApi(std::unique_ptr<ttrpc::Client> client, absl::Duration timeout)
    : client_(std::move(client)), service_(client_.get()) {
  opts_.timeout = timeout;
}

absl::Status AgentApi::Create(const grpc::CreateContainerRequest& request) {
  google::protobuf::Empty empty;
  return service_.CreateContainer(request, &empty, opts_);
}

absl::Status AgentApi::Start(const std::string& id) {
  grpc::StartContainerRequest r;
  r.set_container_id(id);
  google::protobuf::Empty empty;
  return service_.StartContainer(r, &empty, opts_);
}

absl::Status AgentApi::Remove(const std::string& id) {
  grpc::RemoveContainerRequest r;
  r.set_container_id(id);
  r.set_timeout(10);
  google::protobuf::Empty empty;
  return service_.RemoveContainer(r, &empty, opts_);
}

grpc::ExecProcessRequest AgentApi::ExecRequest(const std::string& id, const std::string& exec,
                                               std::vector<std::string> args, bool terminal) {
  grpc::ExecProcessRequest r;
  r.set_container_id(id);
  r.set_exec_id(exec);
  for (std::string& a : args) r.mutable_process()->add_args(std::move(a));
  r.mutable_process()->add_env("PATH=/bin");
  r.mutable_process()->set_cwd("/");
  r.mutable_process()->set_terminal(terminal);
  return r;
}

absl::Status AgentApi::Exec(const grpc::ExecProcessRequest& request) {
  google::protobuf::Empty empty;
  return service_.ExecProcess(request, &empty, opts_);
}

absl::Status AgentApi::Exec(const std::string& id, const std::string& exec,
                            std::vector<std::string> args, bool terminal) {
  return Exec(ExecRequest(id, exec, std::move(args), terminal));
}

absl::Status AgentApi::Signal(const std::string& id, const std::string& exec, int sig) {
  grpc::SignalProcessRequest r;
  r.set_container_id(id);
  r.set_exec_id(exec);
  r.set_signal(static_cast<uint32_t>(sig));
  google::protobuf::Empty empty;
  return service_.SignalProcess(r, &empty, opts_);
}

absl::StatusOr<int> AgentApi::Wait(const std::string& id, const std::string& exec) {
  grpc::WaitProcessRequest r;
  r.set_container_id(id);
  r.set_exec_id(exec);
  grpc::WaitProcessResponse resp;
  absl::Status s = service_.WaitProcess(r, &resp, opts_);
  if (!s.ok()) return s;
  return resp.status();
}

absl::StatusOr<std::string> AgentApi::ReadSome(const std::string& id, const std::string& exec,
                                               uint32_t len) {
  grpc::ReadStreamRequest r;
  r.set_container_id(id);
  r.set_exec_id(exec);
  r.set_len(len);
  grpc::ReadStreamResponse resp;
  absl::Status s = service_.ReadStdout(r, &resp, opts_);
  if (!s.ok()) return s;
  return std::move(*resp.mutable_data());
}

absl::StatusOr<std::string> AgentApi::ReadAll(const std::string& id, const std::string& exec) {
  std::string out;
  for (;;) {
    absl::StatusOr<std::string> chunk = ReadSome(id, exec);
    if (chunk.status().code() == absl::StatusCode::kOutOfRange) return out;  // EOF
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) {
      return absl::InternalError(absl::StrCat(id, "/", exec, ": empty read before EOF"));
    }
    out += *chunk;
  }
}

absl::StatusOr<uint32_t> AgentApi::WriteStdin(const std::string& id, const std::string& exec,
                                              absl::string_view data) {
  grpc::WriteStreamRequest r;
  r.set_container_id(id);
  r.set_exec_id(exec);
  r.set_data(std::string(data));
  grpc::WriteStreamResponse resp;
  absl::Status s = service_.WriteStdin(r, &resp, opts_);
  if (!s.ok()) return s;
  return resp.len();
}

absl::Status AgentApi::CloseStdin(const std::string& id, const std::string& exec) {
  grpc::CloseStdinRequest r;
  r.set_container_id(id);
  r.set_exec_id(exec);
  google::protobuf::Empty empty;
  return service_.CloseStdin(r, &empty, opts_);
}

absl::Status AgentApi::Resize(const std::string& id, const std::string& exec, uint32_t rows,
                              uint32_t cols) {
  grpc::TtyWinResizeRequest r;
  r.set_container_id(id);
  r.set_exec_id(exec);
  r.set_row(rows);
  r.set_column(cols);
  google::protobuf::Empty empty;
  return service_.TtyWinResize(r, &empty, opts_);
}

absl::Status AgentApi::CreateSandbox(const grpc::CreateSandboxRequest& request) {
  google::protobuf::Empty empty;
  return service_.CreateSandbox(request, &empty, opts_);
}

absl::Status AgentApi::DestroySandbox() {
  google::protobuf::Empty empty;
  return service_.DestroySandbox(grpc::DestroySandboxRequest(), &empty, opts_);
}

absl::Status AgentApi::Pause(const std::string& id) {
  grpc::PauseContainerRequest r;
  r.set_container_id(id);
  google::protobuf::Empty empty;
  return service_.PauseContainer(r, &empty, opts_);
}

absl::Status AgentApi::Resume(const std::string& id) {
  grpc::ResumeContainerRequest r;
  r.set_container_id(id);
  google::protobuf::Empty empty;
  return service_.ResumeContainer(r, &empty, opts_);
}

absl::StatusOr<grpc::StatsContainerResponse> AgentApi::Stats(const std::string& id) {
  grpc::StatsContainerRequest r;
  r.set_container_id(id);
  grpc::StatsContainerResponse resp;
  absl::Status s = service_.StatsContainer(r, &resp, opts_);
  if (!s.ok()) return s;
  return resp;
}

absl::StatusOr<std::string> AgentApi::RunToEnd(const grpc::CreateContainerRequest& request) {
  const std::string& id = request.container_id();
  absl::Status s = Create(request);
  if (!s.ok()) return s;
  s = Start(id);
  absl::StatusOr<std::string> out = s.ok() ? ReadAll(id, id) : absl::StatusOr<std::string>(s);
  absl::StatusOr<int> code = out.ok() ? Wait(id, id) : absl::StatusOr<int>(out.status());
  s = Remove(id);
  if (!code.ok()) return code.status();
  if (!s.ok()) return s;
  return absl::StrCat(*out, "rc=", *code);
}

}  // namespace testing
}  // namespace agent
}  // namespace kata
