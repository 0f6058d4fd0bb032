// VmSandbox's OOM watcher: the agent's GetOOMEvent answers reach the OomObserver; the watcher
// retries an agent that gave up on a call, stops for an agent without OOM events, and ends
// with the sandbox (fixture: vm_sandbox_test_fixture.h).
#include <signal.h>

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/runtime/sandbox/vm_sandbox_test_fixture.h"

namespace kata::runtime::vm_sandbox_test {
namespace {

// What the fake guest answers to GetOOMEvent, one answer per call, in order; with no answer
// left, the call blocks until the agent is closed (then UNAVAILABLE, as a closed connection).
struct OomScript {
  absl::Mutex mu;
  std::deque<absl::StatusOr<::grpc::OOMEvent>> answers ABSL_GUARDED_BY(mu);
  std::atomic<int> calls{0};
  std::vector<std::string> seen ABSL_GUARDED_BY(mu);  // what the observer was told

  void Add(absl::StatusOr<std::string> cid) {
    absl::MutexLock l(&mu);
    if (!cid.ok()) {
      answers.push_back(cid.status());
      return;
    }
    ::grpc::OOMEvent e;
    e.set_container_id(*cid);
    answers.push_back(e);
  }
  bool WaitSeen(size_t n) {
    absl::MutexLock l(&mu);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu) { return seen.size() >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
  }
};

class VmSandboxOomTest : public VmSandboxTest {
 protected:
  // A hung-guest agent (the fixture's) whose GetOOMEvent follows `script_`; the sandbox
  // reports OOM kills into script_.seen.
  void MakeOomSandbox() {
    testing::MockAgentClient* a = HungAgent();
    auto closed = closed_;
    auto script = script_;
    ON_CALL(*a, GetOOMEvent(_))
        .WillByDefault([closed, script](const auto&) -> absl::StatusOr<::grpc::OOMEvent> {
          script->calls++;
          {
            absl::MutexLock l(&script->mu);
            if (!script->answers.empty()) {
              absl::StatusOr<::grpc::OOMEvent> next = script->answers.front();
              script->answers.pop_front();
              return next;
            }
          }
          closed->WaitForNotification();
          return absl::UnavailableError("agent: connection closed");
        });
    guest_timeout_ = absl::Seconds(1);  // bounds DestroySandbox of this guest that never answers
    MakeSandbox();
    sandbox_->SetOomObserver([script](const std::string& cid) {
      absl::MutexLock l(&script->mu);
      script->seen.push_back(cid);
    });
  }

  std::shared_ptr<OomScript> script_ = std::make_shared<OomScript>();
};

TEST_F(VmSandboxOomTest, OomKillsReachTheObserverAndTheWatcherEndsWithTheSandbox) {
  script_->Add(std::string("c1"));
  script_->Add(std::string("c2"));
  MakeOomSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(script_->WaitSeen(2));
  {
    absl::MutexLock l(&script_->mu);
    EXPECT_THAT(script_->seen, ::testing::ElementsAre("c1", "c2"));
  }
  // The third call waits in the guest; Shutdown closes the agent, which ends it, and joins the
  // watcher: no hang, no thread left asking.
  const absl::Time start = absl::Now();
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  const int calls = script_->calls.load();
  EXPECT_EQ(calls, 3);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(script_->calls.load(), calls);
  ExpectNothingLeft();
}

TEST_F(VmSandboxOomTest, AnAgentThatGaveUpOnTheCallIsAskedAgain) {
  script_->Add(absl::CancelledError("agent GetOOMEvent: cancelled"));
  script_->Add(absl::DeadlineExceededError("agent GetOOMEvent: timed out"));
  script_->Add(std::string("c1"));
  MakeOomSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(script_->WaitSeen(1));
  {
    absl::MutexLock l(&script_->mu);
    EXPECT_THAT(script_->seen, ::testing::ElementsAre("c1"));
  }
  EXPECT_GE(script_->calls.load(), 3);  // two refused calls, then the event
  ASSERT_TRUE(sandbox_->Shutdown().ok());
}

TEST_F(VmSandboxOomTest, AnAgentWithoutOomEventsIsAskedOnce) {
  script_->Add(absl::UnimplementedError("agent GetOOMEvent: not implemented"));
  MakeOomSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(script_->calls.load(), 1);  // no busy loop on an agent that cannot answer
  ASSERT_TRUE(sandbox_->Shutdown().ok());
}

TEST_F(VmSandboxOomTest, TheWatcherEndsWhenTheVmDies) {
  MakeOomSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  kill(vmm_pid_, SIGKILL);
  EXPECT_THAT(sandbox_->WaitVmDeath().message(), HasSubstr("VM died"));
  // The death closed the agent: the pending call ended and no other is made.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(script_->calls.load(), 1);
  EXPECT_TRUE(closed_->HasBeenNotified());
  ASSERT_TRUE(sandbox_->Shutdown().ok());
}

// The fake agent over real ttRPC answers no GetOOMEvent: the sandbox works as before.
TEST_F(VmSandboxTest, OomWatcherLeavesAnAgentWithoutOomEventsAlone) {
  MakeSandbox();
  std::vector<std::string> seen;
  sandbox_->SetOomObserver([&seen](const std::string& cid) { seen.push_back(cid); });
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"exit", "0"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("c").ok());
  EXPECT_EQ(sandbox_->Wait("c", "")->exit_code, 0);
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_THAT(seen, ::testing::IsEmpty());
  ExpectNothingLeft();
}

}  // namespace
}  // namespace kata::runtime::vm_sandbox_test
