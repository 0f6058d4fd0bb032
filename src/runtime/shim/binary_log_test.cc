// binary:// logging (binary_log.h) with a real logging binary built for the test
// (testing/test_logger.cc): containerd's contract (fds 3/4/5, arguments, environment), a
// ProcessIo feeding it a process's output and stopping it when the output ends, and the
// SIGTERM/SIGKILL and not-ready paths.
#include "src/runtime/shim/binary_log.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/sandbox/testing/mock_sandbox.h"
#include "src/runtime/shim/process_io.h"

namespace kata {
namespace shim {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Return;

std::string LoggerPath() {
  char* real = realpath("src/runtime/shim/test_logger", nullptr);
  EXPECT_NE(real, nullptr) << "test_logger missing from the runfiles";
  std::string path = real == nullptr ? "" : real;
  free(real);
  return path;
}

// Waits up to 10 s for `path` to contain `text`; returns the content.
std::string WaitForContent(const std::string& path, const std::string& text) {
  std::string got;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<std::string> s = ReadFileToString(path);
    if (s.ok()) got = *s;
    if (got.find(text) != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return got;
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

class BinaryLogTest : public ::testing::Test {
 protected:
  std::string Uri(const std::string& extra = "") {
    return absl::StrCat("binary://", logger_, "?file=", base_, extra);
  }
  kata::testing::TempDir tmp_;
  const std::string base_ = tmp_.Join("log");
  const std::string logger_ = LoggerPath();
  runtime::testing::MockSandbox sb_;
};

TEST(BinaryLogUriTest, ParsesPathAndQueryAsContainerdDoes) {
  absl::StatusOr<BinaryLogCommand> c =
      ParseBinaryLogUri("binary:///usr/bin/my%20logger?a=1&b&a=2&c=x%20y+z&d=");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->path, "/usr/bin/my logger");
  EXPECT_THAT(c->args, ElementsAre("a", "1", "b", "c", "x y z", "d", ""));
  c = ParseBinaryLogUri("binary:///bin/l");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->args.empty());
  for (const char* bad :
       {"binary://relative/l", "file:///l", "binary:///l%zz", "binary:///l?a=%"}) {
    absl::StatusOr<BinaryLogCommand> r = ParseBinaryLogUri(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(bad));
  }
}

// The process's output reaches the binary on fds 3 and 4; it gets containerd's arguments and
// environment (only CONTAINER_ID and CONTAINER_NAMESPACE) and /dev/null as stdin; it sees EOF
// and is gone once the output ended.
TEST_F(BinaryLogTest, ProcessIoFeedsTheLoggerAndStopsItWithTheProcess) {
  EXPECT_CALL(sb_, ReadStdout("c1", "", _))
      .WillOnce(Return(std::string("out 1\n")))
      .WillOnce(Return(std::string("out 2\n")))
      .WillRepeatedly(Return(std::string()));
  EXPECT_CALL(sb_, ReadStderr("c1", "", _))
      .WillOnce(Return(std::string("err\n")))
      .WillRepeatedly(Return(std::string()));
  EXPECT_CALL(sb_, CloseStdin("c1", "")).WillRepeatedly(Return(absl::OkStatus()));
  auto io = ProcessIo::Open({.stdin = "", .stdout = Uri(), .stderr = Uri(), .terminal = false},
                            {.container_id = "c1", .ns = "k8s.io"});
  ASSERT_TRUE(io.ok()) << io.status();
  // Ready means the binary already ran: its metadata is written.
  const std::string meta = kata::testing::ReadFileOrDie(base_ + ".meta");
  EXPECT_THAT(meta, HasSubstr(absl::StrCat("argv: file ", base_, "\n")));
  EXPECT_THAT(meta, HasSubstr("env: CONTAINER_ID=c1\nenv: CONTAINER_NAMESPACE=k8s.io\nfd0: "
                              "/dev/null\n"));
  EXPECT_EQ(std::count(meta.begin(), meta.end(), '\n'), 4) << meta;  // argv, 2 env, fd0

  (*io)->Start(&sb_, "c1", "");
  ASSERT_TRUE((*io)->WaitOutput(absl::Seconds(10)));
  EXPECT_THAT(WaitForContent(base_ + ".meta", "eof\n"), HasSubstr("eof\n"));
  io->reset();  // joins the copy threads: the binary is reaped by now
  EXPECT_EQ(kata::testing::ReadFileOrDie(base_ + ".out"), "out 1\nout 2\n");
  EXPECT_EQ(kata::testing::ReadFileOrDie(base_ + ".err"), "err\n");
  EXPECT_THAT(kata::testing::ReadFileOrDie(base_ + ".meta"), ::testing::Not(HasSubstr("sigterm")));
}

// With a terminal there is no stderr stream: the binary still gets EOF on fd 4.
TEST_F(BinaryLogTest, TerminalProcessClosesTheStderrPipe) {
  EXPECT_CALL(sb_, ReadStdout("c1", "e1", _))
      .WillOnce(Return(std::string("tty\n")))
      .WillRepeatedly(Return(std::string()));
  auto io = ProcessIo::Open({.stdin = "", .stdout = Uri(), .stderr = "", .terminal = true},
                            {.container_id = "c1", .ns = "default"});
  ASSERT_TRUE(io.ok()) << io.status();
  (*io)->Start(&sb_, "c1", "e1");
  ASSERT_TRUE((*io)->WaitOutput(absl::Seconds(10)));
  EXPECT_THAT(WaitForContent(base_ + ".meta", "eof\n"), HasSubstr("eof\n"));
  io->reset();
  EXPECT_EQ(kata::testing::ReadFileOrDie(base_ + ".out"), "tty\n");
}

// A process that never started: destroying its ProcessIo stops the binary.
TEST_F(BinaryLogTest, UnstartedProcessStopsTheLoggerWhenDestroyed) {
  auto io = ProcessIo::Open({.stdin = "", .stdout = Uri(), .stderr = Uri(), .terminal = false},
                            {.container_id = "c1", .ns = "default"});
  ASSERT_TRUE(io.ok()) << io.status();
  io->reset();
  EXPECT_THAT(kata::testing::ReadFileOrDie(base_ + ".meta"), HasSubstr("eof\n"));
}

// A binary still running after EOF gets SIGTERM; one ignoring SIGTERM is killed after the
// grace period. Either way Stop reaps it.
TEST_F(BinaryLogTest, StopSendsSigtermThenSigkill) {
  auto logger = BinaryLogger::Start(Uri("&mode=linger"), "c1", "default");
  ASSERT_TRUE(logger.ok()) << logger.status();
  const pid_t pid = (*logger)->pid();
  (*logger)->Stop(absl::Seconds(10));
  EXPECT_FALSE(Alive(pid));
  EXPECT_THAT(kata::testing::ReadFileOrDie(base_ + ".meta"), HasSubstr("eof\nsigterm\n"));

  logger = BinaryLogger::Start(Uri("&mode=ignore-term"), "c1", "default");
  ASSERT_TRUE(logger.ok()) << logger.status();
  const pid_t stubborn = (*logger)->pid();
  const absl::Time start = absl::Now();
  (*logger)->Stop(absl::Seconds(1));
  EXPECT_FALSE(Alive(stubborn));
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));
}

TEST_F(BinaryLogTest, ABinaryThatNeverGetsReadyIsKilled) {
  auto logger = BinaryLogger::Start(Uri("&mode=never-ready"), "c1", "default", absl::Seconds(1));
  EXPECT_EQ(logger.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(logger.status().message()), HasSubstr("not ready within 1s"));
  EXPECT_THAT(kata::testing::ReadFileOrDie(base_ + ".meta"), HasSubstr("fd0: /dev/null\n"));
}

TEST_F(BinaryLogTest, BadTargetsAreClearErrors) {
  const std::string missing = tmp_.Join("no-such-logger");
  auto r = ProcessIo::Open({.stdin = "", .stdout = "binary://" + missing, .stderr = ""}, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(missing + " is not an executable file"));

  const std::string fifo = tmp_.Join("out");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  r = ProcessIo::Open({.stdin = "", .stdout = fifo, .stderr = Uri()}, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("must be named by stdout"));
}

}  // namespace
}  // namespace shim
}  // namespace kata
