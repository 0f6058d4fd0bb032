// Host-side mounts of a sandbox: containerd's rootfs mounts, bind mounts into the sandbox's
// host-only tree, and unmounting everything under a directory.
//
//   KATA_ASSIGN_OR_RETURN(UniqueFd dir, OpenDirNoFollow("/run/.../s1/mounts/c1"));
//   MountTarget rootfs{dir.get(), "rootfs", "/run/.../s1/mounts/c1/rootfs"};
//   KATA_RETURN_IF_ERROR(MountAll(config.rootfs_mounts, rootfs));
//   KATA_RETURN_IF_ERROR(BindMount(src, rootfs, {.recursive = true}));
//   KATA_RETURN_IF_ERROR(UnmountUnder("/run/kata-containers/shared/sandboxes/s1"));
//
// Targets are fd-relative: a mount lands on the entry `name` of an open directory, never
// following a symlink there, so a symlink planted in the tree cannot redirect it. Every mount
// made here is nosuid,nodev (whatever its options say), set before the mount is attached, so
// a propagated copy (the guest's read-only view of the tree) carries the same flags.
// Errors name the mount and the errno: "mount overlay on /x: EINVAL (Invalid argument)".
// MountAll is all-or-nothing: on failure, what it mounted is unmounted again.
#ifndef KATA_SRC_RUNTIME_SANDBOX_HOST_MOUNTS_H_
#define KATA_SRC_RUNTIME_SANDBOX_HOST_MOUNTS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/base/unique_fd.h"
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

// Opens the directory `path` as O_PATH without following a symlink at its last component
// (ENOTDIR/ELOOP for a symlink, as an error status naming the path).
absl::StatusOr<UniqueFd> OpenDirNoFollow(const std::string& path);

// Makes the directory `name` (one component) in `dir_fd` with `mode` and opens it (O_PATH,
// no symlink followed). ALREADY_EXISTS when anything (a directory, a file, a symlink) is there.
// `path` names it in errors.
absl::StatusOr<UniqueFd> MakeDirAt(int dir_fd, const std::string& name, mode_t mode,
                                   const std::string& path);

// Where a mount goes: the entry `name` (one path component, no '/') of the directory open as
// `dir_fd`. `path` is for messages only.
struct MountTarget {
  int dir_fd = -1;
  std::string name;
  std::string path;
};

// Mounts each of `mounts` on `target`, in order (stacked). A "bind" type (or a bind/rbind
// option) is a bind mount (BindMount: read-only when "ro" is among the options).
absl::Status MountAll(const std::vector<RootfsMount>& mounts, const MountTarget& target);

struct BindOptions {
  bool recursive = true;
  bool read_only = false;  // with `recursive`: every submount too (mount_setattr AT_RECURSIVE)
};
// Clones `source` (followed: the host's own path) and attaches the clone at `target` with
// nosuid,nodev (and ro) already set on every mount of it.
absl::Status BindMount(const std::string& source, const MountTarget& target,
                       const BindOptions& options = {});
// The same from an open file (O_PATH is enough); `source` names it in errors.
absl::Status BindMountFd(int source_fd, const std::string& source, const MountTarget& target,
                         const BindOptions& options = {});

// Mount points at or below `dir` (from /proc/self/mountinfo), deepest first.
absl::StatusOr<std::vector<std::string>> MountPointsUnder(const std::string& dir);

// Detaches every mount at or below `dir`, deepest first, never following a symlink at a
// mount point (UMOUNT_NOFOLLOW). Passes again while that makes progress (a mount hidden under
// another one). OK when there is none; otherwise the first errno other than "not mounted".
// The caller checks with MountPointsUnder what is left.
absl::Status UnmountUnder(const std::string& dir);

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_HOST_MOUNTS_H_
