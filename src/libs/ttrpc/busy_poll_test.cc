// Channel's adaptive busy-poll (channel.h): the spin window grows while the peer answers
// within the limit, collapses to zero when it answers later than that, stays zero when
// busy-polling is off, and a spinning read still sees the end of the stream and Shutdown.
// Reader-written frames: a frame written while the reader is awake waits for it, and goes out
// when the reader reads again or stops reading (never stranded).
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/ttrpc/channel.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/test_util.h"

namespace kata {
namespace ttrpc {
namespace {

// Reads one byte through `channel` after the peer writes it `delay` later; `rounds` times.
void PingRounds(Channel& channel, int peer, absl::Duration delay, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    std::thread writer([&] {
      absl::SleepFor(delay);
      ASSERT_EQ(write(peer, "x", 1), 1);
    });
    char c;
    EXPECT_EQ(channel.ReadSome(&c, 1), 1);
    writer.join();
  }
}

TEST(BusyPollTest, WindowGrowsWhileThePeerAnswersWithinTheLimit) {
  auto [mine, peer] = SocketPair();
  ASSERT_TRUE(mine && peer);
  Channel channel(std::move(mine));
  EXPECT_EQ(channel.spin_window(), absl::ZeroDuration());  // nothing learned yet
  // A generous limit: every wait below (a thread start and a write) is within it.
  channel.set_busy_poll_limit(absl::Seconds(1));
  PingRounds(channel, peer.get(), absl::ZeroDuration(), 3);
  EXPECT_GT(channel.spin_window(), absl::ZeroDuration());
  // Data already there: read at once, whatever the window.
  ASSERT_EQ(write(peer.get(), "yz", 2), 2);
  char buf[4];
  EXPECT_EQ(channel.ReadSome(buf, sizeof buf), 2);
}

TEST(BusyPollTest, WindowCollapsesWhenThePeerAnswersLaterThanTheLimit) {
  auto [mine, peer] = SocketPair();
  ASSERT_TRUE(mine && peer);
  Channel channel(std::move(mine));
  channel.set_busy_poll_limit(absl::Milliseconds(1));
  // A round (a thread start and a write) can itself take longer than 1 ms on a loaded
  // machine, which halves the window instead: ping until some rounds come back within it.
  for (int i = 0; i < 2000 && channel.spin_window() == absl::ZeroDuration(); ++i) {
    PingRounds(channel, peer.get(), absl::ZeroDuration(), 1);
  }
  ASSERT_GT(channel.spin_window(), absl::ZeroDuration());
  // Every answer now comes 20 ms later: each sleep halves the window, down to zero
  // (at most 1 ms, it halves below the 2 us floor within 10 rounds).
  PingRounds(channel, peer.get(), absl::Milliseconds(20), 10);
  EXPECT_EQ(channel.spin_window(), absl::ZeroDuration());
}

TEST(BusyPollTest, OffMeansNoWindow) {
  auto [mine, peer] = SocketPair();
  ASSERT_TRUE(mine && peer);
  Channel channel(std::move(mine));
  channel.set_busy_poll_limit(absl::ZeroDuration());
  PingRounds(channel, peer.get(), absl::ZeroDuration(), 3);
  EXPECT_EQ(channel.spin_window(), absl::ZeroDuration());
}

TEST(BusyPollTest, ASpinningReadSeesTheEndOfTheStreamAndShutdown) {
  auto [mine, peer] = SocketPair();
  ASSERT_TRUE(mine && peer);
  Channel channel(std::move(mine));
  channel.set_busy_poll_limit(absl::Seconds(1));
  PingRounds(channel, peer.get(), absl::ZeroDuration(), 3);
  ASSERT_GT(channel.spin_window(), absl::ZeroDuration());
  peer.reset();  // the peer leaves
  char c;
  EXPECT_EQ(channel.ReadSome(&c, 1), 0);

  auto [mine2, peer2] = SocketPair();
  ASSERT_TRUE(mine2 && peer2);
  Channel other(std::move(mine2));
  other.set_busy_poll_limit(absl::Seconds(1));
  PingRounds(other, peer2.get(), absl::ZeroDuration(), 3);
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    other.Shutdown();
  });
  EXPECT_EQ(other.ReadSome(&c, 1), 0);  // spinning or asleep, Shutdown ends it
  closer.join();
}

// What the peer can read now, without waiting.
std::string Pending(int fd) {
  char buf[256];
  const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST(ReaderWritesTest, AFrameQueuedForTheAwakeReaderGoesOutWhenItReadsAgainOrStops) {
  auto [mine, peer] = SocketPair();
  ASSERT_TRUE(mine && peer);
  Channel channel(std::move(mine));
  channel.set_reader_writes(true);
  FrameHeader h;
  h.stream_id = 1;
  char c;
  // The reader read something and is handling it: a frame written now waits for it.
  ASSERT_EQ(write(peer.get(), "x", 1), 1);
  ASSERT_EQ(channel.ReadSome(&c, 1), 1);
  ASSERT_TRUE(channel.WriteFrame(h, "first").ok());
  EXPECT_EQ(Pending(peer.get()), "");
  channel.StopReading();  // the reader is done for now: the frame goes out
  EXPECT_EQ(Pending(peer.get()).substr(kFrameHeaderSize), "first");
  // Not reading: a frame goes out at once.
  ASSERT_TRUE(channel.WriteFrame(h, "second").ok());
  EXPECT_EQ(Pending(peer.get()).substr(kFrameHeaderSize), "second");
  // Awake again; the next read writes what was queued before it waits.
  ASSERT_EQ(write(peer.get(), "y", 1), 1);
  ASSERT_EQ(channel.ReadSome(&c, 1), 1);
  ASSERT_TRUE(channel.WriteFrame(h, "third").ok());
  EXPECT_EQ(Pending(peer.get()), "");
  std::thread reader([&] { EXPECT_EQ(channel.ReadSome(&c, 1), 1); });
  std::string got;
  for (int i = 0; i < 2000 && got.empty(); ++i) {
    got = Pending(peer.get());
    if (got.empty()) absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(got.substr(std::min(got.size(), kFrameHeaderSize)), "third");
  ASSERT_EQ(write(peer.get(), "z", 1), 1);
  reader.join();
  channel.StopReading();
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
