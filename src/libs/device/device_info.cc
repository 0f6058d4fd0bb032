#include "src/libs/device/device_info.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace device {
namespace {

const char* FileKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "an unknown file type";
}

}  // namespace

absl::StatusOr<DeviceInfo> DeviceInfoFromPath(absl::string_view guest_path) {
  const std::string path(guest_path);
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("device path ", path, ": stat"));
  }
  DeviceInfo info;
  dev_t id;
  if (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode)) {
    info.cgroup_type = S_ISBLK(st.st_mode) ? 'b' : 'c';
    id = st.st_rdev;
  } else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
    info.cgroup_type = 'b';
    id = st.st_dev;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("device path ", path, ": is ", FileKind(st.st_mode),
                     ", not a device node, regular file or directory"));
  }
  info.major = static_cast<int64_t>(major(id));
  info.minor = static_cast<int64_t>(minor(id));
  return info;
}

}  // namespace device
}  // namespace kata
