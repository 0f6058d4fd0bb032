// The mocks compile against their interfaces and behave as gMock mocks.
#include "src/runtime/sandbox/testing/mock_sandbox.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/runtime/agent/testing/mock_agent_client.h"

namespace kata::runtime {
namespace {

using ::testing::Return;

TEST(MockSandboxTest, ReturnsWhatItIsTold) {
  testing::MockSandbox sb;
  EXPECT_CALL(sb, Wait("c1", "")).WillOnce(Return(ExitStatus{.exit_code = 3}));
  absl::StatusOr<ExitStatus> st = sb.Wait("c1", "");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->exit_code, 3);
}

TEST(MockAgentClientTest, ReturnsWhatItIsTold) {
  testing::MockAgentClient agent;
  EXPECT_CALL(agent, StartContainer(::testing::_))
      .WillOnce(Return(absl::NotFoundError("container c1")));
  EXPECT_EQ(agent.StartContainer({}).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kata::runtime
