// The registry's bookkeeping: states, one exit per process, the observer told once each.
#include "src/runtime/sandbox/registry.h"

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() : reg_("s1") {
    reg_.SetObserver(
        [this](const std::string& cid, const std::string& exec_id, const ExitStatus& e) {
          absl::MutexLock l(&mu_);
          seen_.push_back({cid + "/" + exec_id, e.exit_code});
        });
  }
  void AddRunning(const std::string& cid) {
    ASSERT_TRUE(reg_.Reserve(cid).ok());
    reg_.Commit(cid, false);
    reg_.SetRunning(cid, "");
  }
  std::vector<std::pair<std::string, int>> Seen() {
    absl::MutexLock l(&mu_);
    return seen_;
  }

  ProcessRegistry reg_;
  absl::Mutex mu_;
  std::vector<std::pair<std::string, int>> seen_ ABSL_GUARDED_BY(mu_);
};

TEST_F(RegistryTest, ReservedContainersAreInvisibleUntilCommitted) {
  ASSERT_TRUE(reg_.Reserve("c1").ok());
  EXPECT_EQ(reg_.Reserve("c1").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(reg_.Check("c1", ContainerOp::kQuery).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(reg_.Ids().empty());
  reg_.Unreserve("c1");
  EXPECT_TRUE(reg_.Reserve("c1").ok());
  reg_.Commit("c1", true);
  EXPECT_EQ(*reg_.GetContainerState("c1"), ContainerState::kCreated);
  EXPECT_THAT(reg_.Ids(), ElementsAre("c1"));
  EXPECT_TRUE(reg_.Find("c1", "", ContainerOp::kQuery)->terminal);
  EXPECT_EQ(reg_.Find("c1", "", ContainerOp::kQuery)->agent_exec, "c1");
}

TEST_F(RegistryTest, InitExitStopsTheContainerAndIsReportedOnce) {
  AddRunning("c1");
  EXPECT_EQ(*reg_.GetContainerState("c1"), ContainerState::kRunning);
  reg_.RecordExit("c1", "", {3, absl::Now(), {}});
  reg_.RecordExit("c1", "", {9, absl::Now(), {}});  // the first exit wins
  reg_.ExitAll({255, absl::Now(), absl::UnavailableError("gone")});
  EXPECT_EQ(*reg_.GetContainerState("c1"), ContainerState::kStopped);
  EXPECT_EQ(reg_.Wait("c1", "")->exit_code, 3);
  EXPECT_THAT(Seen(), ElementsAre(Pair("c1/", 3)));
}

TEST_F(RegistryTest, WaitBlocksUntilTheExit) {
  AddRunning("c1");
  std::thread later([this] {
    absl::SleepFor(absl::Milliseconds(50));
    reg_.RecordExit("c1", "", {7, absl::Now(), {}});
  });
  EXPECT_EQ(reg_.Wait("c1", "")->exit_code, 7);
  later.join();
}

TEST_F(RegistryTest, ExecsNeedARunningContainerAndUniqueIds) {
  ASSERT_TRUE(reg_.Reserve("c1").ok());
  reg_.Commit("c1", false);
  EXPECT_EQ(reg_.AddExec("c1", "e1", false).code(), absl::StatusCode::kFailedPrecondition);
  reg_.SetRunning("c1", "");
  ASSERT_TRUE(reg_.AddExec("c1", "e1", true).ok());
  EXPECT_EQ(reg_.AddExec("c1", "e1", false).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(reg_.DeleteProcess("c1", "e1").code(), absl::StatusCode::kFailedPrecondition);
  reg_.SetRunning("c1", "e1");
  reg_.RecordExit("c1", "e1", {0, absl::Now(), {}});
  EXPECT_EQ(*reg_.GetContainerState("c1"), ContainerState::kRunning);  // an exec's exit
  EXPECT_TRUE(reg_.DeleteProcess("c1", "e1").ok());
  EXPECT_EQ(reg_.GetProcess("c1", "e1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reg_.DeleteProcess("c1", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Seen(), ElementsAre(Pair("c1/e1", 0)));
}

TEST_F(RegistryTest, RemoveExitsWhatIsLeftAndHandsBackTheWaiters) {
  AddRunning("c1");
  absl::Notification exited;
  reg_.AttachWaiter("c1", "", std::thread([&] { exited.WaitForNotification(); }));
  exited.Notify();
  std::vector<std::thread> waiters = reg_.Remove("c1", {255, absl::Now(), {}});
  ASSERT_EQ(waiters.size(), 1u);
  for (auto& t : waiters) t.join();
  EXPECT_EQ(reg_.Check("c1", ContainerOp::kQuery).code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Seen(), ElementsAre(Pair("c1/", 255)));
}

TEST_F(RegistryTest, ExitAllEndsEveryProcessAndContainer) {
  AddRunning("c1");
  AddRunning("c2");
  ASSERT_TRUE(reg_.AddExec("c2", "e", false).ok());
  reg_.ExitAll({255, absl::Now(), absl::UnavailableError("VM died")});
  EXPECT_EQ(*reg_.GetContainerState("c1"), ContainerState::kStopped);
  EXPECT_EQ(reg_.Wait("c2", "e")->error.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Seen().size(), 3u);
}

}  // namespace
}  // namespace kata::runtime
