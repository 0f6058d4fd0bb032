// The tcfilter wiring without a VM, as root, in namespaces this test makes: a veth pair between
// a "pod" netns (eth0, 10.77.0.2/24, a default route) and a "peer" netns (10.77.0.1/24).
// SetUpTcFilter creates tap0_kata in the pod netns and mirrors eth0 <-> tap; the test then plays
// the guest on the tap fd (answers ARP and ICMP echo for 10.77.0.2 with eth0's MAC), so a ping
// from the peer netns only succeeds if frames cross veth -> tap and tap -> veth. Removal leaves
// no tap and no qdisc; a failure midway leaves nothing either.
#include "src/runtime/network/tcfilter/tcfilter.h"

#include <arpa/inet.h>
#include <net/ethernet.h>
#include <netinet/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/runtime/network/network.h"

namespace kata::runtime::network {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPodMac[] = "02:00:00:00:77:02";
constexpr size_t kVnetHdr = 10;  // struct virtio_net_hdr (IFF_VNET_HDR's default size)

// sh -c `cmd`: stdout+stderr, and the exit status in *rc.
std::string Sh(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  if (rc != nullptr) {
    *rc = status;
  } else {
    EXPECT_EQ(status, 0) << cmd << ": " << out;
  }
  return out;
}

uint16_t Checksum(const unsigned char* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (n % 2) sum += p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Plays the guest's NIC on the tap fd: ARP replies and ICMP echo replies for `ip`.
class FakeGuest {
 public:
  FakeGuest(int tap_fd, const std::string& ip) : fd_(tap_fd) {
    inet_pton(AF_INET, ip.c_str(), &ip_);
    sscanf(kPodMac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac_[0], &mac_[1], &mac_[2], &mac_[3],
           &mac_[4], &mac_[5]);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeGuest() {
    stop_ = true;
    thread_.join();
  }
  int answered() const { return answered_; }

 private:
  void Loop() {
    unsigned char buf[kVnetHdr + 2048];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= static_cast<ssize_t>(kVnetHdr + sizeof(ether_header))) continue;
      unsigned char* f = buf + kVnetHdr;
      const size_t len = static_cast<size_t>(n) - kVnetHdr;
      auto* eth = reinterpret_cast<ether_header*>(f);
      if (ntohs(eth->ether_type) == ETHERTYPE_ARP) Arp(buf, len);
      if (ntohs(eth->ether_type) == ETHERTYPE_IP) Icmp(buf, len);
    }
  }

  void Send(unsigned char* buf, size_t len) {
    memset(buf, 0, kVnetHdr);
    if (write(fd_, buf, kVnetHdr + len) > 0) ++answered_;
  }

  void Arp(unsigned char* buf, size_t len) {
    unsigned char* f = buf + kVnetHdr;
    if (len < sizeof(ether_header) + sizeof(ether_arp)) return;
    auto* eth = reinterpret_cast<ether_header*>(f);
    auto* arp = reinterpret_cast<ether_arp*>(f + sizeof(ether_header));
    if (ntohs(arp->ea_hdr.ar_op) != ARPOP_REQUEST || memcmp(arp->arp_tpa, &ip_, 4) != 0) return;
    arp->ea_hdr.ar_op = htons(ARPOP_REPLY);
    memcpy(arp->arp_tha, arp->arp_sha, 6);
    memcpy(arp->arp_tpa, arp->arp_spa, 4);
    memcpy(arp->arp_sha, mac_, 6);
    memcpy(arp->arp_spa, &ip_, 4);
    memcpy(eth->ether_dhost, eth->ether_shost, 6);
    memcpy(eth->ether_shost, mac_, 6);
    Send(buf, sizeof(ether_header) + sizeof(ether_arp));
  }

  void Icmp(unsigned char* buf, size_t len) {
    unsigned char* f = buf + kVnetHdr;
    auto* eth = reinterpret_cast<ether_header*>(f);
    auto* iph = reinterpret_cast<iphdr*>(f + sizeof(ether_header));
    const size_t ihl = iph->ihl * 4u;
    if (len < sizeof(ether_header) + ihl + 8 || iph->protocol != IPPROTO_ICMP ||
        memcmp(&iph->daddr, &ip_, 4) != 0) {
      return;
    }
    auto* icmp = reinterpret_cast<icmphdr*>(f + sizeof(ether_header) + ihl);
    if (icmp->type != ICMP_ECHO) return;
    std::swap(iph->saddr, iph->daddr);  // the IP checksum does not change
    icmp->type = ICMP_ECHOREPLY;
    icmp->checksum = 0;
    const size_t icmp_len = ntohs(iph->tot_len) - ihl;
    icmp->checksum = htons(Checksum(reinterpret_cast<unsigned char*>(icmp), icmp_len));
    memcpy(eth->ether_dhost, eth->ether_shost, 6);
    memcpy(eth->ether_shost, mac_, 6);
    Send(buf, sizeof(ether_header) + ntohs(iph->tot_len));
  }

  const int fd_;
  in_addr ip_{};
  unsigned char mac_[6] = {};
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

class TcFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (network namespaces, taps, tc)";
    Sh("ip netns add " + pod_);
    Sh("ip netns add " + peer_);
    Sh(in_pod_ + "ip link add eth0 address " + kPodMac + " type veth peer name peer0");
    Sh(in_pod_ + "ip link set peer0 netns " + peer_);
    Sh(in_pod_ + "ip addr add 10.77.0.2/24 dev eth0");
    Sh(in_pod_ + "ip link set eth0 up");
    Sh(in_pod_ + "ip route add default via 10.77.0.1");
    Sh(in_peer_ + "ip addr add 10.77.0.1/24 dev peer0");
    Sh(in_peer_ + "ip link set peer0 up");
  }
  void TearDown() override {
    Sh("ip netns del " + pod_);
    Sh("ip netns del " + peer_);
  }

  const std::string pod_ = absl::StrCat("kata-tc-pod-", getpid());
  const std::string peer_ = absl::StrCat("kata-tc-peer-", getpid());
  const std::string in_pod_ = "ip netns exec " + pod_ + " ";
  const std::string in_peer_ = "ip netns exec " + peer_ + " ";
  std::string log_;
  NetworkLog log_fn_ = [this](absl::string_view l) { absl::StrAppend(&log_, l, "\n"); };
};

TEST_F(TcFilterTest, FramesCrossVethAndTapBothWaysAndRemovalLeavesNothing) {
  absl::StatusOr<std::unique_ptr<PodNetwork>> net = SetUpTcFilter("/run/netns/" + pod_, log_fn_);
  ASSERT_TRUE(net.ok()) << net.status();
  const GuestNetwork& g = (*net)->guest();
  ASSERT_EQ(g.devices.size(), 1u) << log_;
  EXPECT_EQ(g.devices[0].mac, kPodMac);
  EXPECT_GE(g.devices[0].tap_fd, 0);
  ASSERT_EQ(g.interfaces.size(), 1u);
  EXPECT_EQ(g.interfaces[0].name(), "eth0");
  EXPECT_EQ(g.interfaces[0].hwaddr(), kPodMac);
  ASSERT_GE(g.interfaces[0].ipaddresses_size(), 1);
  EXPECT_EQ(g.interfaces[0].ipaddresses(0).address(), "10.77.0.2");
  EXPECT_EQ(g.interfaces[0].ipaddresses(0).mask(), "24");
  bool default_route = false;
  for (const ::types::Route& r : g.routes) {
    default_route |= r.dest().empty() && r.gateway() == "10.77.0.1" && r.device() == "eth0";
  }
  EXPECT_TRUE(default_route);
  EXPECT_THAT(Sh(in_pod_ + "ip -o link show tap0_kata"), HasSubstr(",UP"));
  EXPECT_THAT(Sh(in_pod_ + "/usr/sbin/tc filter show dev eth0 ingress"), HasSubstr("tap0_kata"));
  EXPECT_THAT(Sh(in_pod_ + "/usr/sbin/tc filter show dev tap0_kata ingress"), HasSubstr("eth0"));
  {
    FakeGuest guest(g.devices[0].tap_fd, "10.77.0.2");
    EXPECT_THAT(Sh(in_peer_ + "/usr/bin/busybox ping -c 3 -W 2 10.77.0.2"),
                HasSubstr("3 packets received"));
    EXPECT_GE(guest.answered(), 4);  // an ARP reply and three echo replies
  }
  ASSERT_TRUE((*net)->Remove().ok());
  ASSERT_TRUE((*net)->Remove().ok());  // idempotent
  EXPECT_THAT(Sh(in_pod_ + "ip -o link"), Not(HasSubstr("tap0_kata")));
  EXPECT_THAT(Sh(in_pod_ + "/usr/sbin/tc qdisc show dev eth0"), Not(HasSubstr("ingress")));
  net->reset();
}

TEST_F(TcFilterTest, AFailureMidwayLeavesNoTapAndKeepsWhatWasThere) {
  // An ingress qdisc someone else put on eth0: wiring cannot add its own and must fail.
  Sh(in_pod_ + "/usr/sbin/tc qdisc add dev eth0 ingress");
  absl::StatusOr<std::unique_ptr<PodNetwork>> net = SetUpTcFilter("/run/netns/" + pod_, log_fn_);
  ASSERT_FALSE(net.ok());
  EXPECT_THAT(std::string(net.status().message()), HasSubstr("ingress"));
  EXPECT_THAT(Sh(in_pod_ + "ip -o link"), Not(HasSubstr("tap0_kata")));
  EXPECT_THAT(Sh(in_pod_ + "/usr/sbin/tc qdisc show dev eth0"),
              HasSubstr("ingress"));  // not ours: kept
}

TEST_F(TcFilterTest, FactoryGivesNoNetworkWithoutANetnsOrInTheHostsAndRejectsOtherModels) {
  NetworkFactory f = TcFilterNetworkFactory(log_fn_);
  config::RuntimeConfig config;
  oci::Spec spec;
  absl::StatusOr<std::unique_ptr<PodNetwork>> none = f("sb1", spec, config);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, nullptr);
  EXPECT_THAT(log_, HasSubstr("sandbox sb1: no network device: the spec names no network"));

  spec.linux.emplace();
  spec.linux->namespaces.emplace();
  spec.linux->namespaces->push_back({.type = "network", .path = "/proc/self/ns/net"});
  none = f("sb2", spec, config);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, nullptr);
  EXPECT_THAT(log_, HasSubstr("is the host's network namespace"));

  (*spec.linux->namespaces)[0].path = "/run/netns/" + pod_;
  absl::StatusOr<std::unique_ptr<PodNetwork>> wired = f("sb3", spec, config);
  ASSERT_TRUE(wired.ok()) << wired.status();
  ASSERT_NE(*wired, nullptr);
  EXPECT_EQ((*wired)->guest().devices.size(), 1u);
  wired->reset();  // the destructor removes it
  EXPECT_THAT(Sh(in_pod_ + "ip -o link"), Not(HasSubstr("tap0_kata")));
  EXPECT_THAT(Sh(in_pod_ + "/usr/sbin/tc qdisc show dev eth0"), Not(HasSubstr("ingress")));

  config.runtime.internetworking_model = "macvtap";
  absl::Status s = f("sb4", spec, config).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("internetworking_model \"macvtap\""));
  EXPECT_THAT(Sh(in_pod_ + "ip -o link"), Not(HasSubstr("tap0_kata")));
}

}  // namespace
}  // namespace kata::runtime::network
