// Routes and ARP neighbours: UpdateRoutes, ListRoutes, AddARPNeighbors (see network.h).
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "src/agent/network/internal.h"
#include "src/agent/network/netlink.h"
#include "src/agent/network/network.h"
#include "src/libs/base/status_macros.h"

namespace kata {
namespace agent {
namespace network {
namespace {

using internal::Family;
using internal::IfindexOf;

// A checked route request, ready to add.
struct WantedRoute {
  Route route;
  bool has_gateway;
  std::string text;  // "routes[1] (default via 10.0.0.1 dev eth0)"
};

absl::StatusOr<WantedRoute> CheckRoute(const Cache& links, const ::types::Route& r, int n) {
  const std::string field = absl::StrCat("routes[", n, "]");
  KATA_ASSIGN_OR_RETURN(int af, Family(r.family(), field + ".family"));
  KATA_ASSIGN_OR_RETURN(NlAddr dst, ParseCidr(r.dest(), af, field + ".dest"));
  WantedRoute w{Route(rtnl_route_alloc()), !r.gateway().empty(),
                absl::StrCat(field, " (", r.dest().empty() ? "default" : r.dest())};
  rtnl_route* route = w.route.get();
  rtnl_route_set_family(route, af);
  rtnl_route_set_table(route, RT_TABLE_MAIN);
  rtnl_route_set_protocol(route, RTPROT_BOOT);
  rtnl_route_set_type(route, RTN_UNICAST);
  rtnl_route_set_scope(route, r.scope());
  if (int err = rtnl_route_set_dst(route, dst.get()); err < 0)
    return NlStatus(err, field + ".dest");
  if (!r.source().empty()) {
    KATA_ASSIGN_OR_RETURN(NlAddr src, ParseIp(r.source(), af, field + ".source"));
    if (int err = rtnl_route_set_pref_src(route, src.get()); err < 0) {
      return NlStatus(err, field + ".source");
    }
  }
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (nh == nullptr) return absl::ResourceExhaustedError(field + ": out of memory");
  rtnl_route_add_nexthop(route, nh);  // owned by the route from here on
  if (w.has_gateway) {
    KATA_ASSIGN_OR_RETURN(NlAddr gw, ParseIp(r.gateway(), af, field + ".gateway"));
    rtnl_route_nh_set_gateway(nh, gw.get());
    absl::StrAppend(&w.text, " via ", r.gateway());
  }
  if (!r.device().empty()) {
    KATA_ASSIGN_OR_RETURN(int index, IfindexOf(links, r.device(), field + ".device"));
    rtnl_route_nh_set_ifindex(nh, index);
    absl::StrAppend(&w.text, " dev ", r.device());
  } else if (!w.has_gateway) {
    return absl::InvalidArgumentError(field + ".device: required for a route without gateway");
  }
  absl::StrAppend(&w.text, ")");
  return w;
}

bool IsListed(const Cache& links, rtnl_route* r, int* ifindex) {
  if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST) {
    return false;
  }
  const int af = rtnl_route_get_family(r);
  if (af != AF_INET && af != AF_INET6) return false;
  *ifindex = 0;
  if (rtnl_route_get_nnexthops(r) > 0) {
    *ifindex = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0));
  }
  return internal::NameOf(links, *ifindex) != "lo";
}

::types::Route ToProto(const Cache& links, rtnl_route* r, int ifindex) {
  ::types::Route out;
  out.set_family(internal::ProtoFamily(rtnl_route_get_family(r)));
  out.set_dest(CidrText(rtnl_route_get_dst(r)));
  if (rtnl_route_get_nnexthops(r) > 0) {
    out.set_gateway(IpText(rtnl_route_nh_get_gateway(rtnl_route_nexthop_n(r, 0))));
  }
  out.set_device(internal::NameOf(links, ifindex));
  out.set_source(IpText(rtnl_route_get_pref_src(r)));
  out.set_scope(rtnl_route_get_scope(r));
  out.set_flags(rtnl_route_get_flags(r));
  return out;
}

absl::StatusOr<std::vector<::types::Route>> RoutesOf(const Netlink& nl) {
  KATA_ASSIGN_OR_RETURN(Cache links, nl.Links());
  KATA_ASSIGN_OR_RETURN(Cache routes, nl.Routes());
  std::vector<::types::Route> out;
  for (nl_object* o : routes) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    int ifindex = 0;
    if (IsListed(links, r, &ifindex)) out.push_back(ToProto(links, r, ifindex));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<::types::Route>> Network::ListRoutes() {
  KATA_ASSIGN_OR_RETURN(Netlink nl, Netlink::Open());
  return RoutesOf(nl);
}

absl::StatusOr<std::vector<::types::Route>> Network::UpdateRoutes(
    const std::vector<::types::Route>& routes) {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(Netlink nl, Netlink::Open());
  KATA_ASSIGN_OR_RETURN(Cache links, nl.Links());
  // Every route checked first; link-scope ones (no gateway) go in before the gateways.
  std::vector<WantedRoute> wanted;
  for (size_t n = 0; n < routes.size(); ++n) {
    KATA_ASSIGN_OR_RETURN(WantedRoute w, CheckRoute(links, routes[n], static_cast<int>(n)));
    wanted.push_back(std::move(w));
  }
  std::stable_partition(wanted.begin(), wanted.end(),
                        [](const WantedRoute& w) { return !w.has_gateway; });
  KATA_ASSIGN_OR_RETURN(Cache current, nl.Routes());
  std::vector<rtnl_route*> old;  // owned by `current`
  for (nl_object* o : current) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    int ifindex = 0;
    if (IsListed(links, r, &ifindex) && rtnl_route_get_protocol(r) != RTPROT_KERNEL) {
      old.push_back(r);
    }
  }
  std::vector<rtnl_route*> removed;
  std::vector<rtnl_route*> added;
  absl::Cleanup undo = [&] {
    for (auto it = added.rbegin(); it != added.rend(); ++it) rtnl_route_delete(nl.sock(), *it, 0);
    for (rtnl_route* r : removed) rtnl_route_add(nl.sock(), r, 0);
  };
  for (rtnl_route* r : old) {
    if (int err = rtnl_route_delete(nl.sock(), r, 0); err < 0 && err != -NLE_OBJ_NOTFOUND) {
      return NlStatus(err, absl::StrCat("remove route ", CidrText(rtnl_route_get_dst(r))));
    }
    removed.push_back(r);
  }
  for (WantedRoute& w : wanted) {
    const int err = rtnl_route_add(nl.sock(), w.route.get(), 0);
    if (err == -NLE_EXIST) continue;  // already there (e.g. the kernel's subnet route)
    if (err < 0) return NlStatus(err, absl::StrCat("add ", w.text));
    added.push_back(w.route.get());
  }
  std::move(undo).Cancel();
  return RoutesOf(nl);
}

absl::Status Network::AddArpNeighbors(const std::vector<::types::ARPNeighbor>& neighbors) {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(Netlink nl, Netlink::Open());
  KATA_ASSIGN_OR_RETURN(Cache links, nl.Links());
  std::vector<Neigh> wanted;
  for (size_t n = 0; n < neighbors.size(); ++n) {
    const ::types::ARPNeighbor& a = neighbors[n];
    const std::string field = absl::StrCat("neighbors[", n, "]");
    KATA_ASSIGN_OR_RETURN(int af, Family(a.toipaddress().family(), field + ".toIPAddress.family"));
    KATA_ASSIGN_OR_RETURN(NlAddr ip,
                          ParseIp(a.toipaddress().address(), af, field + ".toIPAddress.address"));
    KATA_ASSIGN_OR_RETURN(NlAddr mac, ParseMac(a.lladdr(), field + ".lladdr"));
    KATA_ASSIGN_OR_RETURN(int index, IfindexOf(links, a.device(), field + ".device"));
    Neigh ne(rtnl_neigh_alloc());
    rtnl_neigh_set_ifindex(ne.get(), index);
    rtnl_neigh_set_family(ne.get(), af);
    if (int err = rtnl_neigh_set_dst(ne.get(), ip.get()); err < 0) return NlStatus(err, field);
    rtnl_neigh_set_lladdr(ne.get(), mac.get());
    rtnl_neigh_set_state(ne.get(), a.state() != 0 ? a.state() : NUD_PERMANENT);
    if (a.flags() != 0) rtnl_neigh_set_flags(ne.get(), a.flags());
    wanted.push_back(std::move(ne));
  }
  std::vector<rtnl_neigh*> added;
  absl::Cleanup undo = [&] {
    for (rtnl_neigh* ne : added) rtnl_neigh_delete(nl.sock(), ne, 0);
  };
  for (size_t n = 0; n < wanted.size(); ++n) {
    if (int err = rtnl_neigh_add(nl.sock(), wanted[n].get(), NLM_F_CREATE | NLM_F_REPLACE);
        err < 0) {
      return NlStatus(err,
                      absl::StrCat("add neighbors[", n, "] ", neighbors[n].toipaddress().address(),
                                   " lladdr ", neighbors[n].lladdr()));
    }
    added.push_back(wanted[n].get());
  }
  std::move(undo).Cancel();
  return absl::OkStatus();
}

}  // namespace network
}  // namespace agent
}  // namespace kata
