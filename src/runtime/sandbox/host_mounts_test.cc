// host_mounts with real mounts: fd-relative targets never follow a symlink, every bind is
// nosuid,nodev (ro recursive when asked), MountAll rolls back, UnmountUnder. Root.
#include "src/runtime/sandbox/host_mounts.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::IsEmpty;

class HostMountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test mounts: run it as root";
    tmp_ = dir_.path();
    fs::create_directories(tmp_ + "/src/sub");
    fs::create_directories(tmp_ + "/tree/t");
    fs::create_directories(tmp_ + "/outside");
    ASSERT_TRUE(WriteStringToFile(tmp_ + "/src/file", "data\n").ok());
    absl::StatusOr<UniqueFd> tree = OpenDirNoFollow(tmp_ + "/tree");
    ASSERT_TRUE(tree.ok()) << tree.status();
    tree_ = *std::move(tree);
  }
  void TearDown() override {
    UnmountUnder(tmp_).IgnoreError();
    EXPECT_THAT(*MountPointsUnder(tmp_), IsEmpty());
  }
  MountTarget Target(const std::string& name) {
    return {tree_.get(), name, tmp_ + "/tree/" + name};
  }

  kata::testing::TempDir dir_;
  std::string tmp_;
  UniqueFd tree_;
};

TEST_F(HostMountsTest, BindIsNosuidNodevAndReadOnlyRecursivelyWhenAsked) {
  ASSERT_EQ(mount("tmpfs", (tmp_ + "/src/sub").c_str(), "tmpfs", 0, nullptr), 0);
  ASSERT_TRUE(BindMount(tmp_ + "/src", Target("t"), {.recursive = true, .read_only = true}).ok());
  struct statvfs v;
  for (const char* p : {"/tree/t", "/tree/t/sub"}) {
    ASSERT_EQ(statvfs((tmp_ + p).c_str(), &v), 0);
    EXPECT_TRUE(v.f_flag & ST_NOSUID) << p;
    EXPECT_TRUE(v.f_flag & ST_NODEV) << p;
    EXPECT_TRUE(v.f_flag & ST_RDONLY) << p;
  }
  EXPECT_EQ(kata::testing::ReadFileOrDie(tmp_ + "/tree/t/file"), "data\n");
  ASSERT_TRUE(UnmountUnder(tmp_ + "/tree").ok());
  EXPECT_THAT(*MountPointsUnder(tmp_ + "/tree"), IsEmpty());
  ASSERT_EQ(umount2((tmp_ + "/src/sub").c_str(), MNT_DETACH), 0);
}

TEST_F(HostMountsTest, TargetsNeverFollowSymlinks) {
  ASSERT_EQ(symlink((tmp_ + "/outside").c_str(), (tmp_ + "/tree/link").c_str()), 0);
  absl::Status s = BindMount(tmp_ + "/src", Target("link"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(MountAll({{"tmpfs", "tmpfs", {}}}, Target("link")).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(BindMount(tmp_ + "/src", Target("../outside")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeDirAt(tree_.get(), "link", 0755, "link").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(OpenDirNoFollow(tmp_ + "/tree/link").ok());
  EXPECT_THAT(*MountPointsUnder(tmp_), IsEmpty());
  EXPECT_TRUE(fs::is_empty(tmp_ + "/outside"));
}

TEST_F(HostMountsTest, MountAllIsAllOrNothingAndFlagsApply) {
  absl::Status s =
      MountAll({{"tmpfs", "tmpfs", {"size=1m"}}, {"overlay", "overlay", {"bad=1"}}}, Target("t"));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), ::testing::HasSubstr("mount overlay overlay on " + tmp_ + "/tree/t"));
  EXPECT_THAT(*MountPointsUnder(tmp_), IsEmpty());
  ASSERT_TRUE(MountAll({{"tmpfs", "tmpfs", {"ro", "size=1m"}}}, Target("t")).ok());
  struct statvfs v;
  ASSERT_EQ(statvfs((tmp_ + "/tree/t").c_str(), &v), 0);
  EXPECT_TRUE(v.f_flag & ST_RDONLY);
  EXPECT_TRUE(v.f_flag & ST_NOSUID);
  EXPECT_TRUE(v.f_flag & ST_NODEV);
}

TEST_F(HostMountsTest, MakeDirAtHasTheExactMode) {
  mode_t old = umask(077);
  absl::StatusOr<UniqueFd> d = MakeDirAt(tree_.get(), "m", 0755, "m");
  umask(old);
  ASSERT_TRUE(d.ok()) << d.status();
  struct stat st;
  ASSERT_EQ(stat((tmp_ + "/tree/m").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(MakeDirAt(tree_.get(), "m", 0755, "m").status().code(),
            absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace kata::runtime
