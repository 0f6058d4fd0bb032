// Paths inside a container's rootfs, resolved so that the rootfs's own content (symlinks,
// "..") cannot make the agent touch a host path outside it.
//
//   KATA_ASSIGN_OR_RETURN(std::string rel, ResolveInRoot("/run/c1/rootfs", "/etc/hosts"));
//   KATA_RETURN_IF_ERROR(CreateInRoot("/run/c1/rootfs", rel, /*as_file=*/true));
//   // now mount onto "/run/c1/rootfs/" + rel
//
// The approach is a manual component walk with chroot semantics, as the kernel's
// openat2(RESOLVE_IN_ROOT) and runc's securejoin do: each component is lstat'ed under the
// root; a symlink's target is read and resolved as if `root` were "/" (an absolute target
// restarts at the root, ".." never climbs above it). So a symlink that points outside the
// rootfs is *confined*: it names the corresponding path inside the rootfs. A `path` that
// itself climbs above "/" with ".." ("../../etc") is *rejected*: it is a malformed spec, not
// content of the image.
//
// Resolution and the later use are separate steps; a symlink swapped in after the
// resolution (runc's CVE-2021-30465 class) makes the later steps fail rather than escape:
// CreateInRoot and OpenInRoot open every component with O_NOFOLLOW, and the mount goes onto
// the /proc/self/fd path of OpenInRoot's fd instead of the path.
#ifndef KATA_SRC_AGENT_ROOTFS_SECURE_PATH_H_
#define KATA_SRC_AGENT_ROOTFS_SECURE_PATH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace rootfs {

// INVALID_ARGUMENT when `path`, walked lexically from "/", goes above "/" through "..";
// OK otherwise. Relative paths are taken relative to "/".
absl::Status CheckNoDotDotEscape(const std::string& path);

// `path` (absolute or relative to the root) resolved inside `root`: the result is relative
// to `root`, has no ".", ".." or empty components and, at the time of the call, no symlink
// component ("" is the root itself). Components that do not exist are kept as written.
// Errors: INVALID_ARGUMENT for a ".." escape of `path` itself or more than 255 symlinks;
// the errno of a failed lstat/readlink other than ENOENT/ENOTDIR.
absl::StatusOr<std::string> ResolveInRoot(const std::string& root, const std::string& path);

// Creates the missing components of `rel` (a ResolveInRoot result) under `root`: all as
// directories (mode 0755), or the last one as an empty regular file (0644) when `as_file`.
// Existing components are kept. Every component is opened with O_NOFOLLOW, so a symlink
// found on the way is an error, never followed.
absl::Status CreateInRoot(const std::string& root, const std::string& rel, bool as_file);

// An O_PATH fd of `rel` (a ResolveInRoot result, existing) under `root`, opened one
// component at a time with O_NOFOLLOW from an fd of `root`: a component that is a symlink now
// (swapped in after the resolution) is an error (ELOOP/ENOTDIR naming the path), never
// followed. Mount points on the way are entered, as any lookup does. Operate on the result
// through ProcFdPath (e.g. mount onto it), so no later path lookup can be redirected.
absl::StatusOr<UniqueFd> OpenInRoot(const std::string& root, const std::string& rel);

// "/proc/self/fd/<fd>": the path of what `fd` is open on, for syscalls that take a path.
std::string ProcFdPath(const UniqueFd& fd);

// "root/rel", or `root` when `rel` is empty.
std::string JoinRoot(const std::string& root, const std::string& rel);

}  // namespace rootfs
}  // namespace kata

#endif  // KATA_SRC_AGENT_ROOTFS_SECURE_PATH_H_
