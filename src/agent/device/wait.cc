#include "src/agent/device/wait.h"

#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace device {
namespace {

// A socket subscribed to the kernel's uevent broadcast group, or none.
UniqueFd OpenUeventSocket() {
  UniqueFd fd(
      socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT));
  if (!fd) return fd;
  struct sockaddr_nl addr = {};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1;  // kernel uevents
  if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    return UniqueFd();
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::string> WaitFor(absl::string_view what, absl::Duration timeout,
                                    const DeviceCheck& check) {
  const absl::Time deadline = absl::Now() + timeout;
  const UniqueFd fd = OpenUeventSocket();  // before the first check: no event can be missed
  for (;;) {
    if (std::optional<std::string> found = check(); found.has_value()) return *found;
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 100));
    if (!fd) {
      usleep(static_cast<useconds_t>(std::min(ms, 20)) * 1000);
      continue;
    }
    struct pollfd p = {fd.get(), POLLIN, 0};
    int r = poll(&p, 1, ms);
    if (r > 0) {
      char buf[8192];
      while (recv(fd.get(), buf, sizeof(buf), 0) > 0) {
      }  // drain: the check looks at the system itself
    }
  }
  return absl::DeadlineExceededError(
      absl::StrCat(what, ": did not appear within ", absl::FormatDuration(timeout)));
}

}  // namespace device
}  // namespace agent
}  // namespace kata
