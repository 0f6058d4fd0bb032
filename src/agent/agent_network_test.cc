// The agent's network rpcs against the real kata-agent binary (argv[1]) running as a host
// process inside a network namespace this test creates (`ip netns add`) with a bridge link (this
// host kernel has no dummy driver) and a veth pair: addresses, routes and ARP entries applied and
// listed (checked with `ip`), the loopback brought up at start, and bad requests refused with the
// field named and nothing changed. Root, outside Bazel's sandbox.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/rpc/test_client.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string g_agent;

// Runs `cmd` with sh; its stdout (stderr appended). Fails the test on a non-zero exit.
std::string Sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  EXPECT_EQ(rc, 0) << cmd << ": " << out;
  return out;
}

constexpr char kVethMac[] = "02:00:00:00:00:02";
constexpr char kBridgeMac[] = "02:00:00:00:00:01";

types::IPAddress Ip(types::IPFamily f, const std::string& addr, const std::string& mask) {
  types::IPAddress ip;
  ip.set_family(f);
  ip.set_address(addr);
  ip.set_mask(mask);
  return ip;
}

types::Route MakeRoute(const std::string& dest, const std::string& gw, const std::string& dev,
                       types::IPFamily f = types::v4, uint32_t scope = 0) {
  types::Route r;
  r.set_dest(dest);
  r.set_gateway(gw);
  r.set_device(dev);
  r.set_family(f);
  r.set_scope(scope);
  return r;
}

class AgentNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (network namespaces)";
    Sh("ip netns add " + ns_);
    Sh(ip_ + "link add br0 address " + kBridgeMac + " type bridge");
    Sh(ip_ + "link set br0 up");
    Sh(ip_ + "link add veth0 address " + kVethMac + " type veth peer name veth1");
    Sh(ip_ + "link set veth1 up");
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int fd = open((dir_ + "/agent.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) dup2(fd, STDERR_FILENO);
      int nsfd = open(("/run/netns/" + ns_).c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) _exit(126);
      execl(g_agent.c_str(), g_agent.c_str(), "--server-addr", ("unix://" + sock_).c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    auto client = kata::ttrpc::Client::Dial("unix://" + sock_, absl::Seconds(10));
    ASSERT_TRUE(client.ok()) << client.status() << Log();
    api_ = std::make_unique<kata::agent::testing::AgentApi>(std::move(*client), absl::Seconds(30));
  }

  void TearDown() override {
    api_.reset();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    Sh("ip netns del " + ns_);
  }

  std::string Log() { return kata::ReadFileToString(dir_ + "/agent.log").value_or(""); }

  // The namespace's global addresses, main-table routes and permanent neighbours.
  std::string Snapshot() {
    return Sh(ip_ + "-o addr show scope global") + Sh(ip_ + "-o link") +
           Sh(ip_ + "-4 route show table main") + Sh(ip_ + "-6 route show table main") +
           Sh(ip_ + "neigh show nud permanent");
  }

  // eth0 (the veth renamed) with 10.20.0.2/24 and fd20::2/64, MTU 1400.
  absl::StatusOr<types::Interface> SetUpEth0() {
    grpc::UpdateInterfaceRequest req;
    types::Interface* i = req.mutable_interface();
    i->set_name("eth0");
    i->set_hwaddr(kVethMac);
    i->set_mtu(1400);
    *i->add_ipaddresses() = Ip(types::v4, "10.20.0.2", "24");
    *i->add_ipaddresses() = Ip(types::v6, "fd20::2", "64");
    types::Interface out;
    absl::Status s = api_->service().UpdateInterface(req, &out, api_->opts());
    if (!s.ok()) return s;
    return out;
  }

  absl::StatusOr<grpc::Routes> UpdateRoutes(std::vector<types::Route> routes) {
    grpc::UpdateRoutesRequest req;
    for (types::Route& r : routes) *req.mutable_routes()->add_routes() = std::move(r);
    grpc::Routes out;
    absl::Status s = api_->service().UpdateRoutes(req, &out, api_->opts());
    if (!s.ok()) return s;
    return out;
  }

  kata::testing::TempDir tmp_{"/tmp"};
  const std::string dir_ = tmp_.path();
  const std::string sock_ = dir_ + "/agent.sock";
  const std::string ns_ = absl::StrCat("kata-agent-net-", getpid());
  const std::string ip_ = "ip -n " + ns_ + " ";
  pid_t pid_ = -1;
  std::unique_ptr<kata::agent::testing::AgentApi> api_;
};

TEST_F(AgentNetworkTest, LoopbackIsUpAtStart) {
  EXPECT_THAT(Sh(ip_ + "-o link show lo"), HasSubstr("LOOPBACK,UP"));
  EXPECT_THAT(Sh(ip_ + "-o addr show lo"), HasSubstr("inet 127.0.0.1/8"));
}

TEST_F(AgentNetworkTest, UpdateInterfaceByMacAppliesAndLists) {
  absl::StatusOr<types::Interface> eth0 = SetUpEth0();
  ASSERT_TRUE(eth0.ok()) << eth0.status() << Log();
  EXPECT_EQ(eth0->name(), "eth0");
  EXPECT_EQ(eth0->hwaddr(), kVethMac);
  EXPECT_EQ(eth0->mtu(), 1400u);
  EXPECT_EQ(eth0->type(), "veth");
  const std::string link = Sh(ip_ + "-o link show eth0");
  EXPECT_THAT(link, HasSubstr("mtu 1400"));
  EXPECT_THAT(link, HasSubstr(",UP"));
  const std::string addrs = Sh(ip_ + "-o addr show eth0");
  EXPECT_THAT(addrs, HasSubstr("inet 10.20.0.2/24"));
  EXPECT_THAT(addrs, HasSubstr("inet6 fd20::2/64"));

  // A second update replaces the addresses.
  grpc::UpdateInterfaceRequest req;
  req.mutable_interface()->set_hwaddr("02:00:00:00:00:02");  // the same MAC, by another spelling
  req.mutable_interface()->set_name("eth0");
  *req.mutable_interface()->add_ipaddresses() = Ip(types::v4, "10.21.0.5", "16");
  types::Interface out;
  ASSERT_TRUE(api_->service().UpdateInterface(req, &out, api_->opts()).ok());
  EXPECT_THAT(Sh(ip_ + "-o addr show eth0"), Not(HasSubstr("10.20.0.2")));
  EXPECT_THAT(Sh(ip_ + "-o addr show eth0"), HasSubstr("inet 10.21.0.5/16"));

  grpc::Interfaces all;
  ASSERT_TRUE(api_->service().ListInterfaces({}, &all, api_->opts()).ok());
  bool found = false;
  for (const types::Interface& i : all.interfaces()) {
    if (i.name() != "eth0") continue;
    found = true;
    EXPECT_EQ(i.hwaddr(), kVethMac);
    bool has = false;
    for (const types::IPAddress& a : i.ipaddresses()) {
      has |= a.address() == "10.21.0.5" && a.mask() == "16" && a.family() == types::v4;
    }
    EXPECT_TRUE(has) << i.DebugString();
  }
  EXPECT_TRUE(found);
}

TEST_F(AgentNetworkTest, RoutesAndNeighboursAppliedAndListed) {
  ASSERT_TRUE(SetUpEth0().ok()) << Log();
  absl::StatusOr<grpc::Routes> routes = UpdateRoutes({
      MakeRoute("", "10.20.0.1", "eth0"),  // the default route: added after the link route
      MakeRoute("10.30.0.0/16", "10.20.0.1", "eth0"),
      MakeRoute("10.40.0.0/24", "", "br0", types::v4, 253),
      MakeRoute("fd30::/64", "fd20::1", "eth0", types::v6),
  });
  ASSERT_TRUE(routes.ok()) << routes.status() << Log();
  const std::string v4 = Sh(ip_ + "-4 route show table main");
  EXPECT_THAT(v4, HasSubstr("default via 10.20.0.1 dev eth0"));
  EXPECT_THAT(v4, HasSubstr("10.30.0.0/16 via 10.20.0.1 dev eth0"));
  EXPECT_THAT(v4, HasSubstr("10.40.0.0/24 dev br0"));
  EXPECT_THAT(Sh(ip_ + "-6 route show table main"), HasSubstr("fd30::/64 via fd20::1 dev eth0"));
  std::vector<std::string> listed;
  for (const types::Route& r : routes->routes()) {
    listed.push_back(absl::StrCat(r.dest(), "|", r.gateway(), "|", r.device(), "|", r.scope()));
  }
  const std::string text = absl::StrJoin(listed, "\n");
  EXPECT_THAT(text, HasSubstr("|10.20.0.1|eth0|0"));
  EXPECT_THAT(text, HasSubstr("10.30.0.0/16|10.20.0.1|eth0|0"));
  EXPECT_THAT(text, HasSubstr("10.40.0.0/24||br0|253"));
  EXPECT_THAT(text, HasSubstr("fd30::/64|fd20::1|eth0|0"));

  // A second UpdateRoutes replaces the first set.
  ASSERT_TRUE(UpdateRoutes({MakeRoute("10.31.0.0/16", "10.20.0.1", "eth0")}).ok());
  const std::string after = Sh(ip_ + "-4 route show table main");
  EXPECT_THAT(after, HasSubstr("10.31.0.0/16 via 10.20.0.1"));
  EXPECT_THAT(after, Not(HasSubstr("default")));
  EXPECT_THAT(after, Not(HasSubstr("10.40.0.0")));
  EXPECT_THAT(after, HasSubstr("10.20.0.0/24 dev eth0 proto kernel"));  // the kernel's stays
  grpc::Routes now;
  ASSERT_TRUE(api_->service().ListRoutes({}, &now, api_->opts()).ok());
  bool has = false;
  for (const types::Route& r : now.routes()) has |= r.dest() == "10.31.0.0/16";
  EXPECT_TRUE(has);

  grpc::AddARPNeighborsRequest arp;
  types::ARPNeighbor* n = arp.mutable_neighbors()->add_arpneighbors();
  *n->mutable_toipaddress() = Ip(types::v4, "10.20.0.9", "");
  n->set_device("eth0");
  n->set_lladdr("02:00:00:00:00:99");
  google::protobuf::Empty empty;
  ASSERT_TRUE(api_->service().AddARPNeighbors(arp, &empty, api_->opts()).ok()) << Log();
  EXPECT_THAT(Sh(ip_ + "neigh show 10.20.0.9"),
              HasSubstr("10.20.0.9 dev eth0 lladdr 02:00:00:00:00:99 PERMANENT"));
}

void ExpectError(const absl::Status& s, absl::StatusCode code, const std::string& field) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(field)) << s;
}

TEST_F(AgentNetworkTest, BadRequestsChangeNothing) {
  ASSERT_TRUE(SetUpEth0().ok()) << Log();
  ASSERT_TRUE(UpdateRoutes({MakeRoute("", "10.20.0.1", "eth0")}).ok());
  const std::string before = Snapshot();
  types::Interface out;
  grpc::UpdateInterfaceRequest unknown;
  unknown.mutable_interface()->set_hwaddr("02:00:00:00:00:77");
  unknown.mutable_interface()->set_name("eth7");
  ExpectError(api_->service().UpdateInterface(unknown, &out, api_->opts()),
              absl::StatusCode::kNotFound, "interface.hwAddr");
  grpc::UpdateInterfaceRequest bad_ip;
  bad_ip.mutable_interface()->set_hwaddr(kBridgeMac);
  bad_ip.mutable_interface()->set_name("eth1");
  *bad_ip.mutable_interface()->add_ipaddresses() = Ip(types::v4, "10.50.0.2", "24");
  *bad_ip.mutable_interface()->add_ipaddresses() = Ip(types::v4, "10.50.0.300", "24");
  ExpectError(api_->service().UpdateInterface(bad_ip, &out, api_->opts()),
              absl::StatusCode::kInvalidArgument, "interface.IPAddresses[1].address");
  *bad_ip.mutable_interface()->mutable_ipaddresses(1) = Ip(types::v4, "10.50.0.3", "33");
  ExpectError(api_->service().UpdateInterface(bad_ip, &out, api_->opts()),
              absl::StatusCode::kInvalidArgument, "interface.IPAddresses[1].mask");
  ExpectError(api_->service().UpdateInterface({}, &out, api_->opts()),
              absl::StatusCode::kInvalidArgument, "interface");

  ExpectError(UpdateRoutes({MakeRoute("10.60.0.0/16", "10.20.0.1", "eth0"),
                            MakeRoute("10.61.0.0/16", "", "eth9")})
                  .status(),
              absl::StatusCode::kNotFound, "routes[1].device");
  ExpectError(UpdateRoutes({MakeRoute("10.60.0.0/40", "10.20.0.1", "eth0")}).status(),
              absl::StatusCode::kInvalidArgument, "routes[0].dest");
  ExpectError(UpdateRoutes({MakeRoute("10.60.0.0/16", "fd20::1", "eth0")}).status(),
              absl::StatusCode::kInvalidArgument, "routes[0].gateway");
  // Valid in form but refused by the kernel (the gateway is on no link): undone.
  EXPECT_FALSE(UpdateRoutes({MakeRoute("10.62.0.0/16", "", "br0", types::v4, 253),
                             MakeRoute("10.63.0.0/16", "10.99.0.1", "eth0")})
                   .ok());

  grpc::AddARPNeighborsRequest arp;
  types::ARPNeighbor* n = arp.mutable_neighbors()->add_arpneighbors();
  *n->mutable_toipaddress() = Ip(types::v4, "10.20.0.9", "");
  n->set_device("eth0");
  n->set_lladdr("02:00:00:00:00:9");
  google::protobuf::Empty empty;
  ExpectError(api_->service().AddARPNeighbors(arp, &empty, api_->opts()),
              absl::StatusCode::kInvalidArgument, "neighbors[0].lladdr");
  n->set_lladdr("02:00:00:00:00:99");
  n->set_device("eth9");
  ExpectError(api_->service().AddARPNeighbors(arp, &empty, api_->opts()),
              absl::StatusCode::kNotFound, "neighbors[0].device");
  EXPECT_EQ(Snapshot(), before);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) g_agent = argv[1];
  return RUN_ALL_TESTS();
}
