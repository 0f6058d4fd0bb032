#include "src/runtime/hypervisor/qemu/page_out.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata::hypervisor::qemu {
namespace {

constexpr size_t kFileSize = 8 << 20;
constexpr long kTmpfsMagic = 0x01021994;

TEST(ParseFileMappingsTest, KeepsFileMappingsWithTheirDeviceAndInode) {
  const std::string maps =
      "55d0c0a00000-55d0c0b2e000 r--p 00000000 fd:01 1234567                    "
      "/usr/bin/qemu-system-x86_64\n"
      "7f0000000000-7f0000d80000 r--p 00001000 08:11 42 /opt/kata/vmlinux (deleted)\n"
      "7f1000000000-7f1000021000 rw-p 00000000 00:00 0 \n"
      "7ffd0000000-7ffd0021000 rw-p 00000000 00:00 0                          [stack]\n"
      "7f2000000000-7f2000001000 r--p 00000000 00:05 99 /memfd:guest ram with spaces\n";
  absl::StatusOr<std::vector<FileMapping>> m = ParseFileMappings(maps);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0].start, 0x55d0c0a00000u);
  EXPECT_EQ((*m)[0].end, 0x55d0c0b2e000u);
  EXPECT_EQ((*m)[0].dev, makedev(0xfd, 0x01));
  EXPECT_EQ((*m)[0].inode, 1234567u);
  EXPECT_EQ((*m)[1].dev, makedev(0x08, 0x11));
  EXPECT_EQ((*m)[1].inode, 42u);
  EXPECT_EQ((*m)[2].dev, makedev(0, 5));
}

TEST(ParseFileMappingsTest, MalformedLineIsAnErrorQuotingIt) {
  for (const char* bad :
       {"7f00-7e00 r--p 0 08:11 42 /x\n", "zz-7f00 r--p 0 08:11 42 /x\n",
        "7f00-7f10 r--p 0 0811 42 /x\n", "7f00-7f10 r--p\n", "7f00-7f10 r--p 0 08:11 inode /x\n"}) {
    absl::StatusOr<std::vector<FileMapping>> m = ParseFileMappings(bad);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(m.status().message(), ::testing::HasSubstr("malformed line")) << bad;
  }
  EXPECT_TRUE(ParseFileMappings("").ok());
}

// Rss (kB) of the mapping starting at `start` in /proc/PID/smaps; -1 if there is none.
long MappingRssKb(pid_t pid, uintptr_t start) {
  absl::StatusOr<std::string> smaps = ReadFileToString(absl::StrCat("/proc/", pid, "/smaps"));
  if (!smaps.ok()) return -1;
  const std::string head = absl::StrCat(absl::Hex(start), "-");
  bool in = false;
  for (absl::string_view line : absl::StrSplit(*smaps, '\n')) {
    if (!line.empty() && absl::ascii_isxdigit(line[0]) && line.find('-') < 17) {
      in = absl::StartsWith(line, head);
    } else if (in && absl::ConsumePrefix(&line, "Rss:")) {
      long kb = -1;
      (void)absl::SimpleAtoi(absl::StripSuffix(absl::StripAsciiWhitespace(line), " kB"), &kb);
      return kb;
    }
  }
  return -1;
}

// A child that maps `path` privately read-only (as QEMU maps the kernel), reads every page,
// reports the mapping's address on `ready` and waits to be killed.
pid_t SpawnMapper(const std::string& path, uintptr_t* start) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    const int fd = open(path.c_str(), O_RDONLY);
    void* p = mmap(nullptr, kFileSize, PROT_READ, MAP_PRIVATE, fd, 0);
    if (fd < 0 || p == MAP_FAILED) _exit(1);
    for (size_t i = 0; i < kFileSize; i += 4096) {
      volatile char c = static_cast<const char*>(p)[i];  // fault the page in
      (void)c;
    }
    const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
    if (write(pipefd[1], &addr, sizeof(addr)) != sizeof(addr)) _exit(1);
    for (;;) pause();
  }
  close(pipefd[1]);
  const bool got = pid > 0 && read(pipefd[0], start, sizeof(*start)) == sizeof(*start);
  close(pipefd[0]);
  return got ? pid : -1;
}

class PageOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A disk file: tmpfs pages are not file-backed page cache and never page out.
    struct statfs fs;
    ASSERT_EQ(statfs(dir_.path().c_str(), &fs), 0);
    ASSERT_NE(fs.f_type, kTmpfsMagic) << dir_.path() << " is tmpfs: this test needs a disk";
    path_ = dir_.Join("kernel");
    ASSERT_TRUE(WriteStringToFile(path_, std::string(kFileSize, 'k')).ok());
    const int fd = open(path_.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(fsync(fd), 0);  // clean pages: they page out without a writeback
    close(fd);
    pid_ = SpawnMapper(path_, &start_);
    ASSERT_GT(pid_, 0);
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  kata::testing::TempDir dir_;
  std::string path_;
  pid_t pid_ = -1;
  uintptr_t start_ = 0;
};

TEST_F(PageOutTest, DropsTheFilesPagesFromAnotherProcesssRss) {
  ASSERT_GE(MappingRssKb(pid_, start_), static_cast<long>(kFileSize / 1024 * 9 / 10));
  // Found through a symlink: matched by device and inode, not by name.
  const std::string link = dir_.Join("link");
  ASSERT_EQ(symlink(path_.c_str(), link.c_str()), 0);
  absl::StatusOr<PageOutResult> r = PageOutFileMappings(pid_, {link, ""});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mappings, 1u);
  EXPECT_EQ(r->bytes, kFileSize);
  EXPECT_LT(MappingRssKb(pid_, start_), static_cast<long>(kFileSize / 1024 / 10));
  // The process is unharmed: still running, its mapping still there.
  EXPECT_EQ(kill(pid_, 0), 0);
  EXPECT_GE(MappingRssKb(pid_, start_), 0);
}

TEST_F(PageOutTest, OtherFilesAreLeftAlone) {
  const std::string other = dir_.Join("other");
  ASSERT_TRUE(WriteStringToFile(other, "x").ok());
  absl::StatusOr<PageOutResult> r = PageOutFileMappings(pid_, {other});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mappings, 0u);
  EXPECT_GE(MappingRssKb(pid_, start_), static_cast<long>(kFileSize / 1024 * 9 / 10));
}

TEST_F(PageOutTest, MissingFileOrProcessIsNotFoundNamingIt) {
  absl::StatusOr<PageOutResult> r = PageOutFileMappings(pid_, {dir_.Join("nope")});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr(dir_.Join("nope")));
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  const pid_t gone = pid_;
  pid_ = -1;
  r = PageOutFileMappings(gone, {path_});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr(absl::StrCat(gone)));
}

}  // namespace
}  // namespace kata::hypervisor::qemu
