// A gMock Sandbox mirroring sandbox.h one for one, for tests of the shim.
//
//   testing::MockSandbox sb;
//   EXPECT_CALL(sb, Wait("c1", "")).WillOnce(Return(ExitStatus{.exit_code = 3}));
#ifndef KATA_SRC_RUNTIME_SANDBOX_TESTING_MOCK_SANDBOX_H_
#define KATA_SRC_RUNTIME_SANDBOX_TESTING_MOCK_SANDBOX_H_

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "src/runtime/sandbox/sandbox.h"

namespace kata::runtime::testing {

class MockSandbox : public Sandbox {
 public:
  MOCK_METHOD(const std::string&, id, (), (const, override));
  MOCK_METHOD(SandboxState, State, (), (const, override));
  MOCK_METHOD(void, SetExitObserver, (ExitObserver observer), (override));
  MOCK_METHOD(void, SetOomObserver, (OomObserver observer), (override));
  MOCK_METHOD(absl::Status, Start, (), (override));
  MOCK_METHOD(absl::Status, Shutdown, (), (override));
  MOCK_METHOD(absl::Status, WaitVmDeath, (), (override));
  MOCK_METHOD(std::vector<pid_t>, VmPids, (), (const, override));
  MOCK_METHOD(absl::StatusOr<std::string>, AgentMetrics, (), (override));
  MOCK_METHOD(absl::Status, CreateContainer, (const ContainerConfig& config), (override));
  MOCK_METHOD(absl::Status, StartContainer, (const std::string& container_id), (override));
  MOCK_METHOD(absl::Status, DeleteContainer, (const std::string& container_id), (override));
  MOCK_METHOD(absl::StatusOr<ContainerState>, GetContainerState, (const std::string& container_id),
              (const, override));
  MOCK_METHOD(std::vector<std::string>, ContainerIds, (), (const, override));
  MOCK_METHOD(absl::Status, Pause, (const std::string& container_id), (override));
  MOCK_METHOD(absl::Status, Resume, (const std::string& container_id), (override));
  MOCK_METHOD(absl::StatusOr<ContainerStats>, Stats, (const std::string& container_id), (override));
  MOCK_METHOD(absl::Status, Update,
              (const std::string& container_id, const oci::LinuxResources& resources), (override));
  MOCK_METHOD(absl::Status, Exec,
              (const std::string& container_id, const std::string& exec_id,
               const oci::Process& process, bool terminal),
              (override));
  MOCK_METHOD(absl::Status, Signal,
              (const std::string& container_id, const std::string& exec_id, int signal, bool all),
              (override));
  MOCK_METHOD(absl::StatusOr<ExitStatus>, Wait,
              (const std::string& container_id, const std::string& exec_id), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<ProcessInfo>>, Processes,
              (const std::string& container_id), (const, override));
  MOCK_METHOD(absl::StatusOr<ProcessInfo>, GetProcess,
              (const std::string& container_id, const std::string& exec_id), (const, override));
  MOCK_METHOD(absl::Status, DeleteProcess,
              (const std::string& container_id, const std::string& exec_id), (override));
  MOCK_METHOD(absl::StatusOr<size_t>, WriteStdin,
              (const std::string& container_id, const std::string& exec_id, absl::string_view data),
              (override));
  MOCK_METHOD(absl::Status, CloseStdin,
              (const std::string& container_id, const std::string& exec_id), (override));
  MOCK_METHOD(absl::StatusOr<std::string>, ReadStdout,
              (const std::string& container_id, const std::string& exec_id, size_t max_bytes),
              (override));
  MOCK_METHOD(absl::StatusOr<std::string>, ReadStderr,
              (const std::string& container_id, const std::string& exec_id, size_t max_bytes),
              (override));
  MOCK_METHOD(absl::Status, ResizePty,
              (const std::string& container_id, const std::string& exec_id, uint32_t width,
               uint32_t height),
              (override));
};

}  // namespace kata::runtime::testing

#endif  // KATA_SRC_RUNTIME_SANDBOX_TESTING_MOCK_SANDBOX_H_
