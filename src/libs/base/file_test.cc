#include "src/libs/base/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace {

using ::testing::HasSubstr;

TEST(File, WriteThenReadRoundTripsBinaryData) {
  testing::TempDir dir;
  const std::string path = dir.Join("data.bin");
  const std::string data("a\0b\nc\xff", 6);
  ASSERT_TRUE(WriteStringToFile(path, data).ok());
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, data);
}

TEST(File, WriteReplacesALongerFileAndCreatesWithMode0644LessUmask) {
  testing::TempDir dir;
  const std::string path = dir.Join("f");
  ASSERT_TRUE(WriteStringToFile(path, "a much longer first content").ok());
  ASSERT_TRUE(WriteStringToFile(path, "short").ok());
  EXPECT_EQ(*ReadFileToString(path), "short");
  mode_t mask = umask(0);
  umask(mask);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644 & ~mask);
}

TEST(File, WriteEmptyMakesAnEmptyFile) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteStringToFile(dir.Join("empty"), "").ok());
  EXPECT_EQ(*ReadFileToString(dir.Join("empty")), "");
}

TEST(File, ReadingAMissingFileIsNotFoundAndNamesThePath) {
  testing::TempDir dir;
  const std::string path = dir.Join("missing");
  absl::StatusOr<std::string> read = ReadFileToString(path);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("open " + path + ": ENOENT"));
}

TEST(File, ReadingADirectoryFailsAndNamesThePath) {
  testing::TempDir dir;
  absl::StatusOr<std::string> read = ReadFileToString(dir.path());
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(std::string(read.status().message()), HasSubstr(dir.path()));
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("EISDIR"));
}

TEST(File, WritingIntoAMissingDirectoryFailsAndNamesThePath) {
  testing::TempDir dir;
  const std::string path = dir.Join("no/such/file");
  absl::Status s = WriteStringToFile(path, "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), HasSubstr("open " + path + ": ENOENT"));
}

TEST(File, ReadsProcFilesWhoseSizeIsZero) {
  absl::StatusOr<std::string> status = ReadFileToString("/proc/self/status");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_THAT(*status, HasSubstr("Pid:"));
}

}  // namespace
}  // namespace kata
