// Waiting for a hot-plugged device to show up in the guest, without a race: kernel uevents
// (a NETLINK_KOBJECT_UEVENT socket, opened BEFORE the first look) plus a check of what
// already exists.
//
//   KATA_ASSIGN_OR_RETURN(std::string node, WaitFor("device /dev/vdb", absl::Seconds(3),
//       [] () -> std::optional<std::string> { return ExistsAsBlock("/dev/vdb"); }));
//
// Promises: `check` runs once right away, again after every uevent (any action, any
// subsystem: the check decides) and at least every 100 ms (a node may show up without an
// event, e.g. made by mknod) until it returns a value, which WaitFor returns. When
// `timeout` passes first: DEADLINE_EXCEEDED "<what>: did not appear within 3s". If the
// uevent socket cannot be opened (no netlink, e.g. a user namespace), WaitFor falls back to
// polling `check` every 20 ms, so it still works, only later. Thread-safe (each call has
// its own socket).
#ifndef KATA_SRC_AGENT_DEVICE_WAIT_H_
#define KATA_SRC_AGENT_DEVICE_WAIT_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kata {
namespace agent {
namespace device {

using DeviceCheck = std::function<std::optional<std::string>()>;

absl::StatusOr<std::string> WaitFor(absl::string_view what, absl::Duration timeout,
                                    const DeviceCheck& check);

}  // namespace device
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_DEVICE_WAIT_H_
