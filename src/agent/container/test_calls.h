// Test helper (testonly): the container rpcs every agent-API test repeats, as one-line
// calls on a generated AgentService ttRPC client. A fixture mixes it in, sets `api_`
// (and `opts_`, e.g. a timeout) in SetUp, and calls Create/Start/Signal/Wait/Remove;
// other rpcs go through `api_` directly with `empty_` and `opts_`.
#ifndef KATA_SRC_AGENT_CONTAINER_TEST_CALLS_H_
#define KATA_SRC_AGENT_CONTAINER_TEST_CALLS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"

namespace kata {
namespace agent {
namespace testing {

class AgentApiCalls {
 protected:
  absl::Status Create(const grpc::CreateContainerRequest& req) {
    return api_->CreateContainer(req, &empty_, opts_);
  }
  absl::Status Start(const std::string& id) {
    grpc::StartContainerRequest r;
    r.set_container_id(id);
    return api_->StartContainer(r, &empty_, opts_);
  }
  // RemoveContainer with a 10 s timeout for the processes to go.
  absl::Status Remove(const std::string& id) {
    grpc::RemoveContainerRequest r;
    r.set_container_id(id);
    r.set_timeout(10);
    return api_->RemoveContainer(r, &empty_, opts_);
  }
  absl::Status Signal(const std::string& id, const std::string& exec, int sig) {
    grpc::SignalProcessRequest r;
    r.set_container_id(id);
    r.set_exec_id(exec);
    r.set_signal(static_cast<uint32_t>(sig));
    return api_->SignalProcess(r, &empty_, opts_);
  }
  // The exit status of process `exec` of container `id` (128+n for signal n).
  absl::StatusOr<int> Wait(const std::string& id, const std::string& exec) {
    grpc::WaitProcessRequest r;
    r.set_container_id(id);
    r.set_exec_id(exec);
    grpc::WaitProcessResponse resp;
    absl::Status s = api_->WaitProcess(r, &resp, opts_);
    if (!s.ok()) return s;
    return resp.status();
  }

  std::unique_ptr<grpc::AgentServiceTtrpc::Client> api_;
  ttrpc::CallOptions opts_;
  google::protobuf::Empty empty_;
};

}  // namespace testing
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CONTAINER_TEST_CALLS_H_
