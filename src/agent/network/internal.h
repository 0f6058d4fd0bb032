// Helpers shared by interfaces.cc and routes.cc (not part of the network API).
#ifndef KATA_SRC_AGENT_NETWORK_INTERNAL_H_
#define KATA_SRC_AGENT_NETWORK_INTERNAL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/agent/network/netlink.h"
#include "src/libs/protocols/types.pb.h"

namespace kata {
namespace agent {
namespace network {
namespace internal {

// AF_INET / AF_INET6 for Kata's family; INVALID_ARGUMENT naming `field` for another value.
absl::StatusOr<int> Family(int proto_family, absl::string_view field);
::types::IPFamily ProtoFamily(int af);

// The ifindex of the link named `name`; NOT_FOUND naming `field` when none has it.
absl::StatusOr<int> IfindexOf(const Cache& links, const std::string& name, absl::string_view field);
// The name of link `ifindex` ("" when it is unknown).
std::string NameOf(const Cache& links, int ifindex);

// Every link with its addresses, in ifindex order.
absl::StatusOr<std::vector<::types::Interface>> Interfaces(const Netlink& nl);

}  // namespace internal
}  // namespace network
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_NETWORK_INTERNAL_H_
