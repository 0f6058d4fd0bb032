// A gMock Hypervisor mirroring hypervisor.h one for one, for tests of the code above drivers.
//
//   testing::MockHypervisor vm;
//   EXPECT_CALL(vm, HotplugBlockDevice(_)).WillOnce(Return(DeviceInfo{"b0", "10/00"}));
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_TESTING_MOCK_HYPERVISOR_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_TESTING_MOCK_HYPERVISOR_H_

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "src/runtime/hypervisor/hypervisor.h"

namespace kata::hypervisor::testing {

class MockHypervisor : public Hypervisor {
 public:
  MOCK_METHOD(absl::Status, CreateVm, (const VmConfig& config), (override));
  MOCK_METHOD(absl::Status, StartVm, (absl::Duration timeout), (override));
  MOCK_METHOD(absl::Status, StopVm, (), (override));
  MOCK_METHOD(absl::Status, PauseVm, (), (override));
  MOCK_METHOD(absl::Status, ResumeVm, (), (override));
  MOCK_METHOD(absl::StatusOr<DeviceInfo>, HotplugBlockDevice, (const BlockDevice& device),
              (override));
  MOCK_METHOD(absl::Status, UnplugDevice, (const std::string& id), (override));
  MOCK_METHOD(absl::StatusOr<AgentChannel>, GetAgentChannel, (), (const, override));
  MOCK_METHOD(absl::Status, ReleaseBootMemory, (), (override));
  MOCK_METHOD(std::vector<pid_t>, Pids, (), (const, override));
  MOCK_METHOD(Capabilities, GetCapabilities, (), (const, override));
  MOCK_METHOD(VmState, State, (), (const, override));
  MOCK_METHOD(absl::StatusOr<VmExit>, WaitVm, (absl::Duration timeout), (override));
};

}  // namespace kata::hypervisor::testing

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_TESTING_MOCK_HYPERVISOR_H_
