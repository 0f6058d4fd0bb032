// Storages mounted for real on this host (bind, ephemeral tmpfs, local dirs, reference
// counting, rollback). 9p and virtio-fs need a VM: the guest boot test covers them.
#include "src/agent/storage/storage.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace agent {
namespace {

bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

bool IsMounted(const std::string& p) {
  return absl::StrContains(kata::testing::ReadFileOrDie("/proc/self/mountinfo"),
                           absl::StrCat(" ", p, " "));
}

grpc::Storage MakeStorage(const std::string& driver, const std::string& source,
                          const std::string& mp, std::vector<std::string> options = {}) {
  grpc::Storage s;
  s.set_driver(driver);
  s.set_source(source);
  s.set_mount_point(mp);
  for (auto& o : options) s.add_options(o);
  return s;
}

class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (mounts)";
    ASSERT_EQ(mkdir((dir_ + "/src").c_str(), 0755), 0);
    ASSERT_TRUE(WriteStringToFile(dir_ + "/src/file", "hello").ok());
  }
  void TearDown() override {
    // What a failed case left mounted; the TempDir then removes the rest.
    std::string cmd = absl::StrCat("grep -o ' ", dir_, "[^ ]*' /proc/self/mountinfo | sort -r | ",
                                   "xargs -r -n1 umount -l");
    EXPECT_EQ(system(cmd.c_str()), 0);
  }
  kata::testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
  StorageManager mgr_{StorageOptions{}};
};

TEST_F(StorageTest, BindIsRefCountedByMountPoint) {
  google::protobuf::RepeatedPtrField<grpc::Storage> req;
  *req.Add() = MakeStorage("bind", dir_ + "/src", dir_ + "/a/b/mnt", {"ro"});
  absl::StatusOr<std::vector<std::string>> h1 = mgr_.Add(req);
  ASSERT_TRUE(h1.ok()) << h1.status();
  absl::StatusOr<std::vector<std::string>> h2 = mgr_.Add(req);
  ASSERT_TRUE(h2.ok()) << h2.status();
  EXPECT_TRUE(IsMounted(dir_ + "/a/b/mnt"));
  EXPECT_TRUE(Exists(dir_ + "/a/b/mnt/file"));
  EXPECT_NE(access((dir_ + "/a/b/mnt/new").c_str(), F_OK), 0);
  EXPECT_FALSE(WriteStringToFile(dir_ + "/a/b/mnt/new", "").ok()) << "ro bind is writable";
  EXPECT_EQ(mgr_.Held()[dir_ + "/a/b/mnt"], 2);

  ASSERT_TRUE(mgr_.Release(*h1).ok());
  EXPECT_TRUE(IsMounted(dir_ + "/a/b/mnt"));
  ASSERT_TRUE(mgr_.Release(*h2).ok());
  EXPECT_FALSE(IsMounted(dir_ + "/a/b/mnt"));
  EXPECT_FALSE(Exists(dir_ + "/a")) << "created directories are removed";
  EXPECT_TRUE(mgr_.Held().empty());
}

TEST_F(StorageTest, EphemeralAndLocal) {
  google::protobuf::RepeatedPtrField<grpc::Storage> req;
  *req.Add() = MakeStorage("ephemeral", "tmpfs", dir_ + "/eph", {"size=1m"});
  *req.Add() = MakeStorage("local", "local", dir_ + "/loc", {"mode=0750"});
  absl::StatusOr<std::vector<std::string>> h = mgr_.Add(req);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(IsMounted(dir_ + "/eph"));
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/loc").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_TRUE(WriteStringToFile(dir_ + "/loc/x", "x").ok());
  ASSERT_TRUE(mgr_.Release(*h).ok());
  EXPECT_FALSE(IsMounted(dir_ + "/eph"));
  EXPECT_FALSE(Exists(dir_ + "/loc"));
}

TEST_F(StorageTest, FsGroupSetsTheGroup) {
  google::protobuf::RepeatedPtrField<grpc::Storage> req;
  grpc::Storage s = MakeStorage("ephemeral", "tmpfs", dir_ + "/vol");
  s.mutable_fs_group()->set_group_id(4321);
  *req.Add() = s;
  absl::StatusOr<std::vector<std::string>> h = mgr_.Add(req);
  ASSERT_TRUE(h.ok()) << h.status();
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/vol").c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 4321u);
  EXPECT_NE(st.st_mode & S_ISGID, 0u);
  ASSERT_TRUE(mgr_.Release(*h).ok());
}

TEST_F(StorageTest, FailureUndoesEverything) {
  google::protobuf::RepeatedPtrField<grpc::Storage> req;
  *req.Add() = MakeStorage("bind", dir_ + "/src", dir_ + "/ok");
  *req.Add() = MakeStorage("bind", dir_ + "/missing", dir_ + "/bad");
  absl::StatusOr<std::vector<std::string>> h = mgr_.Add(req);
  EXPECT_FALSE(h.ok());
  EXPECT_THAT(std::string(h.status().message()), ::testing::HasSubstr(dir_ + "/bad"));
  EXPECT_FALSE(IsMounted(dir_ + "/ok"));
  EXPECT_FALSE(Exists(dir_ + "/ok"));
  EXPECT_TRUE(mgr_.Held().empty());
}

TEST_F(StorageTest, RejectsBadRequests) {
  for (const auto& s :
       {MakeStorage("bind", dir_ + "/src", "relative"),
        MakeStorage("bind", dir_ + "/src", dir_ + "/../x"),
        MakeStorage("nvdimm-ish", "x", dir_ + "/n"), MakeStorage("blk", "02/00", dir_ + "/b")}) {
    google::protobuf::RepeatedPtrField<grpc::Storage> req;
    *req.Add() = s;
    absl::StatusOr<std::vector<std::string>> h = mgr_.Add(req);
    EXPECT_FALSE(h.ok()) << s.DebugString();
  }
  EXPECT_TRUE(mgr_.Held().empty());
}

}  // namespace
}  // namespace agent
}  // namespace kata
