#include "src/agent/device/devices.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/agent/device/wait.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/device/device_info.h"
#include "src/libs/device/spec_update.h"

namespace kata {
namespace agent {
namespace device {
namespace {

bool IsNode(const std::string& path, mode_t type) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && (st.st_mode & S_IFMT) == type;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  }
  closedir(d);
  return names;
}

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return "";
  return buf;
}

// "0000:01:02.0" -> slot 2; nullopt for other components.
std::optional<int> PciSlot(absl::string_view c) {
  if (c.size() != 12 || c[4] != ':' || c[7] != ':' || c[10] != '.') return std::nullopt;
  int slot = 0;
  if (!absl::SimpleHexAtoi(c.substr(8, 2), &slot)) return std::nullopt;
  return slot;
}

std::optional<std::vector<int>> ParsePciPath(absl::string_view path) {
  std::vector<int> slots;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    int v = 0;
    if (part.empty() || part.size() > 2 || !absl::SimpleHexAtoi(part, &v)) return std::nullopt;
    slots.push_back(v);
  }
  return slots;
}

// Block devices of <sysfs>/block whose resolved path matches `match`.
std::optional<std::string> FindBlock(const DeviceOptions& o,
                                     const std::function<bool(const std::string&)>& match) {
  const std::string block = absl::StrCat(o.sysfs_root, "/block");
  for (const std::string& name : ListDir(block)) {
    if (!match(absl::StrCat(block, "/", name))) continue;
    std::string node = absl::StrCat(o.dev_root, "/", name);
    if (IsNode(node, S_IFBLK)) return node;
  }
  return std::nullopt;
}

bool IsVfio(absl::string_view type) { return absl::StartsWith(type, "vfio"); }

}  // namespace

std::vector<std::string> DeviceHandlers() {
  return {"blk", "mmioblk", "scsi", "vfio", "vfio-pci", "vfio-ap", "vfio-gk"};
}

absl::StatusOr<std::string> WaitForBlockDevice(absl::string_view type, absl::string_view address,
                                               const DeviceOptions& options) {
  const std::string what = absl::StrCat(type, " device ", address);
  if (address.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no address"));
  if (type == "mmioblk" || (type == "blk" && address[0] == '/')) {
    std::string path(address);
    if (path[0] != '/') return absl::InvalidArgumentError(absl::StrCat(what, ": not a path"));
    return WaitFor(what, options.timeout, [path]() -> std::optional<std::string> {
      if (IsNode(path, S_IFBLK)) return path;
      return std::nullopt;
    });
  }
  if (type == "blk") {
    std::optional<std::vector<int>> want = ParsePciPath(address);
    if (!want) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": want a PCI path like 02/00"));
    }
    return WaitFor(what, options.timeout, [&]() {
      return FindBlock(options, [&](const std::string& dev) {
        std::vector<int> slots;
        for (absl::string_view c : absl::StrSplit(RealPath(dev), '/')) {
          if (std::optional<int> s = PciSlot(c)) slots.push_back(*s);
        }
        return !slots.empty() && slots == *want;
      });
    });
  }
  if (type == "scsi") {
    std::vector<std::string> parts = absl::StrSplit(address, ':');
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": want a SCSI address target:lun"));
    }
    const std::string suffix = absl::StrCat(":", parts[0], ":", parts[1]);
    return WaitFor(what, options.timeout, [&]() {
      return FindBlock(options, [&](const std::string& dev) {
        std::string target = RealPath(absl::StrCat(dev, "/device"));
        std::vector<std::string> h = absl::StrSplit(target.substr(target.rfind('/') + 1), ':');
        return h.size() == 4 && absl::EndsWith(target, suffix);
      });
    });
  }
  return absl::UnimplementedError(absl::StrCat("device type \"", type, "\" is not supported"));
}

absl::Status ApplyDevices(const google::protobuf::RepeatedPtrField<grpc::Device>& devices,
                          oci::Spec& spec, const DeviceOptions& options) {
  ::kata::device::SpecUpdates updates;
  for (const grpc::Device& d : devices) {
    const std::string what = absl::StrCat("device ", d.id(), " (", d.type(), ")");
    std::string node;
    if (IsVfio(d.type())) {
      if (d.vm_path().empty() || d.vm_path()[0] != '/') {
        return absl::InvalidArgumentError(absl::StrCat(what, ": vm_path is not an absolute path"));
      }
      std::string path = d.vm_path();
      KATA_ASSIGN_OR_RETURN(node,
                            WaitFor(what, options.timeout, [path]() -> std::optional<std::string> {
                              if (IsNode(path, S_IFCHR)) return path;
                              return std::nullopt;
                            }));
    } else if (d.type() == "mmioblk" || (d.type() == "blk" && d.id().empty())) {
      KATA_ASSIGN_OR_RETURN(node, WaitForBlockDevice("mmioblk", d.vm_path(), options));
    } else if (d.type() == "blk" || d.type() == "scsi") {
      KATA_ASSIGN_OR_RETURN(node, WaitForBlockDevice(d.type(), d.id(), options));
    } else {
      return absl::UnimplementedError(
          absl::StrCat(what, ": device type \"", d.type(), "\" is not supported"));
    }
    if (d.container_path().empty()) continue;
    absl::StatusOr<::kata::device::DeviceInfo> info = ::kata::device::DeviceInfoFromPath(node);
    if (!info.ok()) return AnnotateStatus(info.status(), what);
    KATA_RETURN_IF_ERROR(AnnotateStatus(
        ::kata::device::AddUpdate(updates, d.container_path(), {*info, std::nullopt}), what));
  }
  if (updates.empty()) return absl::OkStatus();
  KATA_RETURN_IF_ERROR(::kata::device::UpdateSpecDevices(spec, updates));
  return ::kata::device::AppendGuestDeviceAllowRules(spec, updates);
}

}  // namespace device
}  // namespace agent
}  // namespace kata
