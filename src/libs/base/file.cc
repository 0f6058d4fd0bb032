#include "src/libs/base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/io.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  UniqueFd fd(RetryEintr([&] { return open(path.c_str(), O_RDONLY | O_CLOEXEC); }));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", path));
  absl::StatusOr<std::string> data = ReadAll(fd.get());
  if (!data.ok()) return AnnotateStatus(data.status(), path);
  return data;
}

absl::Status WriteStringToFile(const std::string& path, absl::string_view data) {
  UniqueFd fd(RetryEintr(
      [&] { return open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); }));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", path));
  absl::Status written = WriteAll(fd.get(), data);
  if (!written.ok()) return AnnotateStatus(written, path);
  // close(2) may report a deferred write error (NFS, quota): check it, but never retry it.
  if (close(fd.release()) != 0 && errno != EINTR) {
    return ErrnoStatus(errno, absl::StrCat("close ", path));
  }
  return absl::OkStatus();
}

}  // namespace kata
