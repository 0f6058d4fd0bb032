// Host-side mounts of a sandbox: containerd's rootfs mounts, bind mounts into the shared
// directory, and unmounting everything under a directory.
//
//   KATA_RETURN_IF_ERROR(MountAll(config.rootfs_mounts, "/run/.../mounts/c1/rootfs"));
//   KATA_RETURN_IF_ERROR(BindMount(src, "/run/.../shared/c1/rootfs", {.recursive = true}));
//   KATA_RETURN_IF_ERROR(UnmountUnder("/run/kata-containers/shared/sandboxes/s1"));
//
// Errors name the mount and the errno: "mount overlay on /x: EINVAL (Invalid argument)".
// MountAll is all-or-nothing: on failure, what it mounted is unmounted again.
#ifndef KATA_SRC_RUNTIME_SANDBOX_HOST_MOUNTS_H_
#define KATA_SRC_RUNTIME_SANDBOX_HOST_MOUNTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/runtime/sandbox/sandbox.h"

namespace kata::runtime {

// mount(2) arguments from a mount's option list (as in fstab / containerd): flags such as
// ro, nosuid, nodev, noexec, bind, rbind, relatime; propagation (private, rslave, ...) apart;
// every other option joined with ',' as data ("lowerdir=...,upperdir=...").
struct ParsedMountOptions {
  unsigned long flags = 0;
  unsigned long propagation = 0;
  std::string data;
};
ParsedMountOptions ParseMountOptions(const std::vector<std::string>& options);

// Mounts each of `mounts` on `target`, in order. A "bind" type (or a bind/rbind option) is a
// bind mount, remounted read-only when "ro" is among the options.
absl::Status MountAll(const std::vector<RootfsMount>& mounts, const std::string& target);

struct BindOptions {
  bool recursive = true;
  bool read_only = false;
};
absl::Status BindMount(const std::string& source, const std::string& target,
                       const BindOptions& options = {});

// Mount points at or below `dir` (from /proc/self/mountinfo), deepest first.
absl::StatusOr<std::vector<std::string>> MountPointsUnder(const std::string& dir);

// Detaches every mount at or below `dir`, deepest first. OK when there is none.
absl::Status UnmountUnder(const std::string& dir);

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_HOST_MOUNTS_H_
