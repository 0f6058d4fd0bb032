#include "src/libs/base/unique_fd.h"

#include <errno.h>
#include <unistd.h>

namespace kata {

void UniqueFd::reset(int fd) {
  if (fd < 0) fd = -1;
  if (fd_ >= 0 && fd_ != fd) {
    int saved_errno = errno;
    close(fd_);
    errno = saved_errno;
  }
  fd_ = fd;
}

}  // namespace kata
