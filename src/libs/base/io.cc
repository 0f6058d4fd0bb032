#include "src/libs/base/io.h"

#include <errno.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_util.h"

namespace kata {

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = RetryEintr([&] { return write(fd, data.data(), data.size()); });
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("write fd ", fd));
    if (n == 0) {
      return absl::InternalError(
          absl::StrCat("write fd ", fd, ": wrote nothing, ", data.size(), " bytes left"));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadAll(int fd) {
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = RetryEintr([&] { return read(fd, buf, sizeof(buf)); });
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read fd ", fd));
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace kata
