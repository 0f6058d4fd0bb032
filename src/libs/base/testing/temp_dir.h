// Test kit: a private temporary directory and a read-or-die helper.
//
//   kata::testing::TempDir dir;                       // e.g. $TEST_TMPDIR/kata-Xa81Qz
//   ASSERT_TRUE(kata::WriteStringToFile(dir.Join("config.json"), "{}").ok());
//   EXPECT_EQ(kata::testing::ReadFileOrDie(dir.Join("config.json")), "{}");
//
// Contract:
//   - TempDir() creates a fresh, empty directory (mode 0700) under $TEST_TMPDIR (Bazel sets it;
//     /tmp otherwise). If that fails the program aborts with the path and errno. path() is
//     canonical (symlinks resolved).
//   - ~TempDir() removes the directory and everything in it, without following symlinks and
//     without descending into mount points (a test must unmount what it mounted; anything left
//     behind is reported on stderr, never fatal).
//   - TempDir(parent) does the same under `parent` instead, e.g. TempDir("/tmp") for a directory
//     that holds unix sockets (a socket path must fit in 108 bytes; $TEST_TMPDIR is often ~150).
//   - path() is absolute, without a trailing slash; Join("a/b") is path() + "/a/b" (no I/O).
//   - ReadFileOrDie(path) returns the file's content or aborts the program with the path and the
//     errno (through kata::ReadFileToString); for a recoverable check use ReadFileToString.
// Move-only (the moved-from TempDir removes nothing).
//
// Note: this declares namespace kata::testing. Code inside namespace kata that includes this
// header must write GoogleTest's namespace as ::testing (::testing::Test, ::testing::HasSubstr).
#ifndef KATA_SRC_LIBS_BASE_TESTING_TEMP_DIR_H_
#define KATA_SRC_LIBS_BASE_TESTING_TEMP_DIR_H_

#include <string>

#include "absl/strings/string_view.h"

namespace kata {
namespace testing {

class TempDir {
 public:
  TempDir();
  explicit TempDir(absl::string_view parent);
  ~TempDir();

  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + relative (a leading '/' in `relative` is not doubled).
  std::string Join(absl::string_view relative) const;

 private:
  void Remove();

  std::string path_;
};

// The content of the file at `path`; aborts with the path and errno if it cannot be read.
std::string ReadFileOrDie(const std::string& path);

}  // namespace testing
}  // namespace kata

#endif  // KATA_SRC_LIBS_BASE_TESTING_TEMP_DIR_H_
