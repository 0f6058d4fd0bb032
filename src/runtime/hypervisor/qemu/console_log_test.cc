// RotatingFile and ConsoleReader without a VM (issue 11 item 4): the console log never grows
// past its cap, whatever is written into the socket, and keeps the newest output.
#include "src/runtime/hypervisor/qemu/console_log.h"

#include <errno.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata::hypervisor::qemu {
namespace {

off_t SizeOf(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? st.st_mode : 0;
}

// "00000000\n00000001\n...": each line names its position, so the survivors can be checked.
std::string Lines(int first, int count) {
  std::string s;
  for (int i = first; i < first + count; ++i) absl::StrAppendFormat(&s, "%08d\n", i);
  return s;
}

class ConsoleLogTest : public ::testing::Test {
 protected:
  std::string Log() const { return tmp_.Join("console.log"); }
  std::string Old() const { return tmp_.Join("console.log.1"); }
  std::string Both() const {
    return ReadFileToString(Old()).value_or("") + ReadFileToString(Log()).value_or("");
  }
  kata::testing::TempDir tmp_;
};

TEST_F(ConsoleLogTest, RotatesIntoDotOneAndKeepsTheNewestBytes) {
  absl::StatusOr<std::unique_ptr<RotatingFile>> f = RotatingFile::Open(Log(), 4096);
  ASSERT_TRUE(f.ok()) << f.status();
  const std::string all = Lines(0, 3000);  // 27000 bytes
  for (size_t i = 0; i < all.size(); i += 100) {
    ASSERT_TRUE((*f)->Append(all.substr(i, 100)).ok());
    ASSERT_LE(SizeOf(Log()), 4096);
  }
  EXPECT_EQ(SizeOf(Old()), 4096);
  EXPECT_EQ(static_cast<uint64_t>(SizeOf(Log())), (*f)->size());
  EXPECT_EQ((*f)->rotations(), all.size() / 4096);
  const std::string kept = Both();
  EXPECT_EQ(kept, all.substr(all.size() - kept.size()));
  EXPECT_EQ(ModeOf(Log()) & 07777, 0600u);
  EXPECT_EQ(ModeOf(Old()) & 07777, 0600u);
}

TEST_F(ConsoleLogTest, OneHugeAppendKeepsOnlyItsTail) {
  absl::StatusOr<std::unique_ptr<RotatingFile>> f = RotatingFile::Open(Log(), 4096);
  ASSERT_TRUE(f.ok()) << f.status();
  const std::string all = Lines(0, 100000);  // 900 KB in one call
  ASSERT_TRUE((*f)->Append(all).ok());
  EXPECT_LE(SizeOf(Log()), 4096);
  EXPECT_LE(SizeOf(Old()), 4096);
  const std::string kept = Both();
  EXPECT_GE(kept.size(), 4096u);
  EXPECT_EQ(kept, all.substr(all.size() - kept.size()));
}

TEST_F(ConsoleLogTest, OpenStartsAfreshAndNeverFollowsASymlink) {
  ASSERT_TRUE(WriteStringToFile(Old(), "old run\n").ok());
  const std::string victim = tmp_.Join("victim");
  ASSERT_TRUE(WriteStringToFile(victim, "host file\n").ok());
  ASSERT_EQ(symlink(victim.c_str(), Log().c_str()), 0);
  umask(0);
  absl::StatusOr<std::unique_ptr<RotatingFile>> f = RotatingFile::Open(Log(), 4096);
  umask(022);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->Append("new run\n").ok());
  EXPECT_TRUE(S_ISREG(ModeOf(Log())));
  EXPECT_EQ(ModeOf(Log()) & 07777, 0600u);
  EXPECT_EQ(ReadFileToString(Log()).value_or(""), "new run\n");
  EXPECT_EQ(SizeOf(Old()), -1) << "the previous run's .1 is removed";
  EXPECT_EQ(ReadFileToString(victim).value_or(""), "host file\n");
}

TEST_F(ConsoleLogTest, BadArgumentsAreRefused) {
  EXPECT_EQ(RotatingFile::Open("console.log", 4096).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RotatingFile::Open(Log(), 100).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RotatingFile::Open(tmp_.Join("missing/console.log"), 4096).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(SizeOf(Log()), -1);
}

// Writes `data` into QEMU's end as QEMU does (non-blocking): waits while the socket is full.
void WriteLikeQemu(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = write(fd, data.data() + off, std::min<size_t>(data.size() - off, 1 << 16));
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      struct pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, 1000);
    } else {
      ADD_FAILURE() << "write: " << errno;
      return;
    }
  }
}

TEST_F(ConsoleLogTest, HundredMibThroughTheSocketStayUnderTheCap) {
  constexpr uint64_t kCap = 1 << 20;
  absl::StatusOr<std::unique_ptr<ConsoleReader>> r = ConsoleReader::Start(Log(), kCap);
  ASSERT_TRUE(r.ok()) << r.status();
  UniqueFd qemu(dup((*r)->qemu_fd()));
  (*r)->ReleaseQemuFd();
  EXPECT_EQ((*r)->qemu_fd(), -1);
  constexpr int kLines = 100 * 1024 * 1024 / 9;  // 100 MiB of 9-byte lines
  constexpr int kBatch = 100000;
  std::thread sizes([&] {
    // Sampled while the flood runs: never above the cap.
    for (int i = 0; i < 200; ++i) {
      EXPECT_LE(SizeOf(Log()), static_cast<off_t>(kCap));
      EXPECT_LE(SizeOf(Old()), static_cast<off_t>(kCap));
      usleep(2000);
    }
  });
  for (int first = 0; first < kLines; first += kBatch) {
    WriteLikeQemu(qemu.get(), Lines(first, std::min(kBatch, kLines - first)));
  }
  qemu.reset();        // QEMU exits
  (*r)->WaitForEof();  // the thread ends by itself
  sizes.join();
  const ConsoleReader::Stats stats = (*r)->stats();
  EXPECT_EQ(stats.bytes_read, uint64_t{kLines} * 9);
  EXPECT_EQ(stats.bytes_dropped, 0u);
  EXPECT_EQ(stats.rotations, uint64_t{kLines} * 9 / kCap);
  EXPECT_LE(SizeOf(Log()), static_cast<off_t>(kCap));
  EXPECT_EQ(SizeOf(Old()), static_cast<off_t>(kCap));
  const std::string kept = Both();
  const std::string tail = Lines(kLines - 1000, 1000);
  ASSERT_GE(kept.size(), tail.size());
  EXPECT_EQ(kept.substr(kept.size() - tail.size()), tail) << "the newest output survives";
  r->reset();
}

TEST_F(ConsoleLogTest, DestroyingTheReaderDrainsWhatIsBuffered) {
  absl::StatusOr<std::unique_ptr<ConsoleReader>> r = ConsoleReader::Start(Log(), 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status();
  // QEMU's end stays open (held by the reader): only the destructor ends the thread.
  WriteLikeQemu((*r)->qemu_fd(), "last words before the host stopped the VM\n");
  r->reset();
  EXPECT_EQ(ReadFileToString(Log()).value_or(""), "last words before the host stopped the VM\n");
}

}  // namespace
}  // namespace kata::hypervisor::qemu
