#include "src/runtime/sandbox/state.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::runtime {
namespace {

using ::testing::HasSubstr;

TEST(SandboxStateTest, StartOnlyFromInitial) {
  EXPECT_TRUE(CheckSandboxOp("s1", SandboxState::kInitial, SandboxOp::kStart).ok());
  for (SandboxState s : {SandboxState::kRunning, SandboxState::kVmDied, SandboxState::kStopped}) {
    absl::Status st = CheckSandboxOp("s1", s, SandboxOp::kStart);
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(st.message(), HasSubstr("sandbox s1: Start is not allowed in state"));
  }
}

TEST(SandboxStateTest, ShutdownAlwaysLegal) {
  for (SandboxState s : {SandboxState::kInitial, SandboxState::kRunning, SandboxState::kVmDied,
                         SandboxState::kStopped}) {
    EXPECT_TRUE(CheckSandboxOp("s1", s, SandboxOp::kShutdown).ok());
  }
}

TEST(SandboxStateTest, GuestOpsNeedRunningCleanupAlsoAfterDeath) {
  EXPECT_TRUE(CheckSandboxOp("s", SandboxState::kRunning, SandboxOp::kContainerOp).ok());
  EXPECT_FALSE(CheckSandboxOp("s", SandboxState::kVmDied, SandboxOp::kContainerOp).ok());
  EXPECT_FALSE(CheckSandboxOp("s", SandboxState::kInitial, SandboxOp::kCreateContainer).ok());
  EXPECT_TRUE(CheckSandboxOp("s", SandboxState::kVmDied, SandboxOp::kHostCleanup).ok());
  EXPECT_FALSE(CheckSandboxOp("s", SandboxState::kStopped, SandboxOp::kHostCleanup).ok());
}

TEST(ContainerStateTest, Transitions) {
  EXPECT_TRUE(CheckContainerOp("c", ContainerState::kCreated, ContainerOp::kStart).ok());
  EXPECT_FALSE(CheckContainerOp("c", ContainerState::kRunning, ContainerOp::kStart).ok());
  EXPECT_TRUE(CheckContainerOp("c", ContainerState::kRunning, ContainerOp::kPause).ok());
  EXPECT_FALSE(CheckContainerOp("c", ContainerState::kPaused, ContainerOp::kPause).ok());
  EXPECT_TRUE(CheckContainerOp("c", ContainerState::kPaused, ContainerOp::kResume).ok());
  EXPECT_FALSE(CheckContainerOp("c", ContainerState::kRunning, ContainerOp::kResume).ok());
  EXPECT_FALSE(CheckContainerOp("c", ContainerState::kCreated, ContainerOp::kExec).ok());
  EXPECT_TRUE(CheckContainerOp("c", ContainerState::kCreated, ContainerOp::kDelete).ok());
  EXPECT_TRUE(CheckContainerOp("c", ContainerState::kStopped, ContainerOp::kDelete).ok());
  absl::Status st = CheckContainerOp("c1", ContainerState::kRunning, ContainerOp::kDelete);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "container c1: Delete is not allowed in state running");
  EXPECT_FALSE(CheckContainerOp("c", ContainerState::kStopped, ContainerOp::kSignal).ok());
  EXPECT_TRUE(CheckContainerOp("c", ContainerState::kStopped, ContainerOp::kStdio).ok());
}

}  // namespace
}  // namespace kata::runtime
