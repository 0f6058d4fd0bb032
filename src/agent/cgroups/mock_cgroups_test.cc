// The mock compiles against the interface (a changed interface breaks this test first).
#include "src/agent/cgroups/mock_cgroups.h"

#include "gtest/gtest.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace {

using ::testing::Return;

TEST(MockCgroupManager, StandsInForTheInterface) {
  MockCgroupManager mock;
  EXPECT_CALL(mock, Freeze(absl::Seconds(1))).WillOnce(Return(absl::OkStatus()));
  CgroupManager& mgr = mock;
  EXPECT_TRUE(mgr.Freeze(absl::Seconds(1)).ok());
}

}  // namespace
}  // namespace cgroups
}  // namespace agent
}  // namespace kata
