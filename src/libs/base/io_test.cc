#include "src/libs/base/io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata {
namespace {

using ::testing::HasSubstr;

class Pipe {
 public:
  Pipe() { ok_ = pipe2(fds_, O_CLOEXEC) == 0; }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  bool ok() const { return ok_; }
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  void CloseRead() { CloseEnd(0); }
  void CloseWrite() { CloseEnd(1); }

 private:
  void CloseEnd(int i) {
    if (fds_[i] >= 0) close(fds_[i]);
    fds_[i] = -1;
  }
  int fds_[2] = {-1, -1};
  bool ok_ = false;
};

// More than a pipe buffer (64 KiB), with every byte value, so both sides loop.
std::string BigPayload() {
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 % 256);
  return data;
}

TEST(WriteAllReadAll, RoundTripLargerThanThePipeBuffer) {
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  const std::string payload = BigPayload();
  absl::Status written;
  std::thread writer([&] {
    written = WriteAll(pipe.write_end(), payload);
    pipe.CloseWrite();
  });
  absl::StatusOr<std::string> read = ReadAll(pipe.read_end());
  writer.join();
  ASSERT_TRUE(written.ok()) << written;
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size(), payload.size());
  EXPECT_TRUE(*read == payload);
}

TEST(ReadAll, EmptyAtEndOfFile) {
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  pipe.CloseWrite();
  absl::StatusOr<std::string> read = ReadAll(pipe.read_end());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "");
}

TEST(ReadAll, ABadDescriptorNamesTheFdAndErrno) {
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  int fd = pipe.read_end();
  pipe.CloseRead();
  absl::StatusOr<std::string> read = ReadAll(fd);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(std::string(read.status().message()),
              HasSubstr(absl::StrCat("read fd ", fd, ": EBADF")));
}

TEST(WriteAll, EmptyDataWritesNothing) { EXPECT_TRUE(WriteAll(-1, "").ok()); }

TEST(WriteAll, AClosedPipeIsUnavailableAndNamesTheFd) {
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old;
  ASSERT_EQ(sigaction(SIGPIPE, &ignore, &old), 0);
  Pipe pipe;
  ASSERT_TRUE(pipe.ok());
  pipe.CloseRead();
  absl::Status s = WriteAll(pipe.write_end(), "data");
  sigaction(SIGPIPE, &old, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(absl::StrCat("write fd ", pipe.write_end(), ": EPIPE")));
}

}  // namespace
}  // namespace kata
