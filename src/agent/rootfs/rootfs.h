// The container's filesystem, set up by the guest agent inside the container's new mount
// namespace, before the container process execs (Kata's rustjail init_rootfs /
// pivot_rootfs / finish_rootfs, runc's prepareRootfs / pivotRoot / finalizeRootfs).
//
//   // in the child, after unshare(CLONE_NEWNS):
//   KATA_RETURN_IF_ERROR(PrepareRootfs(spec, "/run/kata-containers/c1/rootfs", {}));
//   KATA_RETURN_IF_ERROR(PivotRoot("/run/kata-containers/c1/rootfs"));
//   KATA_RETURN_IF_ERROR(FinishRootfs(spec));
//   // or all three: SetupRootfs(spec, rootfs, {})
//
// Steps and where they happen:
//   before pivot_root (PrepareRootfs), paths are host paths under `rootfs_path`:
//     1. "/" gets `linux.rootfsPropagation` recursively (default rslave, as runc), the
//        rootfs's parent mount is made private (pivot_root refuses shared parents), and the
//        rootfs is bind-mounted onto itself (MS_BIND|MS_REC) so it is a mount point;
//     2. every `mounts[]` entry is mounted under the rootfs, in order (see below);
//     3. when the rootfs has a /dev: runc's default devices /dev/{null,zero,full,random,
//        urandom,tty} (c, 0666, best effort: one the device cgroup refuses is left out; a
//        `linux.devices` entry of the same path replaces one),
//        then `linux.devices` are created (mknod, or bind mounts of the host's node when
//        Options.mknod is false), then /dev/ptmx -> pts/ptmx, /dev/fd -> /proc/self/fd,
//        /dev/std{in,out,err} -> /proc/self/fd/{0,1,2} when the rootfs has a /dev.
//   PivotRoot: pivot_root(".", ".") in the rootfs, the old root made rslave and detached
//     (umount2 MNT_DETACH), cwd "/". When the current root is an initramfs (the agent is the
//     initrd's /init), which pivot_root refuses, the rootfs is moved over "/" and chrooted
//     into instead (runc's no-pivot).
//   after pivot_root (FinishRootfs), paths are container paths:
//     4. `linux.readonlyPaths`: bind onto themselves, remounted read-only;
//     5. `linux.maskedPaths`: /dev/null bound over files, an empty read-only tmpfs over
//        directories;
//     6. `root.readonly`: "/" remounted read-only.
//   Paths of 4 and 5 that do not exist are skipped.
//
// Mounts: the destination is resolved with ResolveInRoot (secure_path.h): a destination
// that climbs above "/" with ".." is rejected (INVALID_ARGUMENT); symlinks in the rootfs are
// followed but confined to it; the mount then goes onto the /proc/self/fd path of the
// destination opened component by component without following symlinks (OpenInRoot), so a
// symlink swapped in after the resolution makes the mount fail instead of landing outside
// (runc's CVE-2021-30465); the same for devices bound from the host. Remounts and
// propagation changes reopen the destination the same way. Missing destinations are
// created: as an empty file for a bind mount whose source is not a directory, as
// directories otherwise. A bind mount
// ("bind"/"rbind") whose options ask for more than the bind (ro, nosuid, ...) is remounted
// with them. Other types (proc, sysfs, tmpfs, devpts, mqueue, cgroup2, ...) are mounted with
// the parsed flags and data; "cgroup" becomes a cgroup2 mount when /sys/fs/cgroup is cgroup2
// (otherwise it is an error: cgroup v1 hierarchies are not mounted in containers). Propagation
// options are applied after the mount.
//
// Errors name the step, the path and the errno: "mount proc on /run/c1/rootfs/proc: EBUSY
// (Device or resource busy)". A failed step leaves the earlier mounts in place: the caller's
// mount namespace is meant to be thrown away on failure.
//
// All functions need CAP_SYS_ADMIN (and CAP_MKNOD for device nodes) and change the calling
// process's mount namespace and working directory: never call them in a process that shares
// its mount namespace with the host.
#ifndef KATA_SRC_AGENT_ROOTFS_ROOTFS_H_
#define KATA_SRC_AGENT_ROOTFS_ROOTFS_H_

#include <string>

#include "absl/status/status.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace rootfs {

struct Options {
  // Create `linux.devices` with mknod. When false (mknod is not allowed, e.g. in a user
  // namespace), bind-mount the node of the same path from `host_dev_root` instead.
  bool mknod = true;
  // Where the host's device nodes are found for bind mounts ("" means "/").
  std::string host_dev_root;
};

// Steps 1-3 above. `rootfs_path` must be an absolute, existing directory.
absl::Status PrepareRootfs(const oci::Spec& spec, const std::string& rootfs_path,
                           const Options& options);

// Step 2 for one `mounts[]` entry (see "Mounts" above).
absl::Status MountInRoot(const oci::Mount& mount, const std::string& rootfs_path);

// Makes `rootfs_path` the root of the calling process's mount namespace and detaches the
// old root. Afterwards the working directory is "/".
absl::Status PivotRoot(const std::string& rootfs_path);

// Steps 4-6 above; call after PivotRoot.
absl::Status FinishRootfs(const oci::Spec& spec);

// PrepareRootfs, PivotRoot, FinishRootfs.
absl::Status SetupRootfs(const oci::Spec& spec, const std::string& rootfs_path,
                         const Options& options);

}  // namespace rootfs
}  // namespace kata

#endif  // KATA_SRC_AGENT_ROOTFS_ROOTFS_H_
