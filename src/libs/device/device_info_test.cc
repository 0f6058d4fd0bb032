#include "src/libs/device/device_info.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata {
namespace device {
namespace {

using ::testing::HasSubstr;

// A fresh directory under the test's TEST_TMPDIR (or /tmp), removed with its files.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl = absl::StrCat(base != nullptr ? base : "/tmp", "/device_info_XXXXXX");
    char* made = mkdtemp(tmpl.data());
    if (made != nullptr) path_ = made;
  }
  ~TempDir() {
    for (const std::string& file : files_) unlink(file.c_str());
    if (!path_.empty()) rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) {
    files_.push_back(absl::StrCat(path_, "/", name));
    return files_.back();
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

TEST(DeviceInfoFromPath, CharDeviceNodeGivesItsOwnNumbers) {
  absl::StatusOr<DeviceInfo> info = DeviceInfoFromPath("/dev/null");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->cgroup_type, 'c');
  EXPECT_EQ(info->major, 1);
  EXPECT_EQ(info->minor, 3);
}

TEST(DeviceInfoFromPath, RegularFileGivesTheBlockDeviceItLivesOn) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string file = dir.File("data");
  FILE* f = fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
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
  ASSERT_FALSE(dir.path().empty());
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
  std::string missing = absl::StrCat(dir.path(), "/no-such-device");
  absl::StatusOr<DeviceInfo> info = DeviceInfoFromPath(missing);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr(missing));
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("ENOENT"));
}

TEST(DeviceInfoFromPath, FifoIsInvalidArgumentNamingThePath) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string fifo = dir.File("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  absl::StatusOr<DeviceInfo> info = DeviceInfoFromPath(fifo);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr(fifo));
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("fifo"));
}

}  // namespace
}  // namespace device
}  // namespace kata
