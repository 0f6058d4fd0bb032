#include "src/agent/rpc/health_service.h"

#include "src/agent/version.h"

namespace kata {
namespace agent {

absl::Status HealthService::Check(ttrpc::ServerContext&, const grpc::CheckRequest&,
                                  grpc::HealthCheckResponse* response) {
  response->set_status(grpc::HealthCheckResponse::SERVING);
  return absl::OkStatus();
}

absl::Status HealthService::Version(ttrpc::ServerContext&, const grpc::CheckRequest&,
                                    grpc::VersionCheckResponse* response) {
  response->set_agent_version(kAgentVersion);
  response->set_grpc_version("ttrpc");
  return absl::OkStatus();
}

}  // namespace agent
}  // namespace kata
