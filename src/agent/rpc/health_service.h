// grpc.Health as kata-agent serves it: Check answers SERVING while the agent serves;
// Version answers agent_version = kAgentVersion (src/agent/version.h), grpc_version "ttrpc".
#ifndef KATA_SRC_AGENT_RPC_HEALTH_SERVICE_H_
#define KATA_SRC_AGENT_RPC_HEALTH_SERVICE_H_

#include "absl/status/status.h"
#include "src/libs/protocols/health.ttrpc.pb.h"

namespace kata {
namespace agent {

class HealthService final : public grpc::HealthTtrpc::Service {
 public:
  absl::Status Check(ttrpc::ServerContext& context, const grpc::CheckRequest& request,
                     grpc::HealthCheckResponse* response) override;
  absl::Status Version(ttrpc::ServerContext& context, const grpc::CheckRequest& request,
                       grpc::VersionCheckResponse* response) override;
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_HEALTH_SERVICE_H_
