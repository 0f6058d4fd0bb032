#include "src/libs/base/testing/temp_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"

namespace kata {
namespace testing {
namespace {

using ::testing::HasSubstr;

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

bool IsEmptyDir(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return false;
  int entries = 0;
  while (readdir(d) != nullptr) ++entries;
  closedir(d);
  return entries == 2;  // "." and ".."
}

std::string RealPath(const char* path) {
  char* real = realpath(path, nullptr);
  std::string out = real != nullptr ? real : "";
  free(real);
  return out;
}

TEST(TempDir, IsAFreshPrivateDirectoryUnderTestTmpdir) {
  TempDir dir;
  const char* env = getenv("TEST_TMPDIR");
  ASSERT_NE(env, nullptr) << "run under bazel test";
  EXPECT_TRUE(absl::StartsWith(dir.path(), RealPath(env) + "/")) << dir.path();
  struct stat st;
  ASSERT_EQ(stat(dir.path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700);
  EXPECT_TRUE(IsEmptyDir(dir.path()));
}

TEST(TempDir, CanBeMadeUnderAnotherParent) {
  TempDir parent;
  std::string path;
  {
    TempDir dir(parent.path() + "/");
    path = dir.path();
    EXPECT_TRUE(absl::StartsWith(path, parent.path() + "/kata-")) << path;
    EXPECT_TRUE(IsEmptyDir(path));
  }
  EXPECT_FALSE(Exists(path));
  TempDir short_dir("/tmp");
  EXPECT_TRUE(absl::StartsWith(short_dir.path(), "/tmp/kata-")) << short_dir.path();
}

TEST(TempDirDeathTest, AbortsWithThePathAndErrnoWhenItCannotCreate) {
  TempDir dir;
  const std::string missing = dir.Join("missing");
  EXPECT_DEATH(TempDir unused(missing), "mkdtemp " + missing + "/kata-.*: ENOENT");
}

TEST(TempDir, EachIsDistinct) {
  TempDir a;
  TempDir b;
  EXPECT_NE(a.path(), b.path());
}

TEST(TempDir, JoinAppendsARelativePath) {
  TempDir dir;
  EXPECT_EQ(dir.Join("a/b"), dir.path() + "/a/b");
  EXPECT_EQ(dir.Join("/a"), dir.path() + "/a");
  EXPECT_FALSE(absl::EndsWith(dir.path(), "/"));
}

TEST(TempDir, RemovesEverythingInItButNotWhatSymlinksPointTo) {
  TempDir outside;
  ASSERT_TRUE(WriteStringToFile(outside.Join("keep"), "kept").ok());
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    ASSERT_EQ(mkdir(dir.Join("a").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(dir.Join("a/b").c_str(), 0000), 0);  // unreadable to non-root owners
    ASSERT_TRUE(WriteStringToFile(dir.Join("a/file"), "x").ok());
    ASSERT_EQ(symlink(outside.path().c_str(), dir.Join("a/to-dir").c_str()), 0);
    ASSERT_EQ(symlink(outside.Join("keep").c_str(), dir.Join("to-file").c_str()), 0);
    ASSERT_EQ(mkfifo(dir.Join("fifo").c_str(), 0600), 0);
  }
  EXPECT_FALSE(Exists(path));
  EXPECT_EQ(ReadFileOrDie(outside.Join("keep")), "kept");
}

TEST(TempDir, NeverEntersAMountPoint) {
  TempDir source;
  ASSERT_TRUE(WriteStringToFile(source.Join("precious"), "p").ok());
  TempDir dir;
  ASSERT_EQ(mkdir(dir.Join("mnt").c_str(), 0755), 0);
  // A bind mount of the same filesystem: same st_dev, so only the mount table tells.
  // Root is required (tools/test runs as root): a test that cannot run fails, never skips.
  ASSERT_EQ(mount(source.path().c_str(), dir.Join("mnt").c_str(), nullptr, MS_BIND, nullptr), 0)
      << "bind mount (run as root): errno " << errno;
  TempDir moved(std::move(dir));
  const std::string old_path = moved.path();
  const std::string mnt = moved.Join("mnt");
  moved = TempDir();  // removes the old directory: everything but the mount point
  EXPECT_EQ(ReadFileOrDie(source.Join("precious")), "p");
  EXPECT_TRUE(Exists(mnt));
  ASSERT_EQ(umount(mnt.c_str()), 0);
  EXPECT_EQ(rmdir(mnt.c_str()), 0);
  EXPECT_EQ(rmdir(old_path.c_str()), 0);  // nothing else was left
}

TEST(TempDir, AMovedFromDirectoryRemovesNothing) {
  std::string path;
  TempDir target;
  {
    TempDir dir;
    path = dir.path();
    target = std::move(dir);
  }
  EXPECT_TRUE(Exists(path));
  EXPECT_EQ(target.path(), path);
}

TEST(ReadFileOrDie, ReturnsTheContent) {
  TempDir dir;
  ASSERT_TRUE(WriteStringToFile(dir.Join("f"), "content\n").ok());
  EXPECT_EQ(ReadFileOrDie(dir.Join("f")), "content\n");
}

TEST(ReadFileOrDieDeathTest, AbortsWithThePathAndErrno) {
  TempDir dir;
  const std::string missing = dir.Join("missing");
  EXPECT_DEATH(ReadFileOrDie(missing), "ReadFileOrDie: .*open " + missing + ": ENOENT");
}

}  // namespace
}  // namespace testing
}  // namespace kata
