// The host side of one NIC in Kata's tcfilter model, inside the pod's network namespace: a tap
// device, and tc ingress qdiscs with u32 match-all filters whose mirred action redirects every
// frame veth -> tap and tap -> veth. Each call works in the calling thread's network namespace
// (netns.h's InNetns runs it in the pod's).
//
//   KATA_ASSIGN_OR_RETURN(UniqueFd tap, CreateTap("tap0_kata", 1500));
//   KATA_RETURN_IF_ERROR(Mirror(veth_index, TapIndex(...)));
//   ...
//   RemoveIngress(veth_index); RemoveIngress(tap_index);   // filters go with their qdisc
//
// Contract: CreateTap answers the open /dev/net/tun fd of a new, up tap with `mtu` (IFF_TAP,
// IFF_NO_PI, IFF_VNET_HDR; not persistent: it vanishes when the last fd closes) or an error
// naming it; Mirror is all or nothing (its qdiscs are removed again on failure);
// RemoveIngress is OK when there is no ingress qdisc or no such link.
#ifndef KATA_SRC_RUNTIME_NETWORK_WIRING_H_
#define KATA_SRC_RUNTIME_NETWORK_WIRING_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/base/unique_fd.h"

namespace kata::runtime::network {

absl::StatusOr<UniqueFd> CreateTap(const std::string& name, uint32_t mtu);
// The ifindex of link `name` in this namespace.
absl::StatusOr<int> IfindexOf(const std::string& name);
// Ingress qdiscs on both links and a redirect filter each way.
absl::Status Mirror(int veth_index, int tap_index);
absl::Status RemoveIngress(int ifindex);
// An open /dev/vhost-net that answers VHOST_GET_FEATURES, or an error saying why not.
absl::StatusOr<UniqueFd> ProbeVhostNet();

}  // namespace kata::runtime::network

#endif  // KATA_SRC_RUNTIME_NETWORK_WIRING_H_
