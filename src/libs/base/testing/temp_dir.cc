#include "src/libs/base/testing/temp_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace testing {
namespace {

[[noreturn]] void Die(const std::string& message) {
  fprintf(stderr, "kata::testing: %s\n", message.c_str());
  fflush(stderr);
  std::abort();
}

std::string BaseDir() {
  const char* env = getenv("TEST_TMPDIR");
  return (env != nullptr && env[0] != '\0') ? env : "/tmp";
}

void Warn(const absl::Status& status) {
  fprintf(stderr, "kata::testing::TempDir: %s\n", status.ToString().c_str());
}

// Decodes the octal escapes (\040 for a space, ...) of a /proc/self/mountinfo path.
std::string UnescapeMountPath(absl::string_view escaped) {
  std::string out;
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] == '\\' && i + 3 < escaped.size() && escaped[i + 1] >= '0' &&
        escaped[i + 1] <= '3') {
      out.push_back(static_cast<char>((escaped[i + 1] - '0') * 64 + (escaped[i + 2] - '0') * 8 +
                                      (escaped[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(escaped[i]);
    }
  }
  return out;
}

// The mount points strictly under `dir` (bind mounts of the same filesystem included, which a
// st_dev comparison would miss). Empty if /proc/self/mountinfo cannot be read.
std::set<std::string> MountPointsUnder(const std::string& dir) {
  std::set<std::string> mounts;
  absl::StatusOr<std::string> info = ReadFileToString("/proc/self/mountinfo");
  if (!info.ok()) return mounts;
  const std::string prefix = dir + "/";
  for (absl::string_view line : absl::StrSplit(*info, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 5) continue;
    std::string mount_point = UnescapeMountPath(fields[4]);
    if (absl::StartsWith(mount_point, prefix)) mounts.insert(std::move(mount_point));
  }
  return mounts;
}

// Removes what is in the directory `dir` (on device `dev`), depth first, never following
// symlinks and never entering a mount point. Problems are reported, not fatal.
void RemoveContents(const std::string& dir, dev_t dev, const std::set<std::string>& mounts) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    Warn(ErrnoStatus(errno, absl::StrCat("opendir ", dir)));
    return;
  }
  std::vector<std::string> names;
  while (struct dirent* entry = readdir(d)) {
    absl::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  closedir(d);
  for (const std::string& name : names) {
    std::string child = absl::StrCat(dir, "/", name);
    struct stat st;
    if (lstat(child.c_str(), &st) != 0) {
      if (errno != ENOENT) Warn(ErrnoStatus(errno, absl::StrCat("lstat ", child)));
      continue;
    }
    if (mounts.count(child) != 0 || st.st_dev != dev) {
      Warn(absl::FailedPreconditionError(
          absl::StrCat(child, ": still a mount point, left in place (unmount it in the test)")));
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      RemoveContents(child, dev, mounts);
      if (rmdir(child.c_str()) != 0) Warn(ErrnoStatus(errno, absl::StrCat("rmdir ", child)));
    } else if (unlink(child.c_str()) != 0 && errno != ENOENT) {
      Warn(ErrnoStatus(errno, absl::StrCat("unlink ", child)));
    }
  }
}

}  // namespace

TempDir::TempDir() : TempDir(BaseDir()) {}

TempDir::TempDir(absl::string_view parent) {
  std::string tmpl = absl::StrCat(absl::StripSuffix(parent, "/"), "/kata-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    Die(ErrnoStatus(errno, absl::StrCat("mkdtemp ", tmpl)).ToString());
  }
  // The canonical path, so that it compares with the mount points of /proc/self/mountinfo.
  char* real = realpath(tmpl.c_str(), nullptr);
  if (real == nullptr) Die(ErrnoStatus(errno, absl::StrCat("realpath ", tmpl)).ToString());
  path_ = real;
  free(real);
}

TempDir::~TempDir() { Remove(); }

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

std::string TempDir::Join(absl::string_view relative) const {
  return absl::StrCat(path_, "/", absl::StripPrefix(relative, "/"));
}

void TempDir::Remove() {
  if (path_.empty()) return;
  int saved_errno = errno;
  struct stat st;
  if (lstat(path_.c_str(), &st) != 0) {
    if (errno != ENOENT) Warn(ErrnoStatus(errno, absl::StrCat("lstat ", path_)));
  } else {
    RemoveContents(path_, st.st_dev, MountPointsUnder(path_));
    if (rmdir(path_.c_str()) != 0) Warn(ErrnoStatus(errno, absl::StrCat("rmdir ", path_)));
  }
  path_.clear();
  errno = saved_errno;
}

std::string ReadFileOrDie(const std::string& path) {
  absl::StatusOr<std::string> data = ReadFileToString(path);
  if (!data.ok()) Die(absl::StrCat("ReadFileOrDie: ", data.status().ToString()));
  return *std::move(data);
}

}  // namespace testing
}  // namespace kata
