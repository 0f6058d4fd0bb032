// OomTracker (oom_tracker.h): the events GetOOMEvent hands out, none lost on removal, and the
// exit's wait for the host's acknowledgement.
#include "src/agent/rpc/oom_tracker.h"

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace kata {
namespace agent {
namespace {

TEST(OomTrackerTest, OneEventPerIncreaseOfATrackedContainer) {
  OomTracker oom;
  oom.Track("c1", 2);  // kills before Track are not reported
  oom.Update("c1", 2);
  oom.Update("nope", 5);  // not tracked
  EXPECT_EQ(oom.Take(), std::nullopt);
  oom.Update("c1", 4);  // one event for an increase, whatever its size
  oom.Update("c1", 4);
  EXPECT_EQ(oom.Take(), "c1");
  EXPECT_EQ(oom.Take(), std::nullopt);
}

TEST(OomTrackerTest, AKillSeenAtRemovalIsHandedOutAfterwards) {
  OomTracker oom;
  oom.Track("c1", 0);
  oom.Track("c2", 0);
  oom.Forget("c1", 1);  // killed, then removed before any poll saw it
  oom.Forget("c2", std::nullopt);
  oom.Update("c1", 2);  // forgotten: ignored
  oom.CallStarted();
  EXPECT_EQ(oom.Take(), "c1");
  EXPECT_EQ(oom.Take(), std::nullopt);
}

TEST(OomTrackerTest, WithoutAnyCallTheExitDoesNotWait) {
  OomTracker oom;
  oom.Track("c1", 0);
  oom.Update("c1", 1);
  const absl::Time start = absl::Now();
  EXPECT_TRUE(oom.AwaitAcked("c1", absl::Seconds(10)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

// The exit waits until the event was taken and the host asked again (it published it).
TEST(OomTrackerTest, TheExitWaitsForTheHostsNextCall) {
  OomTracker oom;
  oom.Track("c1", 0);
  oom.Track("c2", 0);
  oom.CallStarted();  // the host's watcher is waiting
  oom.Update("c1", 1);
  EXPECT_TRUE(oom.AwaitAcked("c2", absl::ZeroDuration()));     // nothing of c2's pending
  EXPECT_FALSE(oom.AwaitAcked("c1", absl::Milliseconds(50)));  // queued, not taken
  absl::Notification acked;
  std::thread exit([&] {
    EXPECT_TRUE(oom.AwaitAcked("c1", absl::Seconds(30)));
    acked.Notify();
  });
  ASSERT_EQ(oom.Take(), "c1");
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(acked.HasBeenNotified()) << "taken, but the host has not asked again yet";
  oom.CallStarted();
  EXPECT_TRUE(acked.WaitForNotificationWithTimeout(absl::Seconds(10)));
  exit.join();
}

TEST(OomTrackerTest, AnUnacknowledgedEventWaitsAtMostTheTimeout) {
  OomTracker oom;
  oom.Track("c1", 0);
  oom.CallStarted();
  oom.Update("c1", 1);
  ASSERT_EQ(oom.Take(), "c1");  // the host took it and never asks again (it went away)
  const absl::Time start = absl::Now();
  EXPECT_FALSE(oom.AwaitAcked("c1", absl::Milliseconds(200)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
}

}  // namespace
}  // namespace agent
}  // namespace kata
