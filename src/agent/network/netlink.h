// A thin RAII layer over libnl-route-3 (Debian's libnl-route-3-dev) for the agent's network
// rpcs: one rtnetlink socket, caches of links/addresses/routes/neighbours, owned nl_addr
// values, parsers for the text forms Kata's protocol uses, and libnl errors as absl::Status.
//
//   KATA_ASSIGN_OR_RETURN(Netlink nl, Netlink::Open());
//   KATA_ASSIGN_OR_RETURN(Cache links, nl.Links());
//   for (nl_object* o : links) { rtnl_link* l = reinterpret_cast<rtnl_link*>(o); ... }
//
// Contract: every wrapper frees what it owns exactly once; Open fails with the errno-style
// cause; NlStatus maps NLE_EXIST -> ALREADY_EXISTS, NLE_OBJ_NOTFOUND/NLE_NODEV ->
// NOT_FOUND, NLE_INVAL/NLE_RANGE -> INVALID_ARGUMENT, NLE_PERM -> PERMISSION_DENIED, others
// INTERNAL, always prefixed with `what`. Parsers never touch the kernel.
#ifndef KATA_SRC_AGENT_NETWORK_NETLINK_H_
#define KATA_SRC_AGENT_NETWORK_NETLINK_H_

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kata {
namespace agent {
namespace network {

struct NlAddrFree {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using NlAddr = std::unique_ptr<nl_addr, NlAddrFree>;

struct NlCacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};

// A filled libnl cache; iterable as nl_object*.
class Cache {
 public:
  explicit Cache(nl_cache* c) : cache_(c) {}
  class Iterator {
   public:
    explicit Iterator(nl_object* o) : o_(o) {}
    nl_object* operator*() const { return o_; }
    Iterator& operator++() {
      o_ = nl_cache_get_next(o_);
      return *this;
    }
    bool operator!=(const Iterator& other) const { return o_ != other.o_; }

   private:
    nl_object* o_;
  };
  Iterator begin() const { return Iterator(nl_cache_get_first(cache_.get())); }
  Iterator end() const { return Iterator(nullptr); }
  nl_cache* get() const { return cache_.get(); }

 private:
  std::unique_ptr<nl_cache, NlCacheFree> cache_;
};

// Owned rtnl objects (each freed with its own _put).
template <typename T, void (*Put)(T*)>
struct RtnlFree {
  void operator()(T* t) const { Put(t); }
};
using Link = std::unique_ptr<rtnl_link, RtnlFree<rtnl_link, rtnl_link_put>>;
using Addr = std::unique_ptr<rtnl_addr, RtnlFree<rtnl_addr, rtnl_addr_put>>;
using Route = std::unique_ptr<rtnl_route, RtnlFree<rtnl_route, rtnl_route_put>>;
using Neigh = std::unique_ptr<rtnl_neigh, RtnlFree<rtnl_neigh, rtnl_neigh_put>>;

// One connected NETLINK_ROUTE socket.
class Netlink {
 public:
  static absl::StatusOr<Netlink> Open();
  nl_sock* sock() const { return sock_.get(); }

  absl::StatusOr<Cache> Links() const;
  absl::StatusOr<Cache> Addrs() const;
  absl::StatusOr<Cache> Routes() const;

 private:
  struct SockFree {
    void operator()(nl_sock* s) const { nl_socket_free(s); }
  };
  explicit Netlink(nl_sock* s) : sock_(s) {}
  std::unique_ptr<nl_sock, SockFree> sock_;
};

// A libnl error code (negative NLE_*) as a status naming `what`.
absl::Status NlStatus(int err, absl::string_view what);

// "10.0.0.2" / "fe80::1": an address with a full-length prefix; INVALID_ARGUMENT naming
// `field` otherwise. `family` (AF_INET/AF_INET6/AF_UNSPEC) must match when not AF_UNSPEC.
absl::StatusOr<NlAddr> ParseIp(absl::string_view text, int family, absl::string_view field);
// "10.0.0.0/24", "fd00::/64" (the host part may be set); "" and "default" are the default
// route of `family` (AF_INET when AF_UNSPEC).
absl::StatusOr<NlAddr> ParseCidr(absl::string_view text, int family, absl::string_view field);
// "aa:bb:cc:dd:ee:ff" (case-insensitive): a 6-byte link-layer address.
absl::StatusOr<NlAddr> ParseMac(absl::string_view text, absl::string_view field);

// An address without its prefix ("10.0.0.2"), a MAC in lower case ("aa:bb:..."), and a
// destination with its prefix ("10.0.0.0/24"; "" for a default route).
std::string IpText(const nl_addr* a);
std::string MacText(const nl_addr* a);
std::string CidrText(const nl_addr* a);

}  // namespace network
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_NETWORK_NETLINK_H_
