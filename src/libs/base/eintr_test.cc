#include "src/libs/base/eintr.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace kata {
namespace {

TEST(RetryEintr, RetriesWhileInterrupted) {
  int calls = 0;
  int result = RetryEintr([&] {
    if (++calls < 3) {
      errno = EINTR;
      return -1;
    }
    return 7;
  });
  EXPECT_EQ(result, 7);
  EXPECT_EQ(calls, 3);
}

TEST(RetryEintr, ReturnsOtherErrorsAtOnceWithTheirErrno) {
  int calls = 0;
  ssize_t result = RetryEintr([&]() -> ssize_t {
    ++calls;
    errno = EBADF;
    return -1;
  });
  EXPECT_EQ(result, -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(calls, 1);
}

TEST(RetryEintr, ANegativeResultOtherThanMinusOneIsNotRetried) {
  int calls = 0;
  errno = EINTR;
  int result = RetryEintr([&] {
    ++calls;
    return -2;
  });
  EXPECT_EQ(result, -2);
  EXPECT_EQ(calls, 1);
}

void OnSignal(int) {}

// A blocking read interrupted by real signals (handler installed without SA_RESTART) still
// returns the data written after them.
TEST(RetryEintr, ABlockingReadSurvivesSignals) {
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: read(2) fails with EINTR
  struct sigaction old;
  ASSERT_EQ(sigaction(SIGUSR1, &action, &old), 0);

  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  pthread_t reader = pthread_self();
  std::atomic<int> signals_sent{0};
  std::thread writer([&] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      pthread_kill(reader, SIGUSR1);
      signals_sent.fetch_add(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    (void)!write(p[1], "x", 1);
  });
  char c = 0;
  ssize_t n = RetryEintr([&] { return read(p[0], &c, 1); });
  writer.join();
  EXPECT_EQ(n, 1);
  EXPECT_EQ(c, 'x');
  EXPECT_EQ(signals_sent.load(), 5);
  close(p[0]);
  close(p[1]);
  sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace
}  // namespace kata
