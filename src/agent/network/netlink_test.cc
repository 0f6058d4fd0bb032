// The text parsers and printers of netlink.h (no kernel involved).
#include "src/agent/network/netlink.h"

#include <sys/socket.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::agent::network {
namespace {

using ::testing::HasSubstr;

TEST(ParseIp, V4AndV6RoundTrip) {
  absl::StatusOr<NlAddr> v4 = ParseIp("10.1.2.3", AF_INET, "f");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(IpText(v4->get()), "10.1.2.3");
  absl::StatusOr<NlAddr> v6 = ParseIp("fd00::1", AF_UNSPEC, "f");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(nl_addr_get_family(v6->get()), AF_INET6);
  EXPECT_EQ(IpText(v6->get()), "fd00::1");
}

TEST(ParseIp, BadOrWrongFamilyNamesTheField) {
  for (const char* bad : {"", "10.1.2", "10.1.2.3/24", "fd00::1", "x"}) {
    absl::Status s = ParseIp(bad, AF_INET, "routes[0].gateway").status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("routes[0].gateway")) << bad;
  }
}

TEST(ParseCidr, PrefixesAndDefault) {
  absl::StatusOr<NlAddr> a = ParseCidr("10.0.0.0/24", AF_INET, "d");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(CidrText(a->get()), "10.0.0.0/24");
  absl::StatusOr<NlAddr> d = ParseCidr("", AF_INET6, "d");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(nl_addr_get_family(d->get()), AF_INET6);
  EXPECT_EQ(CidrText(d->get()), "");
  for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/a", "fd00::/129"}) {
    EXPECT_EQ(ParseCidr(bad, AF_UNSPEC, "d").status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(ParseMac, SixHexBytesOnly) {
  absl::StatusOr<NlAddr> m = ParseMac("AA:bb:0c:dd:ee:0F", "hw");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(MacText(m->get()), "aa:bb:0c:dd:ee:0f");
  for (const char* bad : {"", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00", "aa:bb:cc:dd:ee:fg",
                          "a:bb:cc:dd:ee:ff", "aabbccddeeff"}) {
    absl::Status s = ParseMac(bad, "interface.hwAddr").status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("interface.hwAddr")) << bad;
  }
}

}  // namespace
}  // namespace kata::agent::network
