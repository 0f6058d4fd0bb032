#include "src/runtime/network/tcfilter/wiring.h"

#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/ioctl.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/action.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>
#include <string.h>
#include <sys/ioctl.h>

#include <memory>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/status_util.h"

namespace kata::runtime::network {
namespace {

// <linux/vhost.h>'s VHOST_GET_FEATURES (that header does not compile as C++).
constexpr unsigned long kVhostGetFeatures = _IOR(0xAF, 0x00, uint64_t);

struct SockFree {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using Sock = std::unique_ptr<nl_sock, SockFree>;

absl::Status NlError(int err, const std::string& what) {
  const std::string msg = absl::StrCat(what, ": ", nl_geterror(err));
  switch (err < 0 ? -err : err) {
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return absl::NotFoundError(msg);
    case NLE_EXIST:
      return absl::AlreadyExistsError(msg);
    case NLE_PERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::StatusOr<Sock> Connect() {
  Sock s(nl_socket_alloc());
  if (!s) return absl::ResourceExhaustedError("netlink: cannot allocate a socket");
  if (int err = nl_connect(s.get(), NETLINK_ROUTE); err < 0) {
    return NlError(err, "netlink: connect");
  }
  return s;
}

absl::Status AddIngress(nl_sock* s, int ifindex) {
  rtnl_qdisc* q = rtnl_qdisc_alloc();
  absl::Cleanup put = [q] { rtnl_qdisc_put(q); };
  rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
  rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(0xffff, 0));
  if (int err = rtnl_tc_set_kind(TC_CAST(q), "ingress"); err < 0) {
    return NlError(err, "tc: ingress qdisc kind");
  }
  if (int err = rtnl_qdisc_add(s, q, NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return NlError(err, absl::StrCat("tc: add ingress qdisc on link ", ifindex));
  }
  return absl::OkStatus();
}

// u32 match-all on `from`'s ingress, mirred egress redirect to `to`.
absl::Status AddRedirect(nl_sock* s, int from, int to) {
  rtnl_cls* c = rtnl_cls_alloc();
  absl::Cleanup put_cls = [c] { rtnl_cls_put(c); };
  rtnl_tc_set_ifindex(TC_CAST(c), from);
  rtnl_tc_set_parent(TC_CAST(c), TC_HANDLE(0xffff, 0));
  if (int err = rtnl_tc_set_kind(TC_CAST(c), "u32"); err < 0) return NlError(err, "tc: u32 kind");
  rtnl_cls_set_protocol(c, ETH_P_ALL);
  rtnl_cls_set_prio(c, 1);
  rtnl_act* act = rtnl_act_alloc();
  absl::Cleanup put_act = [act] { rtnl_act_put(act); };
  if (int err = rtnl_tc_set_kind(TC_CAST(act), "mirred"); err < 0) {
    return NlError(err, "tc: mirred kind");
  }
  rtnl_mirred_set_action(act, TCA_EGRESS_REDIR);
  rtnl_mirred_set_policy(act, TC_ACT_STOLEN);
  rtnl_mirred_set_ifindex(act, to);
  int err = rtnl_u32_add_key_uint32(c, 0, 0, 0, 0);  // every frame
  if (err == 0) err = rtnl_u32_set_cls_terminal(c);
  if (err == 0) err = rtnl_u32_add_action(c, act);
  if (err == 0) err = rtnl_cls_add(s, c, NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return NlError(err, absl::StrCat("tc: redirect link ", from, " -> ", to));
  return absl::OkStatus();
}

absl::Status SetUp(nl_sock* s, int ifindex, uint32_t mtu) {
  rtnl_link* orig = nullptr;
  if (int err = rtnl_link_get_kernel(s, ifindex, nullptr, &orig); err < 0) {
    return NlError(err, absl::StrCat("link ", ifindex));
  }
  absl::Cleanup put_orig = [orig] { rtnl_link_put(orig); };
  rtnl_link* change = rtnl_link_alloc();
  absl::Cleanup put_change = [change] { rtnl_link_put(change); };
  if (mtu > 0) rtnl_link_set_mtu(change, mtu);
  rtnl_link_set_flags(change, IFF_UP);
  if (int err = rtnl_link_change(s, orig, change, 0); err < 0) {
    return NlError(err, absl::StrCat("link ", rtnl_link_get_name(orig), ": mtu ", mtu, " up"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> IfindexOf(const std::string& name) {
  const unsigned index = if_nametoindex(name.c_str());
  if (index == 0) return ErrnoStatus(errno, absl::StrCat("link ", name));
  return static_cast<int>(index);
}

absl::StatusOr<UniqueFd> CreateTap(const std::string& name, uint32_t mtu) {
  UniqueFd fd(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "tap " + name + ": open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  if (name.size() >= IFNAMSIZ) return absl::InvalidArgumentError("tap name too long: " + name);
  memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd.get(), TUNSETIFF, &ifr) != 0)
    return ErrnoStatus(errno, "tap " + name + ": TUNSETIFF");
  absl::StatusOr<Sock> s = Connect();
  if (!s.ok()) return s.status();
  absl::StatusOr<int> index = IfindexOf(name);
  if (!index.ok()) return index.status();
  if (absl::Status up = SetUp(s->get(), *index, mtu); !up.ok()) return up;
  return fd;
}

absl::Status Mirror(int veth_index, int tap_index) {
  absl::StatusOr<Sock> s = Connect();
  if (!s.ok()) return s.status();
  std::vector<int> added;  // only the qdiscs this call made are removed on failure
  bool ok = false;
  absl::Cleanup undo = [&] {
    if (ok) return;
    for (int i : added) RemoveIngress(i).IgnoreError();
  };
  for (int i : {veth_index, tap_index}) {
    if (absl::Status st = AddIngress(s->get(), i); !st.ok()) return st;
    added.push_back(i);
  }
  if (absl::Status st = AddRedirect(s->get(), veth_index, tap_index); !st.ok()) return st;
  if (absl::Status st = AddRedirect(s->get(), tap_index, veth_index); !st.ok()) return st;
  ok = true;
  return absl::OkStatus();
}

absl::Status RemoveIngress(int ifindex) {
  absl::StatusOr<Sock> s = Connect();
  if (!s.ok()) return s.status();
  rtnl_qdisc* q = rtnl_qdisc_alloc();
  absl::Cleanup put = [q] { rtnl_qdisc_put(q); };
  rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
  rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(0xffff, 0));
  rtnl_tc_set_kind(TC_CAST(q), "ingress");
  const int err = rtnl_qdisc_delete(s->get(), q);
  if (err < 0 && err != -NLE_OBJ_NOTFOUND && err != -NLE_NODEV && err != -NLE_INVAL) {
    return NlError(err, absl::StrCat("tc: remove ingress qdisc of link ", ifindex));
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> ProbeVhostNet() {
  UniqueFd fd(open("/dev/vhost-net", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open /dev/vhost-net");
  uint64_t features = 0;
  if (ioctl(fd.get(), kVhostGetFeatures, &features) != 0) {
    return ErrnoStatus(errno, "/dev/vhost-net: VHOST_GET_FEATURES");
  }
  return fd;
}

}  // namespace kata::runtime::network
