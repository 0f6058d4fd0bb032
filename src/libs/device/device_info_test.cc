#include "src/libs/device/device_info.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace device {
namespace {

using ::testing::HasSubstr;

using testing::TempDir;

TEST(DeviceInfoFromPath, CharDeviceNodeGivesItsOwnNumbers) {
  absl::StatusOr<DeviceInfo> info = DeviceInfoFromPath("/dev/null");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->cgroup_type, 'c');
  EXPECT_EQ(info->major, 1);
  EXPECT_EQ(info->minor, 3);
}

TEST(DeviceInfoFromPath, RegularFileGivesTheBlockDeviceItLivesOn) {
  TempDir dir;
  std::string file = dir.Join("data");
  ASSERT_TRUE(WriteStringToFile(file, "").ok());
  struct stat st;
  ASSERT_EQ(stat(file.c_str(), &st), 0);

  absl::StatusOr<DeviceInfo> info = DeviceInfoFromPath(file);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->cgroup_type, 'b');
  EXPECT_EQ(info->major, static_cast<int64_t>(major(st.st_dev)));
  EXPECT_EQ(info->minor, static_cast<int64_t>(minor(st.st_dev)));
}

TEST(DeviceInfoFromPath, DirectoryGivesTheBlockDeviceItLivesOn) {
  TempDir dir;
  struct stat st;
  ASSERT_EQ(stat(dir.path().c_str(), &st), 0);

  absl::StatusOr<DeviceInfo> info = DeviceInfoFromPath(dir.path());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->cgroup_type, 'b');
  EXPECT_EQ(info->major, static_cast<int64_t>(major(st.st_dev)));
  EXPECT_EQ(info->minor, static_cast<int64_t>(minor(st.st_dev)));
}

TEST(DeviceInfoFromPath, MissingPathIsNotFoundNamingPathAndErrno) {
  TempDir dir;
  std::string missing = dir.Join("no-such-device");
  absl::StatusOr<DeviceInfo> info = DeviceInfoFromPath(missing);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr(missing));
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("ENOENT"));
}

TEST(DeviceInfoFromPath, FifoIsInvalidArgumentNamingThePath) {
  TempDir dir;
  std::string fifo = dir.Join("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  absl::StatusOr<DeviceInfo> info = DeviceInfoFromPath(fifo);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr(fifo));
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("fifo"));
}

}  // namespace
}  // namespace device
}  // namespace kata
