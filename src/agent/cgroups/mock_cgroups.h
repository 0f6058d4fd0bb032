// A gMock mirror of CgroupManager, one method for one, for tests of code that uses it
// (//src/agent/container:container_cgroup_test, through ContainerOptions::new_cgroup_manager).
#ifndef KATA_SRC_AGENT_CGROUPS_MOCK_CGROUPS_H_
#define KATA_SRC_AGENT_CGROUPS_MOCK_CGROUPS_H_

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "src/agent/cgroups/cgroups.h"

namespace kata {
namespace agent {
namespace cgroups {

class MockCgroupManager : public CgroupManager {
 public:
  MOCK_METHOD(CgroupVersion, version, (), (const, override));
  MOCK_METHOD(std::vector<std::string>, Dirs, (), (const, override));
  MOCK_METHOD(absl::Status, Create, (absl::string_view, const oci::LinuxResources&), (override));
  MOCK_METHOD(absl::Status, AddProcess, (pid_t), (override));
  MOCK_METHOD(absl::Status, Apply, (const oci::LinuxResources&), (override));
  MOCK_METHOD(absl::StatusOr<CgroupStats>, Stats, (), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<pid_t>>, Pids, (), (override));
  MOCK_METHOD(absl::Status, Freeze, (absl::Duration), (override));
  MOCK_METHOD(absl::Status, Thaw, (absl::Duration), (override));
  MOCK_METHOD(absl::StatusOr<uint64_t>, OomKillCount, (), (override));
  MOCK_METHOD(absl::StatusOr<UniqueFd>, OpenOomEventFd, (), (override));
  MOCK_METHOD(absl::Status, Destroy, (), (override));
};

}  // namespace cgroups
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CGROUPS_MOCK_CGROUPS_H_
