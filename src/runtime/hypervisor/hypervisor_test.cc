#include "src/runtime/hypervisor/hypervisor.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/runtime/hypervisor/testing/mock_hypervisor.h"

namespace kata::hypervisor {
namespace {

TEST(VmStateTest, LegalPathThroughTheLifecycle) {
  VmState s = VmState::kInitial;
  for (VmOp op : {VmOp::kCreate, VmOp::kStart, VmOp::kPause, VmOp::kHotplug, VmOp::kResume,
                  VmOp::kQuery, VmOp::kStop}) {
    ASSERT_TRUE(CheckVmOp(s, op).ok()) << VmOpName(op) << " in " << VmStateName(s);
    s = StateAfter(s, op);
  }
  EXPECT_EQ(s, VmState::kStopped);
}

TEST(VmStateTest, IllegalCallsAreFailedPrecondition) {
  struct Case {
    VmState s;
    VmOp op;
  };
  for (const Case& c :
       {Case{VmState::kInitial, VmOp::kStart}, Case{VmState::kInitial, VmOp::kStop},
        Case{VmState::kCreated, VmOp::kCreate}, Case{VmState::kCreated, VmOp::kPause},
        Case{VmState::kCreated, VmOp::kHotplug}, Case{VmState::kRunning, VmOp::kStart},
        Case{VmState::kRunning, VmOp::kResume}, Case{VmState::kPaused, VmOp::kPause},
        Case{VmState::kStopped, VmOp::kStart}, Case{VmState::kStopped, VmOp::kStop},
        Case{VmState::kStopped, VmOp::kHotplug}}) {
    absl::Status st = CheckVmOp(c.s, c.op);
    EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition)
        << VmOpName(c.op) << " in " << VmStateName(c.s);
    EXPECT_NE(st.message().find(VmStateName(c.s)), std::string::npos) << st;
  }
}

TEST(VmStateTest, StopIsLegalFromCreatedRunningPaused) {
  for (VmState s : {VmState::kCreated, VmState::kRunning, VmState::kPaused}) {
    EXPECT_TRUE(CheckVmOp(s, VmOp::kStop).ok()) << VmStateName(s);
  }
}

TEST(MockHypervisorTest, MirrorsTheInterface) {
  testing::MockHypervisor mock;
  Hypervisor& vm = mock;
  EXPECT_CALL(mock, HotplugBlockDevice(::testing::_))
      .WillOnce(::testing::Return(DeviceInfo{"b0", "10/00"}));
  absl::StatusOr<DeviceInfo> d = vm.HotplugBlockDevice({.id = "b0", .path = "/x"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->pci_path, "10/00");
}

}  // namespace
}  // namespace kata::hypervisor
