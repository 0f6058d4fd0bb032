// ProcessIo against a gMock sandbox and real FIFOs: what containerd's reader sees, and the
// one event loop: no thread per process, no process held up by another's full FIFO.
#include "src/runtime/shim/process_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/testing/threads.h"
#include "src/libs/base/unique_fd.h"
#include "src/runtime/sandbox/testing/mock_sandbox.h"

namespace kata {
namespace shim {
namespace {

using ::testing::_;
using ::testing::Return;

// Reads `fd` (non-blocking) until EOF or until `timeout_ms` pass without EOF. Returns what it
// read; *eof tells whether the writers all went away.
std::string ReadUntilEof(int fd, int timeout_ms, bool* eof) {
  std::string got;
  *eof = false;
  for (;;) {
    pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return got;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) {
      *eof = true;
      return got;
    }
    if (n < 0) return got;  // EAGAIN: POLLHUP without data is EOF on the next read
    got.append(buf, static_cast<size_t>(n));
  }
}

class ProcessIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(mkfifo(out_.c_str(), 0600), 0);
    ASSERT_EQ(mkfifo(err_.c_str(), 0600), 0);
    // containerd's CRI opens its read ends first (non-blocking), before the exec starts.
    out_r_.reset(open(out_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    err_r_.reset(open(err_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    ASSERT_TRUE(out_r_ && err_r_);
  }

  kata::testing::TempDir tmp_;
  std::string out_ = tmp_.Join("e1-stdout");
  std::string err_ = tmp_.Join("e1-stderr");
  UniqueFd out_r_, err_r_;
  runtime::testing::MockSandbox sb_;
};

// The CRI's ExecSync answers only once the exec's stdout and stderr FIFOs reach EOF, and it
// deletes the exec (which destroys its ProcessIo) only after answering: the shim must close
// its write ends once a stream is finished, not when the process is deleted.
TEST_F(ProcessIoTest, OutputFifosReachEofOnceTheStreamsEndWhileTheProcessLives) {
  EXPECT_CALL(sb_, ReadStdout("c1", "e1", _))
      .WillOnce(Return(std::string("out\n")))
      .WillRepeatedly(Return(std::string()));
  EXPECT_CALL(sb_, ReadStderr("c1", "e1", _))
      .WillOnce(Return(std::string("err\n")))
      .WillRepeatedly(Return(std::string()));
  EXPECT_CALL(sb_, CloseStdin("c1", "e1")).WillRepeatedly(Return(absl::OkStatus()));
  auto io = ProcessIo::Open({.stdin = "", .stdout = out_, .stderr = err_, .terminal = false});
  ASSERT_TRUE(io.ok()) << io.status();
  (*io)->Start(&sb_, "c1", "e1");
  ASSERT_TRUE((*io)->WaitOutput(absl::Seconds(10)));

  bool eof = false;
  EXPECT_EQ(ReadUntilEof(out_r_.get(), 5000, &eof), "out\n");
  EXPECT_TRUE(eof) << "stdout FIFO still has a writer after its stream ended";
  EXPECT_EQ(ReadUntilEof(err_r_.get(), 5000, &eof), "err\n");
  EXPECT_TRUE(eof) << "stderr FIFO still has a writer after its stream ended";
  io->reset();
}

// A stream that ends with an error (the VM died) closes its FIFO as well.
TEST_F(ProcessIoTest, OutputFifoReachesEofWhenTheStreamFails) {
  EXPECT_CALL(sb_, ReadStdout("c1", "", _))
      .WillRepeatedly(Return(absl::UnavailableError("vm died")));
  EXPECT_CALL(sb_, ReadStderr("c1", "", _))
      .WillRepeatedly(Return(absl::UnavailableError("vm died")));
  EXPECT_CALL(sb_, CloseStdin("c1", "")).WillRepeatedly(Return(absl::OkStatus()));
  auto io = ProcessIo::Open({.stdin = "", .stdout = out_, .stderr = err_, .terminal = false});
  ASSERT_TRUE(io.ok()) << io.status();
  (*io)->Start(&sb_, "c1", "");
  ASSERT_TRUE((*io)->WaitOutput(absl::Seconds(10)));
  bool eof = false;
  EXPECT_EQ(ReadUntilEof(out_r_.get(), 5000, &eof), "");
  EXPECT_TRUE(eof);
  EXPECT_EQ(ReadUntilEof(err_r_.get(), 5000, &eof), "");
  EXPECT_TRUE(eof);
}

// Before Start (the process never started) nothing is closed behind containerd's back, and a
// ProcessIo that never started is destroyed without blocking.
TEST_F(ProcessIoTest, UnstartedIoKeepsItsFifosOpenUntilDestroyed) {
  auto io = ProcessIo::Open({.stdin = "", .stdout = out_, .stderr = err_, .terminal = false});
  ASSERT_TRUE(io.ok()) << io.status();
  bool eof = false;
  ReadUntilEof(out_r_.get(), 200, &eof);
  EXPECT_FALSE(eof);
  io->reset();
  ReadUntilEof(out_r_.get(), 5000, &eof);
  EXPECT_TRUE(eof);
}

// The sandbox's asynchronous reads held (a process that prints nothing yet), to be answered by
// the test: no thread waits for them.
struct HeldReads {
  absl::Mutex mu;
  std::vector<runtime::Sandbox::ReadDone> pending ABSL_GUARDED_BY(mu);
  void Hold(runtime::testing::MockSandbox& sb) {
    ON_CALL(sb, ReadOutputAsync)
        .WillByDefault([this](const std::string&, const std::string&, bool, size_t,
                              runtime::Sandbox::ReadDone done) { Add(std::move(done)); });
  }
  void Add(runtime::Sandbox::ReadDone done) {
    absl::MutexLock l(&mu);
    pending.push_back(std::move(done));
  }
  size_t Count() {
    absl::MutexLock l(&mu);
    return pending.size();
  }
  // Answers every held read with EOF; the streams end.
  void EndAll() {
    std::vector<runtime::Sandbox::ReadDone> all;
    {
      absl::MutexLock l(&mu);
      all.swap(pending);
    }
    for (auto& done : all) done(std::string());
  }
};

// 100 live processes (each with stdout, stderr and stdin) cost the shim no thread each: their
// reads wait in the sandbox and their stdin FIFOs in the one event loop.
TEST_F(ProcessIoTest, ManyLiveProcessesCostNoThreadEach) {
  HeldReads reads;
  reads.Hold(sb_);
  EXPECT_CALL(sb_, CloseStdin(_, _)).WillRepeatedly(Return(absl::OkStatus()));
  {  // the shim's event loop exists once the first process started
    auto warm = ProcessIo::Open({});
    ASSERT_TRUE(warm.ok());
    (*warm)->Start(&sb_, "warm", "");
    while (reads.Count() < 2) absl::SleepFor(absl::Milliseconds(1));
    reads.EndAll();
    ASSERT_TRUE((*warm)->WaitOutput(absl::Seconds(10)));
  }
  const int before = kata::testing::ThreadCount();
  std::vector<std::unique_ptr<ProcessIo>> ios;
  std::vector<UniqueFd> writers;
  for (int i = 0; i < 100; ++i) {
    const std::string in = tmp_.Join("in" + std::to_string(i));
    ASSERT_EQ(mkfifo(in.c_str(), 0600), 0);
    auto io = ProcessIo::Open({.stdin = in, .stdout = "", .stderr = "", .terminal = false});
    ASSERT_TRUE(io.ok()) << io.status();
    writers.emplace_back(open(in.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));  // containerd's
    (*io)->Start(&sb_, "c1", "e" + std::to_string(i));
    ios.push_back(*std::move(io));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (reads.Count() < 200 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(reads.Count(), 200u);
  const int during = kata::testing::ThreadCount();
  std::cout << "threads for 100 live processes' stdio: " << during - before << "\n";
  EXPECT_LE(during - before, 2);  // none per process (a test's stray thread at most)
  reads.EndAll();
  for (auto& io : ios) EXPECT_TRUE(io->WaitOutput(absl::Seconds(10)));
  writers.clear();  // containerd's writers go: each stdin reads EOF and is closed
  ios.clear();
}

// One process whose FIFO nobody reads (full) holds up neither its own reads' completions nor
// another process's output.
TEST_F(ProcessIoTest, AFullFifoDoesNotDelayAnotherProcessesOutput) {
  const std::string slow = tmp_.Join("slow-stdout");
  ASSERT_EQ(mkfifo(slow.c_str(), 0600), 0);
  UniqueFd slow_r(open(slow.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));  // never read
  const std::string big(256 * 1024, 'x');
  std::atomic<int> slow_reads{0};
  std::atomic<bool> ended{false};
  EXPECT_CALL(sb_, ReadStdout("slow", "", _)).WillRepeatedly([&](auto&&...) {
    ++slow_reads;
    return absl::StatusOr<std::string>(ended ? std::string() : big);
  });
  EXPECT_CALL(sb_, ReadStderr("slow", "", _)).WillRepeatedly(Return(std::string()));
  EXPECT_CALL(sb_, ReadStdout("c1", "e1", _))
      .WillOnce(Return(std::string("fast\n")))
      .WillRepeatedly(Return(std::string()));
  EXPECT_CALL(sb_, ReadStderr("c1", "e1", _)).WillRepeatedly(Return(std::string()));
  EXPECT_CALL(sb_, CloseStdin(_, _)).WillRepeatedly(Return(absl::OkStatus()));
  auto blocked = ProcessIo::Open({.stdin = "", .stdout = slow, .stderr = "", .terminal = false});
  ASSERT_TRUE(blocked.ok()) << blocked.status();
  (*blocked)->Start(&sb_, "slow", "");
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(slow_reads.load(), 1);  // the full FIFO deferred the next read
  auto fast = ProcessIo::Open({.stdin = "", .stdout = out_, .stderr = err_, .terminal = false});
  ASSERT_TRUE(fast.ok()) << fast.status();
  (*fast)->Start(&sb_, "c1", "e1");
  ASSERT_TRUE((*fast)->WaitOutput(absl::Seconds(10)));
  bool fast_eof = false;
  EXPECT_EQ(ReadUntilEof(out_r_.get(), 5000, &fast_eof), "fast\n");
  EXPECT_TRUE(fast_eof);
  EXPECT_FALSE((*blocked)->WaitOutput(absl::Milliseconds(10)));
  // The reader comes: the first chunk arrives whole, and the stream goes on.
  std::string got;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (got.size() < big.size() && absl::Now() < deadline) {
    char buf[65536];
    ssize_t n = read(slow_r.get(), buf, sizeof(buf));
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    if (n <= 0) absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_GE(got.size(), big.size());
  EXPECT_EQ(got.substr(0, big.size()), big);
  ended = true;  // the process's output ends: the rest is copied, then the FIFO's EOF
  bool eof = false;
  ReadUntilEof(slow_r.get(), 10000, &eof);
  EXPECT_TRUE(eof);
  ASSERT_TRUE((*blocked)->WaitOutput(absl::Seconds(10)));
}

// CloseIO: what containerd wrote to the stdin FIFO is sent first, then stdin is closed.
TEST_F(ProcessIoTest, CloseStdinSendsWhatTheFifoHoldsThenCloses) {
  const std::string in = tmp_.Join("stdin");
  ASSERT_EQ(mkfifo(in.c_str(), 0600), 0);
  absl::Mutex mu;
  std::string sent;
  EXPECT_CALL(sb_, ReadStdout("c1", "", _)).WillRepeatedly(Return(std::string()));
  EXPECT_CALL(sb_, ReadStderr("c1", "", _)).WillRepeatedly(Return(std::string()));
  ::testing::Sequence order;
  EXPECT_CALL(sb_, WriteStdin("c1", "", _))
      .InSequence(order)
      .WillRepeatedly([&](auto&&, auto&&, absl::string_view d) -> absl::StatusOr<size_t> {
        absl::MutexLock l(&mu);
        sent.append(d.data(), d.size());
        return d.size();
      });
  absl::Notification closed;
  EXPECT_CALL(sb_, CloseStdin("c1", "")).InSequence(order).WillOnce([&](auto&&...) {
    closed.Notify();
    return absl::OkStatus();
  });
  auto io = ProcessIo::Open({.stdin = in, .stdout = out_, .stderr = err_, .terminal = false});
  ASSERT_TRUE(io.ok()) << io.status();
  UniqueFd w(open(in.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(w);
  (*io)->Start(&sb_, "c1", "");
  ASSERT_EQ(write(w.get(), "one\n", 4), 4);
  auto sent_now = [&] {
    absl::MutexLock l(&mu);
    return sent;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (sent_now() != "one\n" && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(write(w.get(), "two\n", 4), 4);  // still in the FIFO when CloseIO comes
  (*io)->CloseStdin();
  ASSERT_TRUE(closed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(sent_now(), "one\ntwo\n");
}

}  // namespace
}  // namespace shim
}  // namespace kata
