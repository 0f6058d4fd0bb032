#include "src/agent/cgroups/internal/resources.h"

#include "gtest/gtest.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace internal {
namespace {

TEST(ValidateResources, AcceptsEmptyAndTypical) {
  EXPECT_TRUE(ValidateResources({}).ok());
  oci::LinuxResources r;
  r.memory.emplace();
  r.memory->limit = 64 << 20;
  r.memory->swap = 128 << 20;
  r.cpu.emplace();
  r.cpu->shares = 1024;
  r.cpu->quota = 50000;
  r.cpu->period = 100000;
  r.cpu->cpus = "0-1";
  r.pids.emplace();
  r.pids->limit = 10;
  EXPECT_TRUE(ValidateResources(r).ok());
}

TEST(ValidateResources, RejectsBadValuesNamingTheField) {
  oci::LinuxResources r;
  r.memory.emplace();
  r.memory->limit = 64 << 20;
  r.memory->swap = 32 << 20;
  absl::Status s = ValidateResources(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("memory.swap"), std::string::npos) << s;

  oci::LinuxResources c;
  c.cpu.emplace();
  c.cpu->quota = 10;
  EXPECT_NE(ValidateResources(c).message().find("cpu.quota"), std::string::npos);
  c.cpu->quota = 10000;
  c.cpu->cpus = "0;1";
  EXPECT_NE(ValidateResources(c).message().find("cpu.cpus"), std::string::npos);

  oci::LinuxResources h;
  h.hugepage_limits.emplace(1);
  (*h.hugepage_limits)[0].page_size = "2XB";
  EXPECT_FALSE(ValidateResources(h).ok());

  oci::LinuxResources u;
  u.unified.emplace();
  (*u.unified)["../memory.max"] = "1";
  EXPECT_FALSE(ValidateResources(u).ok());
}

TEST(Conversions, MatchRuncFormulas) {
  EXPECT_EQ(SharesToWeight(2), 1u);
  EXPECT_EQ(SharesToWeight(1024), 39u);
  EXPECT_EQ(SharesToWeight(262144), 10000u);
  EXPECT_EQ(BlkioToIoWeight(10), 1u);
  EXPECT_EQ(BlkioToIoWeight(1000), 10000u);
}

TEST(DeviceRuleLine, Wildcards) {
  oci::LinuxDeviceCgroup all;
  EXPECT_EQ(DeviceRuleLine(all), "a *:* rwm");
  oci::LinuxDeviceCgroup null;
  null.type = "c";
  null.major = 1;
  null.minor = 3;
  null.access = "rw";
  EXPECT_EQ(DeviceRuleLine(null), "c 1:3 rw");
}

}  // namespace
}  // namespace internal
}  // namespace cgroups
}  // namespace agent
}  // namespace kata
