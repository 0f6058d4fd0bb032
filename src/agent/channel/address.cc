#include "src/agent/channel/address.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_util.h"
#include "src/libs/ttrpc/address.h"

namespace kata {
namespace agent {
namespace {

absl::Status Bad(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("agent address \"", text, "\": ", why));
}

}  // namespace

absl::StatusOr<AgentAddress> ParseAgentAddress(absl::string_view text) {
  AgentAddress a;
  a.text = std::string(text);
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "serial://")) {
    if (rest.empty()) return Bad(text, "serial:// needs a device path or a port name");
    if (absl::StartsWith(rest, "/")) {
      a.kind = AgentAddress::Kind::kSerialPath;
    } else {
      if (absl::StrContains(rest, '/') || rest == "." || rest == "..") {
        return Bad(text, "a virtio-serial port name cannot contain '/'");
      }
      a.kind = AgentAddress::Kind::kSerialName;
    }
    a.serial = std::string(rest);
    return a;
  }
  if (absl::StartsWith(text, "hvsock://")) {
    return Bad(text, "hvsock:// is the host's side; the agent listens on vsock://");
  }
  absl::StatusOr<ttrpc::Address> parsed = ttrpc::ParseAddress(text);
  if (!parsed.ok()) {
    return Bad(text, "expected vsock://CID:PORT, unix://PATH or serial://DEVICE-OR-NAME");
  }
  if (parsed->kind != ttrpc::Address::Kind::kUnix && parsed->kind != ttrpc::Address::Kind::kVsock) {
    return Bad(text, "expected vsock://CID:PORT, unix://PATH or serial://DEVICE-OR-NAME");
  }
  a.kind = AgentAddress::Kind::kListen;
  a.listen = std::string(text);
  return a;
}

absl::StatusOr<std::string> FindVirtioPort(absl::string_view name, const SysRoots& roots) {
  const std::string class_dir = absl::StrCat(roots.sysfs, "/class/virtio-ports");
  DIR* dir = opendir(class_dir.c_str());
  if (dir == nullptr) {
    return AnnotateStatus(ErrnoStatus(errno, absl::StrCat("open ", class_dir)),
                          absl::StrCat("virtio-serial port \"", name, "\""));
  }
  std::vector<std::string> seen;
  std::string found;
  while (struct dirent* e = readdir(dir)) {
    const absl::string_view port = e->d_name;
    if (port == "." || port == "..") continue;
    absl::StatusOr<std::string> content =
        ReadFileToString(absl::StrCat(class_dir, "/", port, "/name"));
    if (!content.ok()) continue;
    absl::string_view port_name = absl::StripTrailingAsciiWhitespace(*content);
    seen.push_back(absl::StrCat(port, "=", port_name));
    if (port_name == name && found.empty()) found = std::string(port);
  }
  closedir(dir);
  if (!found.empty()) return absl::StrCat(roots.dev, "/", found);
  std::sort(seen.begin(), seen.end());
  return absl::NotFoundError(
      absl::StrCat("virtio-serial port \"", name, "\": no port of that name in ", class_dir,
                   " (seen: ", seen.empty() ? "none" : absl::StrJoin(seen, ", "), ")"));
}

}  // namespace agent
}  // namespace kata
