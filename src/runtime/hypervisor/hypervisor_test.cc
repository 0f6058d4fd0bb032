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

TEST(MockHypervisorTest, WaitVmReturnsTheScriptedExit) {
  testing::MockHypervisor mock;
  Hypervisor& vm = mock;
  EXPECT_CALL(mock, WaitVm(absl::InfiniteDuration()))
      .WillOnce(::testing::Return(VmExit{VmExitCause::kVmmSignaled, 0, 9, "killed"}));
  absl::StatusOr<VmExit> e = vm.WaitVm(absl::InfiniteDuration());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->cause, VmExitCause::kVmmSignaled);
  EXPECT_EQ(e->signal, 9);
}

TEST(VmExitTest, CauseNamesAreDistinct) {
  const VmExitCause all[] = {VmExitCause::kGuestShutdown, VmExitCause::kVmmExited,
                             VmExitCause::kVmmSignaled, VmExitCause::kStoppedByHost};
  for (VmExitCause a : all) {
    EXPECT_STRNE(VmExitCauseName(a), "unknown");
    for (VmExitCause b : all) {
      if (a != b) {
        EXPECT_STRNE(VmExitCauseName(a), VmExitCauseName(b));
      }
    }
  }
}

TEST(VmExitTest, ToStringShowsCauseCodeOrSignalAndDetail) {
  EXPECT_EQ(VmExitToString({VmExitCause::kGuestShutdown, 0, 0, "the guest powered off"}),
            "guest shutdown (exit code 0): the guest powered off");
  EXPECT_EQ(VmExitToString({VmExitCause::kVmmExited, 1, 0, "qemu exited with status 1: oops"}),
            "vmm exited (exit code 1): qemu exited with status 1: oops");
  EXPECT_EQ(VmExitToString({VmExitCause::kVmmSignaled, 0, 9, "qemu killed by signal 9"}),
            "vmm signaled (signal 9): qemu killed by signal 9");
  EXPECT_EQ(VmExitToString({VmExitCause::kStoppedByHost, 0, 0, ""}), "stopped by host");
  EXPECT_EQ(VmExitToString({VmExitCause::kStoppedByHost, 0, 9, "SIGKILL after the grace"}),
            "stopped by host (signal 9): SIGKILL after the grace");
  VmExit defaulted;
  EXPECT_EQ(defaulted.cause, VmExitCause::kVmmExited);
  EXPECT_EQ(VmExitToString(defaulted), "vmm exited (exit code 0)");
}

}  // namespace
}  // namespace kata::hypervisor
