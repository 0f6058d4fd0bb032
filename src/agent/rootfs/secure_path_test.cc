#include "src/agent/rootfs/secure_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace rootfs {
namespace {

class SecurePathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(outside_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/etc").c_str(), 0755), 0);
  }
  void Symlink(const std::string& target, const std::string& name) {
    ASSERT_EQ(symlink(target.c_str(), (root_ + "/" + name).c_str()), 0);
  }
  bool Exists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
  }

  kata::testing::TempDir dir_;
  const std::string root_ = dir_.Join("root");
  const std::string outside_ = dir_.Join("outside");
};

TEST_F(SecurePathTest, DotDotEscapeIsRejected) {
  EXPECT_TRUE(CheckNoDotDotEscape("/a/b/../c").ok());
  EXPECT_TRUE(CheckNoDotDotEscape("/a/..").ok());
  EXPECT_EQ(CheckNoDotDotEscape("../../etc").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckNoDotDotEscape("/a/../../etc").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveInRoot(root_, "/../outside").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SecurePathTest, PlainPathsAreCleaned) {
  EXPECT_EQ(*ResolveInRoot(root_, "/"), "");
  EXPECT_EQ(*ResolveInRoot(root_, "/etc//./hosts"), "etc/hosts");
  EXPECT_EQ(*ResolveInRoot(root_, "etc/missing/../x"), "etc/x");
}

TEST_F(SecurePathTest, AbsoluteSymlinkOutsideIsConfined) {
  Symlink(outside_, "evil");
  EXPECT_EQ(*ResolveInRoot(root_, "/evil/x"), outside_.substr(1) + "/x");
}

TEST_F(SecurePathTest, RelativeSymlinkClimbingOutIsConfined) {
  Symlink("../../../../../outside", "etc/evil");
  EXPECT_EQ(*ResolveInRoot(root_, "/etc/evil/x"), "outside/x");
}

TEST_F(SecurePathTest, SymlinkInsideIsFollowed) {
  Symlink("etc", "link");
  Symlink("/link/a", "abs");
  EXPECT_EQ(*ResolveInRoot(root_, "/link/y"), "etc/y");
  EXPECT_EQ(*ResolveInRoot(root_, "/abs"), "etc/a");
}

TEST_F(SecurePathTest, SymlinkLoopFails) {
  Symlink("b", "a");
  Symlink("a", "b");
  EXPECT_EQ(ResolveInRoot(root_, "/a").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SecurePathTest, CreateMakesDirectoriesAndFiles) {
  ASSERT_TRUE(CreateInRoot(root_, "a/b/c", false).ok());
  struct stat st;
  ASSERT_EQ(stat((root_ + "/a/b/c").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_TRUE(CreateInRoot(root_, "a/f", true).ok());
  ASSERT_EQ(stat((root_ + "/a/f").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_TRUE(CreateInRoot(root_, "a/b/c", false).ok());  // existing: fine
  EXPECT_TRUE(CreateInRoot(root_, "a/f", true).ok());
}

TEST_F(SecurePathTest, CreateNeverFollowsSymlinks) {
  Symlink(outside_, "evil");
  EXPECT_FALSE(CreateInRoot(root_, "evil/x", false).ok());
  EXPECT_FALSE(CreateInRoot(root_, "evil", true).ok());
  EXPECT_FALSE(Exists(outside_ + "/x"));
}

TEST_F(SecurePathTest, ResolveThenCreateStaysInside) {
  Symlink(outside_, "evil");
  absl::StatusOr<std::string> rel = ResolveInRoot(root_, "/evil/x");
  ASSERT_TRUE(rel.ok());
  ASSERT_TRUE(CreateInRoot(root_, *rel, false).ok());
  EXPECT_FALSE(Exists(outside_ + "/x"));
  EXPECT_TRUE(Exists(JoinRoot(root_, *rel)));
}

}  // namespace
}  // namespace rootfs
}  // namespace kata
