// A pod's network as the sandbox sees it: what the VM gets (NICs: a tap fd + MAC each) and what
// the guest is told (interfaces, routes, ARP neighbours in Kata's types), behind an interface
// the sandbox uses without knowing how the host side is wired (tcfilter.h does it with taps and
// tc mirred filters, as Kata's default model).
//
//   NetworkFactory f = TcFilterNetworkFactory();           // injected by the shim
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<PodNetwork> net, f(sandbox_id, spec, config));
//   vm_config.net_devices = net->guest().devices;          // fds stay open while `net` lives
//   ... after the VM is stopped ...
//   net->Remove();
//
// Contract: a factory answers nullptr (no network: the VM gets no NIC) or a PodNetwork whose
// devices' fds stay valid until Remove; Remove undoes everything the factory did on the host
// (idempotent; the destructor calls it) and is called after the VMM has stopped.
#ifndef KATA_SRC_RUNTIME_NETWORK_NETWORK_H_
#define KATA_SRC_RUNTIME_NETWORK_NETWORK_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/oci/spec.h"
#include "src/libs/protocols/types.pb.h"
#include "src/runtime/config/config.h"
#include "src/runtime/hypervisor/hypervisor.h"

namespace kata::runtime::network {

// What the VM and the guest get from a pod network.
struct GuestNetwork {
  std::vector<hypervisor::NetDevice> devices;  // fds owned by the PodNetwork
  std::vector<::types::Interface> interfaces;  // matched by MAC in the guest
  std::vector<::types::Route> routes;
  std::vector<::types::ARPNeighbor> neighbors;
};

class PodNetwork {
 public:
  virtual ~PodNetwork() = default;
  virtual const GuestNetwork& guest() const = 0;
  // Undoes the host side (taps, qdiscs, filters); OK when done already.
  virtual absl::Status Remove() = 0;
};

// Sets up the network of sandbox `id` for its first container's `spec`; nullptr when the
// sandbox gets no network (no netns path, the host's netns, internetworking_model "none").
using NetworkFactory = std::function<absl::StatusOr<std::unique_ptr<PodNetwork>>(
    const std::string& id, const oci::Spec& spec, const config::RuntimeConfig& config)>;

// The path of the spec's network namespace (linux.namespaces, type "network", with a path);
// nullopt when it has none (a new, empty netns or the host's).
std::optional<std::string> NetnsPathOf(const oci::Spec& spec);

}  // namespace kata::runtime::network

#endif  // KATA_SRC_RUNTIME_NETWORK_NETWORK_H_
