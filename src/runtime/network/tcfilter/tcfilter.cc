#include "src/runtime/network/tcfilter/tcfilter.h"

#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/runtime/network/netns.h"
#include "src/runtime/network/tcfilter/scan.h"
#include "src/runtime/network/tcfilter/wiring.h"

namespace kata::runtime::network {
namespace {

// One veth wired to its tap.
struct Endpoint {
  int veth_index = 0;
  int tap_index = 0;
  UniqueFd tap;
  UniqueFd vhost;
  bool wired = false;  // its qdiscs are ours to remove
};

class TcFilterNetwork final : public PodNetwork {
 public:
  TcFilterNetwork(UniqueFd ns, std::string path) : ns_(std::move(ns)), path_(std::move(path)) {}
  ~TcFilterNetwork() override { Remove().IgnoreError(); }

  const GuestNetwork& guest() const override { return guest_; }

  absl::Status Remove() override {
    if (!ns_.valid()) return absl::OkStatus();
    absl::Status s = InNetns(ns_.get(), [this] {
      absl::Status first;
      for (Endpoint& e : endpoints_) {
        if (!e.wired) continue;
        for (int i : {e.veth_index, e.tap_index}) {
          absl::Status r = RemoveIngress(i);
          if (first.ok() && !r.ok()) first = r;
        }
      }
      return first;
    });
    endpoints_.clear();  // closes the taps: each vanishes once the VMM's copy is closed too
    guest_.devices.clear();
    ns_.reset();
    return AnnotateStatus(s, absl::StrCat("network namespace ", path_, ": remove"));
  }

  // In the namespace: scan, then a tap + filters per veth (undone by Remove on failure).
  absl::Status Wire(const NetworkLog& log) {
    KATA_ASSIGN_OR_RETURN(Scan scan, ScanNetns());
    if (!scan.skipped.empty() && log) {
      log(absl::StrCat("network namespace ", path_,
                       ": links not wired (not veths): ", absl::StrJoin(scan.skipped, ", ")));
    }
    absl::StatusOr<UniqueFd> vhost_probe = ProbeVhostNet();
    if (!vhost_probe.ok() && log) {
      log(absl::StrCat("no vhost-net (", vhost_probe.status().message(), "): QEMU's virtio-net"));
    }
    for (size_t i = 0; i < scan.veths.size(); ++i) {
      const ScannedLink& v = scan.veths[i];
      Endpoint e;
      e.veth_index = v.ifindex;
      const std::string tap = absl::StrCat("tap", i, "_kata");
      KATA_ASSIGN_OR_RETURN(e.tap, CreateTap(tap, static_cast<uint32_t>(v.iface.mtu())));
      KATA_ASSIGN_OR_RETURN(e.tap_index, IfindexOf(tap));
      if (i == 0 && vhost_probe.ok()) {
        e.vhost = std::move(*vhost_probe);
      } else if (vhost_probe.ok()) {
        absl::StatusOr<UniqueFd> more = ProbeVhostNet();
        if (more.ok()) e.vhost = std::move(*more);
      }
      endpoints_.push_back(std::move(e));
      KATA_RETURN_IF_ERROR(Mirror(v.ifindex, endpoints_.back().tap_index));
      endpoints_.back().wired = true;
      guest_.devices.push_back({.tap_fd = endpoints_.back().tap.get(),
                                .vhost_fd = endpoints_.back().vhost.get(),
                                .mac = v.iface.hwaddr()});
      guest_.interfaces.push_back(v.iface);
      if (log) {
        log(absl::StrCat("network namespace ", path_, ": ", v.iface.name(), " (", v.iface.hwaddr(),
                         ", mtu ", v.iface.mtu(), ") <-> ", tap, " by tc mirred"));
      }
    }
    guest_.routes = std::move(scan.routes);
    guest_.neighbors = std::move(scan.neighbors);
    return absl::OkStatus();
  }

  int ns_fd() const { return ns_.get(); }

 private:
  UniqueFd ns_;
  const std::string path_;
  std::vector<Endpoint> endpoints_;
  GuestNetwork guest_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PodNetwork>> SetUpTcFilter(const std::string& netns_path,
                                                          const NetworkLog& log) {
  KATA_ASSIGN_OR_RETURN(UniqueFd ns, OpenNetns(netns_path));
  auto net = std::make_unique<TcFilterNetwork>(std::move(ns), netns_path);
  absl::Status wired = InNetns(net->ns_fd(), [&] { return net->Wire(log); });
  if (!wired.ok()) {
    net->Remove().IgnoreError();
    return AnnotateStatus(wired, absl::StrCat("network namespace ", netns_path));
  }
  return std::unique_ptr<PodNetwork>(std::move(net));
}

NetworkFactory TcFilterNetworkFactory(NetworkLog log) {
  return [log](const std::string& id, const oci::Spec& spec,
               const config::RuntimeConfig& config) -> absl::StatusOr<std::unique_ptr<PodNetwork>> {
    auto none = [&](absl::string_view why) {
      if (log) log(absl::StrCat("sandbox ", id, ": no network device: ", why));
      return std::unique_ptr<PodNetwork>();
    };
    const std::string& model = config.runtime.internetworking_model;
    if (model == "none") return none("internetworking_model is \"none\"");
    if (model != "tcfilter") {
      return absl::InvalidArgumentError(
          absl::StrCat("sandbox ", id, ": runtime.internetworking_model \"", model,
                       "\" is not supported (only \"tcfilter\" and \"none\")"));
    }
    if (config.runtime.disable_new_netns) return none("disable_new_netns is set");
    std::optional<std::string> path = NetnsPathOf(spec);
    if (!path.has_value()) return none("the spec names no network namespace path");
    KATA_ASSIGN_OR_RETURN(UniqueFd ns, OpenNetns(*path));
    KATA_ASSIGN_OR_RETURN(bool own, IsOwnNetns(ns.get()));
    if (own) return none(absl::StrCat(*path, " is the host's network namespace"));
    return SetUpTcFilter(*path, log);
  };
}

}  // namespace kata::runtime::network
