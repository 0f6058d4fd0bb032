#include "src/runtime/network/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_util.h"
#include "src/runtime/network/network.h"

namespace kata::runtime::network {

std::optional<std::string> NetnsPathOf(const oci::Spec& spec) {
  if (!spec.linux.has_value() || !spec.linux->namespaces.has_value()) return std::nullopt;
  for (const oci::LinuxNamespace& ns : *spec.linux->namespaces) {
    if (ns.type == "network" && ns.path.has_value() && !ns.path->empty()) return *ns.path;
  }
  return std::nullopt;
}

absl::StatusOr<UniqueFd> OpenNetns(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("network namespace ", path));
  return fd;
}

absl::StatusOr<bool> IsOwnNetns(int ns_fd) {
  struct stat a, b;
  if (fstat(ns_fd, &a) != 0) return ErrnoStatus(errno, "fstat network namespace");
  if (stat("/proc/self/ns/net", &b) != 0) return ErrnoStatus(errno, "stat /proc/self/ns/net");
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

absl::Status InNetns(int ns_fd, const std::function<absl::Status()>& fn) {
  absl::Status result;
  std::thread t([&] {
    if (setns(ns_fd, CLONE_NEWNET) != 0) {
      result = ErrnoStatus(errno, "setns into the pod's network namespace");
      return;
    }
    result = fn();
  });
  t.join();
  return result;
}

}  // namespace kata::runtime::network
