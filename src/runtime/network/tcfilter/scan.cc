#include "src/runtime/network/tcfilter/scan.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <stdio.h>

#include <map>
#include <memory>

#include "absl/strings/str_cat.h"

namespace kata::runtime::network {
namespace {

struct SockFree {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct CacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using Cache = std::unique_ptr<nl_cache, CacheFree>;

std::string Ip(const nl_addr* a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a == nullptr) return "";
  const int f = nl_addr_get_family(a);
  if ((f != AF_INET && f != AF_INET6) || nl_addr_get_len(a) != (f == AF_INET ? 4u : 16u)) {
    return "";
  }
  return inet_ntop(f, nl_addr_get_binary_addr(a), buf, sizeof(buf)) ? buf : "";
}

std::string Mac(const nl_addr* a) {
  if (a == nullptr || nl_addr_get_len(a) != 6) return "";
  const auto* b = static_cast<const unsigned char*>(nl_addr_get_binary_addr(a));
  char buf[18];
  snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return buf;
}

::types::IPFamily Family(int af) { return af == AF_INET6 ? ::types::v6 : ::types::v4; }

template <typename T, typename F>
void ForEach(nl_cache* c, F f) {
  for (nl_object* o = nl_cache_get_first(c); o != nullptr; o = nl_cache_get_next(o)) {
    f(reinterpret_cast<T*>(o));
  }
}

absl::Status Fail(int err, absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("scan network namespace: ", what, ": ", nl_geterror(err)));
}

}  // namespace

absl::StatusOr<Scan> ScanNetns() {
  std::unique_ptr<nl_sock, SockFree> sock(nl_socket_alloc());
  if (!sock) return absl::ResourceExhaustedError("netlink: cannot allocate a socket");
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) return Fail(err, "connect");
  nl_cache *links = nullptr, *addrs = nullptr, *routes = nullptr, *neighs = nullptr;
  if (int err = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &links); err < 0) {
    return Fail(err, "links");
  }
  Cache hold_links(links);
  if (int err = rtnl_addr_alloc_cache(sock.get(), &addrs); err < 0) return Fail(err, "addresses");
  Cache hold_addrs(addrs);
  if (int err = rtnl_route_alloc_cache(sock.get(), AF_UNSPEC, 0, &routes); err < 0) {
    return Fail(err, "routes");
  }
  Cache hold_routes(routes);
  if (int err = rtnl_neigh_alloc_cache(sock.get(), &neighs); err < 0) {
    return Fail(err, "neighbours");
  }
  Cache hold_neighs(neighs);

  Scan scan;
  std::map<int, std::string> veth_names;
  ForEach<rtnl_link>(links, [&](rtnl_link* l) {
    const char* type = rtnl_link_get_type(l);
    if (rtnl_link_get_flags(l) & IFF_LOOPBACK) return;
    if (type == nullptr || std::string(type) != "veth") {
      scan.skipped.push_back(rtnl_link_get_name(l));
      return;
    }
    ScannedLink s;
    s.ifindex = rtnl_link_get_ifindex(l);
    s.iface.set_device(rtnl_link_get_name(l));
    s.iface.set_name(rtnl_link_get_name(l));
    s.iface.set_hwaddr(Mac(rtnl_link_get_addr(l)));
    s.iface.set_mtu(rtnl_link_get_mtu(l));
    s.iface.set_type("veth");
    veth_names[s.ifindex] = s.iface.name();
    scan.veths.push_back(std::move(s));
  });
  ForEach<rtnl_addr>(addrs, [&](rtnl_addr* a) {
    const int af = rtnl_addr_get_family(a);
    if (af != AF_INET && af != AF_INET6) return;
    if (af == AF_INET6 && rtnl_addr_get_scope(a) == RT_SCOPE_LINK) return;  // the guest's own
    for (ScannedLink& s : scan.veths) {
      if (s.ifindex != rtnl_addr_get_ifindex(a)) continue;
      ::types::IPAddress* ip = s.iface.add_ipaddresses();
      ip->set_family(Family(af));
      ip->set_address(Ip(rtnl_addr_get_local(a)));
      ip->set_mask(absl::StrCat(rtnl_addr_get_prefixlen(a)));
    }
  });
  ForEach<rtnl_route>(routes, [&](rtnl_route* r) {
    const int af = rtnl_route_get_family(r);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST ||
        (af != AF_INET && af != AF_INET6) || rtnl_route_get_nnexthops(r) < 1) {
      return;
    }
    rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
    auto dev = veth_names.find(rtnl_route_nh_get_ifindex(nh));
    if (dev == veth_names.end()) return;
    // IPv6 link-local routes are the guest kernel's own.
    const nl_addr* dst = rtnl_route_get_dst(r);
    if (af == AF_INET6 && Ip(dst).rfind("fe80:", 0) == 0) return;
    ::types::Route out;
    out.set_family(Family(af));
    if (dst != nullptr && nl_addr_get_prefixlen(dst) > 0) {
      out.set_dest(absl::StrCat(Ip(dst), "/", nl_addr_get_prefixlen(dst)));
    }
    out.set_gateway(Ip(rtnl_route_nh_get_gateway(nh)));
    out.set_device(dev->second);
    out.set_source(Ip(rtnl_route_get_pref_src(r)));
    out.set_scope(rtnl_route_get_scope(r));
    scan.routes.push_back(std::move(out));
  });
  ForEach<rtnl_neigh>(neighs, [&](rtnl_neigh* n) {
    auto dev = veth_names.find(rtnl_neigh_get_ifindex(n));
    if (dev == veth_names.end() || !(rtnl_neigh_get_state(n) & NUD_PERMANENT)) return;
    const std::string lladdr = Mac(rtnl_neigh_get_lladdr(n));
    if (lladdr.empty()) return;
    ::types::ARPNeighbor out;
    out.mutable_toipaddress()->set_family(Family(rtnl_neigh_get_family(n)));
    out.mutable_toipaddress()->set_address(Ip(rtnl_neigh_get_dst(n)));
    out.set_device(dev->second);
    out.set_lladdr(lladdr);
    out.set_state(NUD_PERMANENT);
    scan.neighbors.push_back(std::move(out));
  });
  return scan;
}

}  // namespace kata::runtime::network
