// ProcessIo against a gMock sandbox and real FIFOs: what containerd's reader sees.
#include "src/runtime/shim/process_io.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
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

}  // namespace
}  // namespace shim
}  // namespace kata
