#include "src/runtime/sandbox/host_devices.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata::runtime {
namespace {

std::string Describe(const oci::LinuxDevice& d) {
  return absl::StrCat("device ", d.path, " (", d.type, " ", d.major, ":", d.minor, ")");
}

// DEVNAME of the block device M:m from sysfs, or NOT_FOUND.
absl::StatusOr<std::string> DevName(const oci::LinuxDevice& d, const HostDeviceRoots& roots) {
  const std::string uevent =
      absl::StrCat(roots.sys_root, "/dev/block/", d.major, ":", d.minor, "/uevent");
  absl::StatusOr<std::string> text = ReadFileToString(uevent);
  if (!text.ok()) {
    return absl::NotFoundError(absl::StrCat(Describe(d), ": no such block device on the host (",
                                            text.status().message(), ")"));
  }
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (absl::ConsumePrefix(&line, "DEVNAME=") && !line.empty()) return std::string(line);
  }
  return absl::NotFoundError(absl::StrCat(Describe(d), ": ", uevent, " names no DEVNAME"));
}

}  // namespace

bool IsBlockDevice(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

bool AllowsEveryDevice(const oci::Spec& spec) {
  if (!spec.linux.has_value() || !spec.linux->resources.has_value() ||
      !spec.linux->resources->devices.has_value()) {
    return false;
  }
  for (const oci::LinuxDeviceCgroup& r : *spec.linux->resources->devices) {
    if (r.allow && (!r.type.has_value() || *r.type == "a") && !r.major.has_value() &&
        !r.minor.has_value() && r.access.value_or("rwm") == "rwm") {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::vector<HostBlockDevice>> HostBlockDevicesOf(const oci::Spec& spec,
                                                                const HostDeviceRoots& roots) {
  std::vector<HostBlockDevice> out;
  if (!spec.linux.has_value() || !spec.linux->devices.has_value()) return out;
  // A privileged container lists every host device: none is passed (see the header).
  if (AllowsEveryDevice(spec)) return out;
  std::set<std::string> seen;
  for (const oci::LinuxDevice& d : *spec.linux->devices) {
    if (d.type != "b") continue;  // character devices and FIFOs: see the header
    if (d.major < 0 || d.minor < 0) {
      return absl::InvalidArgumentError(absl::StrCat(Describe(d), ": negative device number"));
    }
    if (!seen.insert(d.path).second) {
      return absl::InvalidArgumentError(absl::StrCat(Describe(d), ": the path is given twice"));
    }
    KATA_ASSIGN_OR_RETURN(std::string name, DevName(d, roots));
    const std::string host = absl::StrCat(roots.dev_root, "/", name);
    struct stat st;
    if (stat(host.c_str(), &st) != 0) {
      return ErrnoStatus(errno, absl::StrCat(Describe(d), ": host node ", host));
    }
    if (!S_ISBLK(st.st_mode) || major(st.st_rdev) != static_cast<uint64_t>(d.major) ||
        minor(st.st_rdev) != static_cast<uint64_t>(d.minor)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(d), ": host node ", host, " is not that block device"));
    }
    HostBlockDevice b;
    b.container_path = d.path;
    b.host_path = host;
    b.major = d.major;
    b.minor = d.minor;
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<HostBlockVolume> HostBlockVolumesOf(const oci::Spec& spec) {
  std::vector<HostBlockVolume> out;
  if (!spec.mounts.has_value()) return out;
  for (size_t i = 0; i < spec.mounts->size(); ++i) {
    const oci::Mount& m = (*spec.mounts)[i];
    const std::vector<std::string> options = m.options.value_or(oci::Strings{});
    auto has = [&options](absl::string_view o) {
      return std::find(options.begin(), options.end(), o) != options.end();
    };
    const bool bind = m.type.value_or("") == "bind" || has("bind") || has("rbind");
    const std::string source = m.source.value_or("");
    if (!bind || source.empty() || source[0] != '/' || !IsBlockDevice(source)) continue;
    HostBlockVolume v;
    v.mount_index = i;
    v.read_only = has("ro");
    v.device.container_path = m.destination;
    v.device.host_path = source;
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<HostBlockRootfs> HostBlockRootfsOf(const std::string& type, const std::string& source,
                                                 const std::vector<std::string>& options) {
  if (type != kBlockVolumeFsType || source.empty() || source[0] != '/' || !IsBlockDevice(source)) {
    return std::nullopt;
  }
  HostBlockRootfs r;
  r.fstype = type;
  r.options = options;
  r.device.container_path = "/";
  r.device.host_path = source;
  return r;
}

absl::Status ClaimHostDevice(HostBlockDevice& device) {
  // O_EXCL on a block device (without O_CREAT): fails EBUSY while it is mounted or another
  // O_EXCL open holds it; QEMU's own open is not exclusive, so it still gets in.
  UniqueFd fd(open(device.host_path.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    if (errno == EBUSY) {
      return absl::FailedPreconditionError(
          absl::StrCat("device ", device.host_path,
                       " is in use (given to another sandbox or container, or mounted on the "
                       "host)"));
    }
    return ErrnoStatus(errno, absl::StrCat("claim device ", device.host_path));
  }
  device.claim = std::move(fd);
  return absl::OkStatus();
}

}  // namespace kata::runtime
