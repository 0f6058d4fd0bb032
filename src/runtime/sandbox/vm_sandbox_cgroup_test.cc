// VmSandbox and the pod's host cgroup: the VMM and the owner (the shim; here the test) run in
// the cgroup of the spec's linux.cgroupsPath until Shutdown removes it; a bad path fails Start
// before anything is made (fixture: vm_sandbox_test_fixture.h).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/runtime/sandbox/host_cgroup.h"
#include "src/runtime/sandbox/vm_sandbox_test_fixture.h"

namespace kata::runtime::vm_sandbox_test {
namespace {

std::vector<std::string> Procs(const std::string& dir) {
  absl::StatusOr<std::string> s = ReadFileToString(dir + "/cgroup.procs");
  if (!s.ok()) return {};
  return absl::StrSplit(*s, '\n', absl::SkipEmpty());
}

TEST_F(VmSandboxTest, TheVmmAndItsOwnerRunInThePodCgroupUntilShutdown) {
  absl::StatusOr<std::vector<CgroupHierarchy>> hierarchies = HostCgroupHierarchies();
  ASSERT_TRUE(hierarchies.ok()) << hierarchies.status();
  const std::string base = absl::StrCat("kata-vmsb-test-", getpid());
  const std::string before = *ReadFileToString("/proc/self/cgroup");
  oci::Spec spec = SpecWithArgs({"sleep"});
  spec.linux->cgroups_path = base + "/pod";  // relative: below this process's cgroups
  MakeSandbox(spec);
  // StopVm ends the stand-in VMM, as a driver ends QEMU: the pod cgroup is empty afterwards.
  ON_CALL(*vm_, StopVm()).WillByDefault([this] {
    absl::MutexLock l(&wait_mu_);
    if (!vmm_exit_.has_value()) {
      kill(vmm_pid_, SIGKILL);
      waitpid(vmm_pid_, nullptr, 0);
      vmm_exit_ = hypervisor::VmExit{hypervisor::VmExitCause::kStoppedByHost, 0, 0, ""};
    }
    stopped_ = true;
    return absl::OkStatus();
  });
  ASSERT_TRUE(sandbox_->Start().ok());
  std::vector<std::string> dirs;
  for (const CgroupHierarchy& h : *hierarchies) {
    const std::string dir =
        absl::StrCat(h.mount, h.self_path == "/" ? "" : h.self_path, "/", base, "/pod");
    dirs.push_back(dir);
    EXPECT_THAT(Procs(dir), ::testing::Contains(absl::StrCat(vmm_pid_))) << dir;
    EXPECT_THAT(Procs(dir), ::testing::Contains(absl::StrCat(getpid()))) << dir;
  }
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_EQ(*ReadFileToString("/proc/self/cgroup"), before);
  for (const std::string& d : dirs) {
    EXPECT_FALSE(std::filesystem::exists(d)) << d;
    EXPECT_FALSE(std::filesystem::exists(d.substr(0, d.rfind('/')))) << d;  // made by Start too
  }
  ExpectNothingLeft();
}

// A Start that fails after the shim entered the pod cgroup (here: the VM does not start)
// leaves it again and removes the cgroup.
TEST_F(VmSandboxTest, AFailedStartLeavesAndRemovesThePodCgroup) {
  absl::StatusOr<std::vector<CgroupHierarchy>> hierarchies = HostCgroupHierarchies();
  ASSERT_TRUE(hierarchies.ok()) << hierarchies.status();
  const std::string base = absl::StrCat("kata-vmsb-fail-", getpid());
  const std::string before = *ReadFileToString("/proc/self/cgroup");
  oci::Spec spec = SpecWithArgs({"sleep"});
  spec.linux->cgroups_path = base + "/pod";
  MakeSandbox(spec);
  bool was_in_pod_cgroup = false;
  EXPECT_CALL(*vm_, StartVm(_)).WillOnce([&](absl::Duration) {
    was_in_pod_cgroup =
        absl::StrContains(*ReadFileToString("/proc/self/cgroup"), "/" + base + "/pod\n");
    return absl::InternalError("qemu: no such machine");
  });
  absl::Status s = sandbox_->Start();
  EXPECT_THAT(s.message(), HasSubstr("no such machine"));
  EXPECT_TRUE(was_in_pod_cgroup);  // QEMU would have started in it
  EXPECT_EQ(*ReadFileToString("/proc/self/cgroup"), before);
  for (const CgroupHierarchy& h : *hierarchies) {
    const std::string dir = absl::StrCat(h.mount, h.self_path == "/" ? "" : h.self_path, "/", base);
    EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
  }
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, ABadCgroupsPathFailsStartBeforeAnythingIsMade) {
  for (const char* bad : {"../../x", "/kata/../../x", "kubepods.slice:cri-containerd:x"}) {
    oci::Spec spec = SpecWithArgs({"sleep"});
    spec.linux->cgroups_path = bad;
    MakeSandbox(spec);
    EXPECT_CALL(*vm_, CreateVm(_)).Times(0);
    absl::Status s = sandbox_->Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("sandbox sb1: linux.cgroupsPath")) << bad;
    ExpectNothingLeft();
  }
}

}  // namespace
}  // namespace kata::runtime::vm_sandbox_test
