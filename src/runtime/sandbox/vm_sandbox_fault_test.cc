// VmSandbox when things go wrong: the VM dies, the guest hangs, the agent frees an exec;
// the exit observer; cleanup after a dead owner (fixture: vm_sandbox_test_fixture.h).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/runtime/sandbox/host_mounts.h"
#include "src/runtime/sandbox/vm_sandbox_test_fixture.h"

namespace kata::runtime::vm_sandbox_test {
namespace {

// The fixture's header brings fs, the hypervisor types and gMock's matchers.

TEST_F(VmSandboxTest, VmDeathEndsEveryProcessWithAnError) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("s", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("s").ok());
  std::thread killer([this] {
    absl::SleepFor(absl::Milliseconds(100));
    kill(vmm_pid_, SIGKILL);  // a zombie now: dead, not reaped
  });
  absl::StatusOr<ExitStatus> exit = sandbox_->Wait("s", "");
  killer.join();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 255);
  EXPECT_EQ(exit->error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(exit->error.message(), HasSubstr("sandbox sb1: VM died: qemu killed by signal 9"));
  absl::Status death = sandbox_->WaitVmDeath();
  EXPECT_THAT(death.message(), HasSubstr("VM died"));
  EXPECT_EQ(sandbox_->State(), SandboxState::kVmDied);
  EXPECT_EQ(*sandbox_->ReadStdout("s", ""), "");  // EOF
  oci::Process p;
  p.args = std::vector<std::string>{"echo"};
  EXPECT_EQ(sandbox_->Exec("s", "e", p, false).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sandbox_->DeleteContainer("s").ok());
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

// Issue 11 item 14: a stopped or hung VM made the pod undeletable (RemoveContainer failed or
// waited for ever). After guest_timeout the VM is treated as dead: stopped, the container's host
// side cleaned, the deletion reported done.
TEST_F(VmSandboxTest, DeleteContainerOfAGuestThatNeverAnswersStopsTheVmAndCleansTheHost) {
  HungAgent();
  guest_timeout_ = absl::Seconds(1);
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"sleep"})).ok());
  ASSERT_TRUE(fs::exists(SandboxDir() + "/shared/c/rootfs/marker"));
  const absl::Time start = absl::Now();
  absl::Status s = sandbox_->DeleteContainer("c");
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(closed_->HasBeenNotified());
  EXPECT_TRUE(stopped_) << "the VM of a guest that does not answer must be stopped";
  EXPECT_EQ(sandbox_->State(), SandboxState::kVmDied);
  EXPECT_THAT(sandbox_->WaitVmDeath().message(),
              HasSubstr("the guest did not answer RemoveContainer of container c within 1s"));
  EXPECT_EQ(sandbox_->GetContainerState("c").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(SandboxDir() + "/shared/c"));
  ExpectOnlyTheShareMounted(SandboxDir());
  const absl::Time down = absl::Now();
  EXPECT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_LT(absl::Now() - down, absl::Seconds(5));
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, SigkillThatAHungGuestNeverTakesStopsTheVmAndEndsTheProcesses) {
  HungAgent();
  guest_timeout_ = absl::Seconds(1);
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("c").ok());
  const absl::Time start = absl::Now();
  absl::Status s = sandbox_->Signal("c", "", SIGKILL, true);
  EXPECT_TRUE(s.ok()) << s;  // the process is certainly dead: its VM is
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(stopped_);
  absl::StatusOr<ExitStatus> exit = sandbox_->Wait("c", "");
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 255);
  EXPECT_THAT(exit->error.message(), HasSubstr("did not answer SignalProcess"));
  ASSERT_TRUE(sandbox_->DeleteContainer("c").ok());
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, ShutdownOfAGuestThatNeverAnswersFinishesWithinTheBound) {
  HungAgent();
  guest_timeout_ = absl::Seconds(1);
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("c").ok());  // a WaitProcess pending for ever
  const absl::Time start = absl::Now();
  EXPECT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(stopped_);
  EXPECT_TRUE(closed_->HasBeenNotified());
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, AnExecTheAgentFreedReadsAsEof) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("s", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("s").ok());
  oci::Process p;
  p.args = std::vector<std::string>{"echo", "hi"};
  ASSERT_TRUE(sandbox_->Exec("s", "e", p, false).ok());
  EXPECT_EQ(sandbox_->Wait("s", "e")->exit_code, 0);
  // The agent freed the exec once its exit was collected and its output read: NOT_FOUND.
  agent_.FailNext("ReadStdout", absl::NotFoundError("container s: no process with exec id e"));
  absl::StatusOr<std::string> got = sandbox_->ReadStdout("s", "e");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "");
  // The init is never freed by the agent: NOT_FOUND there is an error.
  agent_.FailNext("ReadStdout", absl::NotFoundError("container s: gone"));
  EXPECT_FALSE(sandbox_->ReadStdout("s", "").ok());
}

TEST_F(VmSandboxTest, ExitObserverIsToldOnceForEveryProcessEnd) {
  MakeSandbox();
  absl::Mutex mu;
  std::vector<std::string> seen;
  sandbox_->SetExitObserver(
      [&](const std::string& cid, const std::string& exec_id, const ExitStatus& e) {
        // The process is already exited when the observer hears of it.
        EXPECT_EQ(sandbox_->GetProcess(cid, exec_id)->state, ProcessState::kExited);
        absl::MutexLock l(&mu);
        seen.push_back(absl::StrCat(cid, "/", exec_id, "=", e.exit_code));
      });
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("a", {"exit", "3"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("a").ok());
  EXPECT_EQ(sandbox_->Wait("a", "")->exit_code, 3);
  ASSERT_TRUE(sandbox_->CreateContainer(Config("b", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("b").ok());
  oci::Process p;
  p.args = std::vector<std::string>{"sleep"};
  ASSERT_TRUE(sandbox_->Exec("b", "e1", p, false).ok());
  ASSERT_TRUE(sandbox_->DeleteContainer("a").ok());  // already exited: no second report
  ASSERT_TRUE(sandbox_->Shutdown().ok());            // the rest end with the sandbox
  absl::MutexLock l(&mu);
  EXPECT_THAT(seen, ::testing::UnorderedElementsAre("a/=3", "b/=255", "b/e1=255"));
}

TEST_F(VmSandboxTest, CleanupSandboxRemovesWhatADeadOwnerLeft) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"sleep"})).ok());
  // The owner "dies": leak the object's state on purpose by cleaning up behind its back.
  ASSERT_TRUE(CleanupSandbox("sb1", paths_).ok());
  EXPECT_THAT(*MountPointsUnder(SandboxDir()), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(SandboxDir()));
  EXPECT_TRUE(CleanupSandbox("sb1", paths_).ok());  // nothing left: still OK
  EXPECT_EQ(CleanupSandbox("../etc", paths_).code(), absl::StatusCode::kInvalidArgument);
}

TEST(NewVmSandboxTest, RejectsBadIds) {
  SandboxOptions o;
  o.id = "a/b";
  o.hypervisor_factory = [](const config::RuntimeConfig&,
                            const hypervisor::VmLayout&) -> absl::StatusOr<hypervisor::VmPlan> {
    return absl::InternalError("unused");
  };
  EXPECT_EQ(NewVmSandbox(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.id = "ok";
  EXPECT_TRUE(NewVmSandbox(o).ok());
  o.hypervisor_factory = nullptr;  // the shim injects the driver's factory: required
  EXPECT_EQ(NewVmSandbox(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kata::runtime::vm_sandbox_test
