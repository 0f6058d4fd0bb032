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
// Limits: resolution and the later mount are separate steps. The agent calls these before
// the container runs, when nothing but the (static) image content is in the rootfs; the
// creation step opens every parent with O_NOFOLLOW, so a symlink swapped in after
// resolution makes it fail rather than escape.
#ifndef KATA_SRC_AGENT_ROOTFS_SECURE_PATH_H_
#define KATA_SRC_AGENT_ROOTFS_SECURE_PATH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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

// "root/rel", or `root` when `rel` is empty.
std::string JoinRoot(const std::string& root, const std::string& rel);

}  // namespace rootfs
}  // namespace kata

#endif  // KATA_SRC_AGENT_ROOTFS_SECURE_PATH_H_
