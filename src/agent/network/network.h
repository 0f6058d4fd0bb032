// The guest's network as Kata's agent manages it, over rtnetlink (libnl-route-3, netlink.h):
// the loopback brought up, interfaces configured by MAC, routes replaced, ARP neighbours added,
// and the current state listed in Kata's types (src/libs/protocols/types.proto).
//
//   Network net;
//   net.BringUpLoopback();                                        // at agent start
//   KATA_ASSIGN_OR_RETURN(types::Interface now, net.UpdateInterface(request.interface()));
//
// Promises (each call works in the network namespace of the calling process):
// - UpdateInterface: finds the link whose MAC is hwAddr (NOT_FOUND "interface.hwAddr ..."),
//   brings it down, renames it to `name` (when set and different), sets `mtu` (when > 0),
//   replaces its IPv4/IPv6 addresses (global scope; link-local fe80:: ones are the kernel's
//   and kept) by IPAddresses (address + prefix length in `mask`), brings it up, and answers
//   the interface as listed afterwards.
// - UpdateRoutes: replaces every route of the main table that is not the kernel's own (proto
//   kernel) and not on lo by the given ones (device by name; dest CIDR, "" = default; gateway;
//   source; scope), link-scope routes first so gateways are reachable; answers ListRoutes.
// - AddARPNeighbors: adds (or replaces) each neighbour: device by name, IP, lladdr, state
//   (0 = NUD_PERMANENT), flags.
// - ListInterfaces: every link (lo too) with name, hwAddr, mtu, type, raw_flags, addresses.
// - ListRoutes: the main table's routes except those on lo, with dest ("" for default),
//   gateway, device, source, scope, family.
// - Bad input (an unknown MAC or device name: NOT_FOUND; an invalid CIDR, address, prefix, MAC,
//   family mismatch, empty request: INVALID_ARGUMENT) is found before anything is changed,
//   and the message names the field ("routes[1].gateway"). A kernel refusal midway undoes what
//   the call already changed (best effort) and is returned with the object named.
// Thread-safe: updates are serialized.
#ifndef KATA_SRC_AGENT_NETWORK_NETWORK_H_
#define KATA_SRC_AGENT_NETWORK_NETWORK_H_

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/libs/protocols/types.pb.h"

namespace kata {
namespace agent {
namespace network {

class Network {
 public:
  absl::Status BringUpLoopback();
  absl::StatusOr<::types::Interface> UpdateInterface(const ::types::Interface& iface);
  absl::StatusOr<std::vector<::types::Route>> UpdateRoutes(
      const std::vector<::types::Route>& routes);
  absl::Status AddArpNeighbors(const std::vector<::types::ARPNeighbor>& neighbors);
  absl::StatusOr<std::vector<::types::Interface>> ListInterfaces();
  absl::StatusOr<std::vector<::types::Route>> ListRoutes();

 private:
  absl::Mutex mu_;  // serializes the updates
};

}  // namespace network
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_NETWORK_NETWORK_H_
