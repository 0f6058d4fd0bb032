// Where kata-agent serves its API, as written in `agent.server_addr` or --server-addr:
//
//   vsock://-1:1024             AF_VSOCK, any CID, port 1024 (Kata's default)
//   unix:///run/agent.sock      a unix socket (also a bare absolute path)
//   serial:///dev/vport0p1      a virtio-serial port by device path
//   serial://agent.channel.0    a virtio-serial port by NAME: the /dev/vportNpM whose
//                               /sys/class/virtio-ports/vportNpM/name holds that name
//
//   KATA_ASSIGN_OR_RETURN(AgentAddress a, ParseAgentAddress(text));
//   if (a.kind == AgentAddress::Kind::kSerialName)
//     KATA_ASSIGN_OR_RETURN(std::string dev, FindVirtioPort(a.serial, {}));
//
// ParseAgentAddress is syntax only (no file system access); FindVirtioPort reads sysfs.
#ifndef KATA_SRC_AGENT_CHANNEL_ADDRESS_H_
#define KATA_SRC_AGENT_CHANNEL_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kata {
namespace agent {

struct AgentAddress {
  enum class Kind {
    kListen,      // vsock or unix: `listen` is a ttrpc address for Server::Listen
    kSerialPath,  // `serial` is a device path
    kSerialName,  // `serial` is a virtio-serial port name
  };
  Kind kind = Kind::kListen;
  std::string listen;
  std::string serial;
  std::string text;  // as given
};

// INVALID_ARGUMENT (quoting `text`) for anything but the forms above; hvsock:// is refused
// (that is the host's side of hybrid vsock).
absl::StatusOr<AgentAddress> ParseAgentAddress(absl::string_view text);

// Where FindVirtioPort looks; tests point both at a temp dir.
struct SysRoots {
  std::string sysfs = "/sys";
  std::string dev = "/dev";
};

// The device path ("<dev>/vportNpM") of the virtio-serial port named `name`, found through
// <sysfs>/class/virtio-ports/*/name (a trailing newline in the file is ignored). NOT_FOUND,
// listing the names seen, when no port has that name.
absl::StatusOr<std::string> FindVirtioPort(absl::string_view name, const SysRoots& roots);

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CHANNEL_ADDRESS_H_
