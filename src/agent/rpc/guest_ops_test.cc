// CopyFile, OnlineCPUMem and SetGuestDateTime against temp directories and a fake clock
// (the host's clock and sysfs are never touched).
#include "src/agent/rpc/guest_ops.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace agent {
namespace {

using ::kata::testing::ReadFileOrDie;

class GuestOpsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(system(("mkdir -p " + base_).c_str()), 0); }

  kata::testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
  const std::string base_ = dir_ + "/run/kata-containers";
};

TEST_F(GuestOpsTest, CopyFileWritesChunksThenRenames) {
  grpc::CopyFileRequest r;
  r.set_path(base_ + "/shared/a/b/resolv.conf");
  r.set_file_size(10);
  r.set_file_mode(S_IFREG | 0640);
  r.set_dir_mode(0750);
  r.set_uid(-1);
  r.set_gid(-1);
  r.set_data("hello");
  ASSERT_TRUE(CopyFileUnder(base_, r).ok());
  struct stat st;
  EXPECT_NE(stat(r.path().c_str(), &st), 0) << "visible before the last chunk";
  ASSERT_EQ(stat((base_ + "/shared/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  r.set_offset(5);
  r.set_data("world");
  ASSERT_TRUE(CopyFileUnder(base_, r).ok());
  EXPECT_EQ(ReadFileOrDie(r.path()), "helloworld");
  ASSERT_EQ(stat(r.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(GuestOpsTest, CopyFileDirsAndSymlinks) {
  grpc::CopyFileRequest r;
  r.set_path(base_ + "/d");
  r.set_file_mode(S_IFDIR | 0700);
  r.set_uid(-1);
  r.set_gid(-1);
  ASSERT_TRUE(CopyFileUnder(base_, r).ok());
  struct stat st;
  ASSERT_EQ(stat(r.path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  r.set_path(base_ + "/d/link");
  r.set_file_mode(S_IFLNK | 0777);
  r.set_data("..data/x");
  ASSERT_TRUE(CopyFileUnder(base_, r).ok());
  char buf[64] = {};
  ASSERT_GT(readlink(r.path().c_str(), buf, sizeof(buf) - 1), 0);
  EXPECT_STREQ(buf, "..data/x");
}

TEST_F(GuestOpsTest, CopyFileRejectsEscapes) {
  ASSERT_EQ(symlink(dir_.c_str(), (base_ + "/out").c_str()), 0);
  for (const std::string& p :
       {std::string("/etc/passwd"), base_ + "/../x", base_ + "/a/../../x", base_,
        std::string("relative"), base_ + "/out/escaped", base_ + "2/x"}) {
    grpc::CopyFileRequest r;
    r.set_path(p);
    r.set_file_mode(S_IFREG | 0644);
    r.set_data("x");
    r.set_file_size(1);
    absl::Status s = CopyFileUnder(base_, r);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << p << ": " << s;
  }
  struct stat st;
  EXPECT_NE(stat((dir_ + "/escaped").c_str(), &st), 0);
}

// A directory request whose last component is a symlink to a directory outside the base: the
// target keeps its mode (and owner); the call fails and the link stays a link.
TEST_F(GuestOpsTest, CopyFileDirNeverChmodsThroughASymlink) {
  const std::string outside = dir_ + "/outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0755), 0);
  ASSERT_EQ(chmod(outside.c_str(), 0755), 0);
  ASSERT_EQ(symlink(outside.c_str(), (base_ + "/d2").c_str()), 0);
  grpc::CopyFileRequest r;
  r.set_path(base_ + "/d2");
  r.set_file_mode(S_IFDIR | 0777);
  r.set_uid(12345);
  r.set_gid(12345);
  absl::Status s = CopyFileUnder(base_, r);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(base_ + "/d2")) << s;
  struct stat st;
  ASSERT_EQ(stat(outside.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "chmod went through the symlink";
  EXPECT_EQ(st.st_uid, 0u) << "chown went through the symlink";
  ASSERT_EQ(lstat((base_ + "/d2").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));

  // A real directory is still created, and an existing one gets the mode.
  r.set_path(base_ + "/d3");
  r.set_uid(-1);
  r.set_gid(-1);
  r.set_file_mode(S_IFDIR | 0750);
  ASSERT_TRUE(CopyFileUnder(base_, r).ok());
  r.set_file_mode(S_IFDIR | 0711);
  ASSERT_TRUE(CopyFileUnder(base_, r).ok());
  ASSERT_EQ(lstat((base_ + "/d3").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0711u);
}

// Whatever sits at the temp file's name beforehand (a symlink or a hard link to a file outside
// the base, a stale file) is never written through, chmodded or renamed: the copy lands in a
// fresh file and the outside file is unchanged. The same for a symlink at the target's name:
// it is replaced, not followed.
TEST_F(GuestOpsTest, CopyFileNeverWritesThroughAPlantedTempFile) {
  const std::string victim = dir_ + "/victim";
  ASSERT_TRUE(WriteStringToFile(victim, "secret").ok());
  ASSERT_EQ(chmod(victim.c_str(), 0600), 0);
  const std::string path = base_ + "/f";
  for (int chunked = 0; chunked < 2; ++chunked) {
    for (int hard = 0; hard < 2; ++hard) {
      SCOPED_TRACE(absl::StrCat("chunked=", chunked, " hard=", hard));
      unlink((path + ".tmp").c_str());
      unlink(path.c_str());
      ASSERT_EQ(hard ? link(victim.c_str(), (path + ".tmp").c_str())
                     : symlink(victim.c_str(), (path + ".tmp").c_str()),
                0);
      grpc::CopyFileRequest r;
      r.set_path(path);
      r.set_file_mode(S_IFREG | 0644);
      r.set_uid(-1);
      r.set_gid(-1);
      r.set_file_size(8);
      r.set_data(chunked ? "new-" : "new-data");
      ASSERT_TRUE(CopyFileUnder(base_, r).ok());
      if (chunked) {
        r.set_offset(4);
        r.set_data("data");
        absl::Status s = CopyFileUnder(base_, r);
        ASSERT_TRUE(s.ok()) << s;
      }
      EXPECT_EQ(ReadFileOrDie(path), "new-data");
      EXPECT_EQ(ReadFileOrDie(victim), "secret");
      struct stat st;
      ASSERT_EQ(stat(victim.c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 07777, 0600u);
      ASSERT_EQ(lstat(path.c_str(), &st), 0);
      EXPECT_TRUE(S_ISREG(st.st_mode));
      EXPECT_EQ(st.st_nlink, 1u);
    }
  }
  // A symlink at the target's name is replaced by the file.
  unlink(path.c_str());
  ASSERT_EQ(symlink(victim.c_str(), path.c_str()), 0);
  grpc::CopyFileRequest r;
  r.set_path(path);
  r.set_file_mode(S_IFREG | 0644);
  r.set_uid(-1);
  r.set_gid(-1);
  r.set_file_size(3);
  r.set_data("abc");
  ASSERT_TRUE(CopyFileUnder(base_, r).ok());
  EXPECT_EQ(ReadFileOrDie(path), "abc");
  EXPECT_EQ(ReadFileOrDie(victim), "secret");
}

// A later chunk refuses a temp file that is not the one the first chunk created.
TEST_F(GuestOpsTest, CopyFileLaterChunkRefusesAForeignTempFile) {
  const std::string victim = dir_ + "/victim";
  ASSERT_TRUE(WriteStringToFile(victim, "secret").ok());
  const std::string path = base_ + "/g";
  grpc::CopyFileRequest r;
  r.set_path(path);
  r.set_file_mode(S_IFREG | 0644);
  r.set_uid(-1);
  r.set_gid(-1);
  r.set_file_size(8);
  r.set_data("new-");
  ASSERT_TRUE(CopyFileUnder(base_, r).ok());
  ASSERT_EQ(unlink((path + ".tmp").c_str()), 0);
  ASSERT_EQ(link(victim.c_str(), (path + ".tmp").c_str()), 0);
  r.set_offset(4);
  r.set_data("data");
  EXPECT_FALSE(CopyFileUnder(base_, r).ok());
  EXPECT_EQ(ReadFileOrDie(victim), "secret");
  struct stat st;
  EXPECT_NE(lstat(path.c_str(), &st), 0);
}

TEST_F(GuestOpsTest, OnlineCpuMemWritesOnlineFiles) {
  const std::string sys = dir_ + "/sys";
  for (const char* d :
       {"cpu/cpu0", "cpu/cpu1", "cpu/cpu2", "cpu/cpu3", "memory/memory0", "memory/memory1"}) {
    ASSERT_EQ(system(absl::StrCat("mkdir -p ", sys, "/devices/system/", d).c_str()), 0);
  }
  auto set = [&](const std::string& f, const char* v) {
    ASSERT_TRUE(WriteStringToFile(absl::StrCat(sys, "/devices/system/", f, "/online"), v).ok());
  };
  set("cpu/cpu1", "1");
  set("cpu/cpu2", "0");
  set("cpu/cpu3", "0");
  set("memory/memory0", "1");
  set("memory/memory1", "0");
  grpc::OnlineCPUMemRequest r;
  r.set_nb_cpus(2);
  ASSERT_TRUE(OnlineCpuMem(sys, r).ok());
  EXPECT_EQ(ReadFileOrDie(sys + "/devices/system/cpu/cpu2/online"), "1");
  EXPECT_EQ(ReadFileOrDie(sys + "/devices/system/cpu/cpu3/online"), "1");
  EXPECT_EQ(ReadFileOrDie(sys + "/devices/system/memory/memory1/online"), "1");
  EXPECT_FALSE(ReadFileToString(sys + "/devices/system/cpu/cpu0/online").ok())
      << "no file: boot cpu";

  // Nothing left to online: bounded wait, then an error naming the count.
  r.set_nb_cpus(1);
  r.set_cpu_only(true);
  // (100 x 50 ms would be slow: a missing cpu dir fails at once instead.)
  absl::Status s = OnlineCpuMem(dir_ + "/nosys", r);
  EXPECT_FALSE(s.ok());
}

TEST(SetGuestDateTimeTest, CallsTheClock) {
  struct timeval got = {};
  SetTimeFn fake = [&](const struct timeval& tv) {
    got = tv;
    return absl::OkStatus();
  };
  grpc::SetGuestDateTimeRequest r;
  r.set_sec(1700000000);
  r.set_usec(250000);
  ASSERT_TRUE(SetGuestDateTime(fake, r).ok());
  EXPECT_EQ(got.tv_sec, 1700000000);
  EXPECT_EQ(got.tv_usec, 250000);
  r.set_usec(1000000);
  EXPECT_EQ(SetGuestDateTime(fake, r).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace agent
}  // namespace kata
