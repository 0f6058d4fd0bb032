// Links and addresses: the loopback, UpdateInterface, ListInterfaces (see network.h).
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/agent/network/internal.h"
#include "src/agent/network/netlink.h"
#include "src/agent/network/network.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace network {
namespace internal {

absl::StatusOr<int> Family(int proto_family, absl::string_view field) {
  if (proto_family == ::types::v4) return AF_INET;
  if (proto_family == ::types::v6) return AF_INET6;
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": family ", proto_family, " is neither v4 (0) nor v6 (1)"));
}

::types::IPFamily ProtoFamily(int af) { return af == AF_INET6 ? ::types::v6 : ::types::v4; }

absl::StatusOr<int> IfindexOf(const Cache& links, const std::string& name,
                              absl::string_view field) {
  const int index = rtnl_link_name2i(links.get(), name.c_str());
  if (name.empty() || index <= 0) {
    return absl::NotFoundError(absl::StrCat(field, " \"", name, "\": no such link"));
  }
  return index;
}

std::string NameOf(const Cache& links, int ifindex) {
  char buf[IFNAMSIZ + 1] = {};
  if (rtnl_link_i2name(links.get(), ifindex, buf, sizeof(buf)) == nullptr) return "";
  return buf;
}

absl::StatusOr<std::vector<::types::Interface>> Interfaces(const Netlink& nl) {
  KATA_ASSIGN_OR_RETURN(Cache links, nl.Links());
  KATA_ASSIGN_OR_RETURN(Cache addrs, nl.Addrs());
  std::vector<std::pair<int, ::types::Interface>> out;
  for (nl_object* o : links) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    ::types::Interface i;
    const int index = rtnl_link_get_ifindex(l);
    i.set_device(rtnl_link_get_name(l));
    i.set_name(rtnl_link_get_name(l));
    i.set_mtu(rtnl_link_get_mtu(l));
    i.set_hwaddr(MacText(rtnl_link_get_addr(l)));
    const char* type = rtnl_link_get_type(l);
    i.set_type(type != nullptr ? type : "");
    i.set_raw_flags(rtnl_link_get_flags(l));
    for (nl_object* ao : addrs) {
      auto* a = reinterpret_cast<rtnl_addr*>(ao);
      if (rtnl_addr_get_ifindex(a) != index) continue;
      const int af = rtnl_addr_get_family(a);
      if (af != AF_INET && af != AF_INET6) continue;
      ::types::IPAddress* ip = i.add_ipaddresses();
      ip->set_family(ProtoFamily(af));
      ip->set_address(IpText(rtnl_addr_get_local(a)));
      ip->set_mask(absl::StrCat(rtnl_addr_get_prefixlen(a)));
    }
    out.emplace_back(index, std::move(i));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<::types::Interface> result;
  for (auto& [index, i] : out) result.push_back(std::move(i));
  return result;
}

}  // namespace internal

namespace {

// A requested address, checked.
struct WantedAddr {
  NlAddr local;
  int prefix;
};

absl::StatusOr<std::vector<WantedAddr>> CheckAddresses(const ::types::Interface& iface) {
  std::vector<WantedAddr> out;
  for (int n = 0; n < iface.ipaddresses_size(); ++n) {
    const ::types::IPAddress& ip = iface.ipaddresses(n);
    const std::string field = absl::StrCat("interface.IPAddresses[", n, "]");
    KATA_ASSIGN_OR_RETURN(int af, internal::Family(ip.family(), field + ".family"));
    KATA_ASSIGN_OR_RETURN(NlAddr local, ParseIp(ip.address(), af, field + ".address"));
    int prefix = -1;
    const int max = af == AF_INET ? 32 : 128;
    if (!absl::SimpleAtoi(ip.mask(), &prefix) || prefix < 0 || prefix > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".mask: \"", ip.mask(), "\" is not a prefix length 0..", max));
    }
    nl_addr_set_prefixlen(local.get(), prefix);
    out.push_back({std::move(local), prefix});
  }
  return out;
}

// The link whose MAC is `mac` (owned by `links`), or NOT_FOUND.
absl::StatusOr<rtnl_link*> LinkByMac(const Cache& links, const nl_addr* mac,
                                     const std::string& text) {
  for (nl_object* o : links) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    const nl_addr* a = rtnl_link_get_addr(l);
    if (a != nullptr && nl_addr_get_len(a) == nl_addr_get_len(mac) && nl_addr_cmp(a, mac) == 0) {
      return l;
    }
  }
  return absl::NotFoundError(absl::StrCat("interface.hwAddr ", text, ": no link has this MAC"));
}

// The link's addresses that UpdateInterface replaces (all but IPv6 link-local), as clones.
absl::StatusOr<std::vector<Addr>> ReplaceableAddrs(const Netlink& nl, int ifindex) {
  KATA_ASSIGN_OR_RETURN(Cache addrs, nl.Addrs());
  std::vector<Addr> out;
  for (nl_object* o : addrs) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != ifindex) continue;
    const int af = rtnl_addr_get_family(a);
    if (af != AF_INET && af != AF_INET6) continue;
    if (af == AF_INET6 && rtnl_addr_get_scope(a) == RT_SCOPE_LINK) continue;
    out.emplace_back(reinterpret_cast<rtnl_addr*>(nl_object_clone(o)));
  }
  return out;
}

Addr NewAddr(int ifindex, const WantedAddr& w) {
  Addr a(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(a.get(), ifindex);
  rtnl_addr_set_local(a.get(), w.local.get());
  rtnl_addr_set_prefixlen(a.get(), w.prefix);
  if (nl_addr_get_family(w.local.get()) == AF_INET6) rtnl_addr_set_flags(a.get(), IFA_F_NODAD);
  return a;
}

// Applies name/mtu/up to link `ifindex` (looked up again: a rename changes the cache).
absl::Status ChangeLink(const Netlink& nl, int ifindex, const std::string& name, uint32_t mtu,
                        bool up) {
  rtnl_link* orig = nullptr;
  if (int err = rtnl_link_get_kernel(nl.sock(), ifindex, nullptr, &orig); err < 0) {
    return NlStatus(err, absl::StrCat("link ", ifindex));
  }
  Link hold(orig);
  Link change(rtnl_link_alloc());
  if (!name.empty() && name != rtnl_link_get_name(orig))
    rtnl_link_set_name(change.get(), name.c_str());
  if (mtu > 0) rtnl_link_set_mtu(change.get(), mtu);
  if (up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  if (int err = rtnl_link_change(nl.sock(), orig, change.get(), 0); err < 0) {
    return NlStatus(err, absl::StrCat("link ", rtnl_link_get_name(orig), ": set name \"", name,
                                      "\" mtu ", mtu, up ? " up" : " down"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Network::BringUpLoopback() {
  // Two ioctls on a datagram socket: this runs on every agent start, where a netlink session
  // and a dump of the links (libnl, with its one-time set-up) took ~25 ms of a TCG boot.
  absl::MutexLock l(&mu_);
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return ErrnoStatus(errno, "loopback: socket");
  struct ifreq req = {};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s.get(), SIOCGIFFLAGS, &req) != 0) return ErrnoStatus(errno, "loopback lo: get flags");
  if ((req.ifr_flags & IFF_UP) != 0) return absl::OkStatus();
  req.ifr_flags |= IFF_UP;
  if (ioctl(s.get(), SIOCSIFFLAGS, &req) != 0) return ErrnoStatus(errno, "loopback lo: set up");
  return absl::OkStatus();
}

absl::StatusOr<::types::Interface> Network::UpdateInterface(const ::types::Interface& iface) {
  KATA_ASSIGN_OR_RETURN(NlAddr mac, ParseMac(iface.hwaddr(), "interface.hwAddr"));
  if (iface.name().size() >= IFNAMSIZ || iface.name().find_first_of("/ :") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("interface.name \"", iface.name(), "\" is not a valid link name"));
  }
  KATA_ASSIGN_OR_RETURN(std::vector<WantedAddr> wanted, CheckAddresses(iface));
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(Netlink nl, Netlink::Open());
  KATA_ASSIGN_OR_RETURN(Cache links, nl.Links());
  KATA_ASSIGN_OR_RETURN(rtnl_link * link, LinkByMac(links, mac.get(), iface.hwaddr()));
  const int index = rtnl_link_get_ifindex(link);
  const std::string old_name = rtnl_link_get_name(link);
  const uint32_t old_mtu = rtnl_link_get_mtu(link);
  const bool was_up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  if (!iface.name().empty() && iface.name() != old_name &&
      rtnl_link_name2i(links.get(), iface.name().c_str()) > 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("interface.name \"", iface.name(), "\": another link has this name"));
  }
  KATA_ASSIGN_OR_RETURN(std::vector<Addr> old_addrs, ReplaceableAddrs(nl, index));

  // From here on the link changes; every step is undone on failure.
  std::vector<Addr> added;
  bool removed_old = false;
  absl::Cleanup undo = [&] {
    for (Addr& a : added) rtnl_addr_delete(nl.sock(), a.get(), 0);
    if (removed_old) {
      for (Addr& a : old_addrs) rtnl_addr_add(nl.sock(), a.get(), 0);
    }
    ChangeLink(nl, index, old_name, old_mtu, was_up).IgnoreError();
  };
  KATA_RETURN_IF_ERROR(ChangeLink(nl, index, "", 0, /*up=*/false));
  KATA_RETURN_IF_ERROR(ChangeLink(nl, index, iface.name(), static_cast<uint32_t>(iface.mtu()),
                                  /*up=*/false));
  removed_old = true;
  for (Addr& a : old_addrs) {
    if (int err = rtnl_addr_delete(nl.sock(), a.get(), 0); err < 0 && err != -NLE_NOADDR) {
      return NlStatus(err, absl::StrCat("link ", old_name, ": remove address ",
                                        CidrText(rtnl_addr_get_local(a.get()))));
    }
  }
  for (const WantedAddr& w : wanted) {
    Addr a = NewAddr(index, w);
    if (int err = rtnl_addr_add(nl.sock(), a.get(), 0); err < 0) {
      return NlStatus(err,
                      absl::StrCat("link ", old_name, ": add address ", CidrText(w.local.get())));
    }
    added.push_back(std::move(a));
  }
  KATA_RETURN_IF_ERROR(ChangeLink(nl, index, "", 0, /*up=*/true));
  std::move(undo).Cancel();
  KATA_ASSIGN_OR_RETURN(std::vector<::types::Interface> all, internal::Interfaces(nl));
  const std::string want_mac = MacText(mac.get());
  for (::types::Interface& i : all) {
    if (i.hwaddr() == want_mac) return i;
  }
  return absl::InternalError(absl::StrCat("interface ", want_mac, " vanished after its update"));
}

absl::StatusOr<std::vector<::types::Interface>> Network::ListInterfaces() {
  KATA_ASSIGN_OR_RETURN(Netlink nl, Netlink::Open());
  return internal::Interfaces(nl);
}

}  // namespace network
}  // namespace agent
}  // namespace kata
