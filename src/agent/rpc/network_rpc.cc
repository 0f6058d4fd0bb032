// AgentService's network rpcs: the requests unpacked for network::Network (network.h).
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/agent/rpc/agent_service.h"
#include "src/libs/base/status_macros.h"

namespace kata {
namespace agent {
namespace {

absl::Status NetworkOff(bool on, const char* rpc) {
  if (on) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(rpc, ": this agent does not manage the network (manage_network is false)"));
}

}  // namespace

absl::Status AgentService::UpdateInterface(ttrpc::ServerContext&,
                                           const grpc::UpdateInterfaceRequest& request,
                                           types::Interface* response) {
  KATA_RETURN_IF_ERROR(NetworkOff(options_.manage_network, "UpdateInterface"));
  if (!request.has_interface()) {
    return absl::InvalidArgumentError("UpdateInterface: interface is missing");
  }
  KATA_ASSIGN_OR_RETURN(*response, network_.UpdateInterface(request.interface()));
  return absl::OkStatus();
}

absl::Status AgentService::UpdateRoutes(ttrpc::ServerContext&,
                                        const grpc::UpdateRoutesRequest& request,
                                        grpc::Routes* response) {
  KATA_RETURN_IF_ERROR(NetworkOff(options_.manage_network, "UpdateRoutes"));
  if (!request.has_routes()) return absl::InvalidArgumentError("UpdateRoutes: routes is missing");
  const std::vector<types::Route> want(request.routes().routes().begin(),
                                       request.routes().routes().end());
  KATA_ASSIGN_OR_RETURN(std::vector<types::Route> now, network_.UpdateRoutes(want));
  for (types::Route& r : now) *response->add_routes() = std::move(r);
  return absl::OkStatus();
}

absl::Status AgentService::ListInterfaces(ttrpc::ServerContext&, const grpc::ListInterfacesRequest&,
                                          grpc::Interfaces* response) {
  KATA_RETURN_IF_ERROR(NetworkOff(options_.manage_network, "ListInterfaces"));
  KATA_ASSIGN_OR_RETURN(std::vector<types::Interface> all, network_.ListInterfaces());
  for (types::Interface& i : all) *response->add_interfaces() = std::move(i);
  return absl::OkStatus();
}

absl::Status AgentService::ListRoutes(ttrpc::ServerContext&, const grpc::ListRoutesRequest&,
                                      grpc::Routes* response) {
  KATA_RETURN_IF_ERROR(NetworkOff(options_.manage_network, "ListRoutes"));
  KATA_ASSIGN_OR_RETURN(std::vector<types::Route> all, network_.ListRoutes());
  for (types::Route& r : all) *response->add_routes() = std::move(r);
  return absl::OkStatus();
}

absl::Status AgentService::AddARPNeighbors(ttrpc::ServerContext&,
                                           const grpc::AddARPNeighborsRequest& request,
                                           google::protobuf::Empty*) {
  KATA_RETURN_IF_ERROR(NetworkOff(options_.manage_network, "AddARPNeighbors"));
  if (!request.has_neighbors()) {
    return absl::InvalidArgumentError("AddARPNeighbors: neighbors is missing");
  }
  const std::vector<types::ARPNeighbor> want(request.neighbors().arpneighbors().begin(),
                                             request.neighbors().arpneighbors().end());
  return network_.AddArpNeighbors(want);
}

}  // namespace agent
}  // namespace kata
