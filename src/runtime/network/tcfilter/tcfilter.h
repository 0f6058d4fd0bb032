// Kata's default pod network model, "tcfilter": in the pod's network namespace (the spec's
// linux.namespaces network path), each veth gets a tap ("tap<N>_kata") wired to it both ways by
// tc ingress qdiscs with u32 match-all mirred-redirect filters (wiring.h); the VM gets a
// virtio-net NIC on the tap's fd with the veth's MAC, and the guest is told the veth's
// addresses, routes and permanent ARP neighbours, which the agent applies there.
//
//   NetworkFactory f = TcFilterNetworkFactory();   // the shim injects it into the sandbox
//
// Contract (network.h's, plus): no netns path, the shim's own (host) netns or
// internetworking_model "none": nullptr, said in the log; "macvtap" (or anything else):
// INVALID_ARGUMENT naming the key; disable_new_netns is honoured by treating the sandbox as
// network-less. Links other than veths (and lo) are skipped, said in the log. vhost-net is
// used where /dev/vhost-net answers (ProbeVhostNet). A failure midway undoes what was done
// (qdiscs removed, taps closed). Remove runs in the namespace held open since setup, so it
// works even after the namespace's bind mount is gone; links already gone are not an error.
#ifndef KATA_SRC_RUNTIME_NETWORK_TCFILTER_H_
#define KATA_SRC_RUNTIME_NETWORK_TCFILTER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/runtime/network/network.h"

namespace kata::runtime::network {

// Where the factory's decisions go ("sandbox <id>: no network: ..."); empty: nowhere.
using NetworkLog = std::function<void(absl::string_view line)>;

NetworkFactory TcFilterNetworkFactory(NetworkLog log = {});

// The tcfilter wiring of the namespace at `netns_path` (the factory's work once it decided
// there is a network to wire).
absl::StatusOr<std::unique_ptr<PodNetwork>> SetUpTcFilter(const std::string& netns_path,
                                                          const NetworkLog& log);

}  // namespace kata::runtime::network

#endif  // KATA_SRC_RUNTIME_NETWORK_TCFILTER_H_
