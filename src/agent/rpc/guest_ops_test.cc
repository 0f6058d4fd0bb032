// CopyFile, OnlineCPUMem and SetGuestDateTime against temp directories and a fake clock
// (the host's clock and sysfs are never touched).
#include "src/agent/rpc/guest_ops.h"

#include <stdlib.h>
#include <sys/stat.h>
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
