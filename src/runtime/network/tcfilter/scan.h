// Reading a network namespace (the calling thread's) for the guest: each veth's name, MAC, MTU
// and addresses, the main table's routes through them and their permanent ARP neighbours, in
// Kata's types (src/libs/protocols/types.proto).
#ifndef KATA_SRC_RUNTIME_NETWORK_SCAN_H_
#define KATA_SRC_RUNTIME_NETWORK_SCAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/libs/protocols/types.pb.h"

namespace kata::runtime::network {

struct ScannedLink {
  int ifindex = 0;
  ::types::Interface iface;  // device = name = the veth's name; hwAddr; mtu; IPAddresses
};

struct Scan {
  std::vector<ScannedLink> veths;
  std::vector<::types::Route> routes;           // via the veths only
  std::vector<::types::ARPNeighbor> neighbors;  // permanent ones on the veths
  std::vector<std::string> skipped;             // other links (not lo), by name
};

absl::StatusOr<Scan> ScanNetns();

}  // namespace kata::runtime::network

#endif  // KATA_SRC_RUNTIME_NETWORK_SCAN_H_
