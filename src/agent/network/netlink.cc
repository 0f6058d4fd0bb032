#include "src/agent/network/netlink.h"

#include <arpa/inet.h>
#include <netlink/errno.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kata {
namespace agent {
namespace network {

absl::StatusOr<Netlink> Netlink::Open() {
  nl_sock* s = nl_socket_alloc();
  if (s == nullptr) return absl::ResourceExhaustedError("netlink: cannot allocate a socket");
  Netlink nl(s);
  if (int err = nl_connect(s, NETLINK_ROUTE); err < 0) {
    return NlStatus(err, "netlink: connect NETLINK_ROUTE");
  }
  return nl;
}

absl::StatusOr<Cache> Netlink::Links() const {
  nl_cache* c = nullptr;
  if (int err = rtnl_link_alloc_cache(sock(), AF_UNSPEC, &c); err < 0) {
    return NlStatus(err, "netlink: list links");
  }
  return Cache(c);
}

absl::StatusOr<Cache> Netlink::Addrs() const {
  nl_cache* c = nullptr;
  if (int err = rtnl_addr_alloc_cache(sock(), &c); err < 0) {
    return NlStatus(err, "netlink: list addresses");
  }
  return Cache(c);
}

absl::StatusOr<Cache> Netlink::Routes() const {
  nl_cache* c = nullptr;
  if (int err = rtnl_route_alloc_cache(sock(), AF_UNSPEC, 0, &c); err < 0) {
    return NlStatus(err, "netlink: list routes");
  }
  return Cache(c);
}

absl::Status NlStatus(int err, absl::string_view what) {
  const std::string msg = absl::StrCat(what, ": ", nl_geterror(err));
  switch (err < 0 ? -err : err) {
    case NLE_EXIST:
      return absl::AlreadyExistsError(msg);
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return absl::NotFoundError(msg);
    case NLE_INVAL:
    case NLE_RANGE:
    case NLE_AF_NOSUPPORT:
      return absl::InvalidArgumentError(msg);
    case NLE_PERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

namespace {

absl::Status Invalid(absl::string_view field, absl::string_view text, absl::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": \"", absl::CHexEscape(text), "\" is not ", want));
}

// inet_pton of `text` into `buf` for AF_INET or AF_INET6 (tried in that order when `family`
// is AF_UNSPEC); the family found, or 0.
int Pton(const std::string& text, int family, unsigned char* buf) {
  for (int f : {AF_INET, AF_INET6}) {
    if (family != AF_UNSPEC && family != f) continue;
    if (inet_pton(f, text.c_str(), buf) == 1) return f;
  }
  return 0;
}

NlAddr Build(int family, const void* buf, int prefix) {
  const size_t len = family == AF_INET ? 4 : 16;
  NlAddr a(nl_addr_build(family, buf, len));
  if (a) nl_addr_set_prefixlen(a.get(), prefix);
  return a;
}

}  // namespace

absl::StatusOr<NlAddr> ParseIp(absl::string_view text, int family, absl::string_view field) {
  unsigned char buf[16] = {};
  const int f = Pton(std::string(text), family, buf);
  if (f == 0) {
    return Invalid(field, text,
                   family == AF_INET    ? "an IPv4 address"
                   : family == AF_INET6 ? "an IPv6 address"
                                        : "an IP address");
  }
  NlAddr a = Build(f, buf, f == AF_INET ? 32 : 128);
  if (!a) return absl::ResourceExhaustedError(absl::StrCat(field, ": out of memory"));
  return a;
}

absl::StatusOr<NlAddr> ParseCidr(absl::string_view text, int family, absl::string_view field) {
  unsigned char buf[16] = {};
  if (text.empty() || text == "default") {
    const int f = family == AF_INET6 ? AF_INET6 : AF_INET;
    return Build(f, buf, 0);
  }
  std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  const int f = Pton(parts.first, family, buf);
  const int max = f == AF_INET ? 32 : 128;
  int prefix = 0;
  if (f == 0 || parts.second.empty() || !absl::SimpleAtoi(parts.second, &prefix) || prefix < 0 ||
      prefix > max) {
    return Invalid(field, text, "a CIDR (address/prefix)");
  }
  return Build(f, buf, prefix);
}

absl::StatusOr<NlAddr> ParseMac(absl::string_view text, absl::string_view field) {
  std::vector<std::string> bytes = absl::StrSplit(text, ':');
  unsigned char mac[6];
  if (bytes.size() != 6) return Invalid(field, text, "a MAC address (aa:bb:cc:dd:ee:ff)");
  for (size_t i = 0; i < 6; ++i) {
    int v = 0;
    if (bytes[i].size() != 2 || !absl::ascii_isxdigit(bytes[i][0]) ||
        !absl::ascii_isxdigit(bytes[i][1]) || !absl::SimpleHexAtoi(bytes[i], &v)) {
      return Invalid(field, text, "a MAC address (aa:bb:cc:dd:ee:ff)");
    }
    mac[i] = static_cast<unsigned char>(v);
  }
  NlAddr a(nl_addr_build(AF_LLC, mac, sizeof(mac)));
  if (!a) return absl::ResourceExhaustedError(absl::StrCat(field, ": out of memory"));
  return a;
}

std::string IpText(const nl_addr* a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a == nullptr) return "";
  const int f = nl_addr_get_family(a);
  if ((f != AF_INET && f != AF_INET6) || nl_addr_get_len(a) != (f == AF_INET ? 4u : 16u)) {
    return "";
  }
  if (inet_ntop(f, nl_addr_get_binary_addr(a), buf, sizeof(buf)) == nullptr) return "";
  return buf;
}

std::string MacText(const nl_addr* a) {
  if (a == nullptr || nl_addr_get_len(a) == 0) return "";
  const auto* b = static_cast<const unsigned char*>(nl_addr_get_binary_addr(a));
  std::string out;
  for (unsigned i = 0; i < nl_addr_get_len(a); ++i) {
    char hex[4];
    snprintf(hex, sizeof(hex), "%02x", b[i]);
    absl::StrAppend(&out, i ? ":" : "", hex);
  }
  return out;
}

std::string CidrText(const nl_addr* a) {
  if (a == nullptr || nl_addr_get_prefixlen(a) == 0) return "";
  std::string ip = IpText(a);
  if (ip.empty()) return "";
  return absl::StrCat(ip, "/", nl_addr_get_prefixlen(a));
}

}  // namespace network
}  // namespace agent
}  // namespace kata
