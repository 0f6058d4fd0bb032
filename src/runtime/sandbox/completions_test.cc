// Completions: pending calls cost no thread, finishes never block the caller, waits by key.
#include "src/runtime/sandbox/completions.h"

#include <dirent.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/threads.h"

namespace kata::runtime {
namespace {

TEST(CompletionsTest, PendingCallsCostNoThread) {
  Completions c;
  const int before = kata::testing::ThreadCount();
  for (int i = 0; i < 100; ++i) c.Begin("c", "e" + std::to_string(i));
  EXPECT_EQ(c.pending(), 100);
  EXPECT_EQ(kata::testing::ThreadCount(), before);
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) c.Finish("c", "e" + std::to_string(i), [&ran] { ++ran; });
  c.Stop();
  EXPECT_EQ(ran, 100);
  EXPECT_EQ(c.pending(), 0);
  EXPECT_EQ(c.threads(), 0);
  EXPECT_EQ(kata::testing::ThreadCount(), before);
}

TEST(CompletionsTest, ASlowFinishDelaysNeitherTheCallerNorAnotherFinish) {
  Completions c;
  c.Begin("c", "slow");
  c.Begin("c", "fast");
  absl::Notification release, fast_done;
  const absl::Time start = absl::Now();
  c.Finish("c", "slow", [&release] { release.WaitForNotification(); });
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));  // queued, not run here
  c.Finish("c", "fast", [&fast_done] { fast_done.Notify(); });
  EXPECT_TRUE(fast_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  c.AwaitIdle("c", "fast");  // the slow one of the same container does not hold this up
  EXPECT_EQ(c.pending(), 1);
  release.Notify();
  c.AwaitIdle("c");
  EXPECT_EQ(c.pending(), 0);
}

TEST(CompletionsTest, AwaitIdleWaitsForTheContainersCallsOnly) {
  Completions c;
  c.Begin("a", "");
  c.Begin("b", "");
  c.AwaitIdle("c");  // nothing of c pending: returns at once
  std::atomic<bool> finished{false};
  std::thread finisher([&] {
    absl::SleepFor(absl::Milliseconds(200));
    c.Finish("a", "", [&finished] { finished = true; });
  });
  c.AwaitIdle("a");
  EXPECT_TRUE(finished);  // its work ran before the wait ended
  EXPECT_EQ(c.pending(), 1);
  finisher.join();
  c.End("b", "");  // completed with nothing to do: no thread
  EXPECT_EQ(c.threads(), 0);
  c.Stop();
  EXPECT_EQ(c.pending(), 0);
}

}  // namespace
}  // namespace kata::runtime
