#include "src/agent/rootfs/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/agent/rootfs/mount_options.h"
#include "src/agent/rootfs/secure_path.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace rootfs {
namespace {

constexpr unsigned long kDefaultRootPropagation = MS_SLAVE | MS_REC;

// The flags of the mount at `path` that a bind remount must keep (the kernel refuses to
// clear them on a mount locked by a less privileged user namespace).
unsigned long LockedFlags(const std::string& path) {
  struct statvfs st;
  if (statvfs(path.c_str(), &st) != 0) return 0;
  unsigned long flags = 0;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

absl::Status Mount(const char* source, const std::string& target, const char* type,
                   unsigned long flags, const char* data, absl::string_view what) {
  if (mount(source, target.c_str(), type, flags, data) != 0) {
    return ErrnoStatus(errno, absl::StrCat(what, " on ", target));
  }
  return absl::OkStatus();
}

// Mount onto what `target` (an fd of OpenInRoot) is open on, through its /proc/self/fd path;
// errors name `shown` (the target's path).
absl::Status MountOnFd(const char* source, const UniqueFd& target, const std::string& shown,
                       const char* type, unsigned long flags, const char* data,
                       absl::string_view what) {
  if (mount(source, ProcFdPath(target).c_str(), type, flags, data) != 0) {
    return ErrnoStatus(errno, absl::StrCat(what, " on ", shown));
  }
  return absl::OkStatus();
}

absl::Status SetPropagation(const std::string& target, unsigned long flags) {
  return Mount(nullptr, target, nullptr, flags, nullptr, "set mount propagation");
}

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

// Octal escapes of /proc/self/mountinfo ("\040" for a space) decoded.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && IsOctal(s[i + 1]) && IsOctal(s[i + 2]) &&
        IsOctal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Makes the mount that holds `path`'s parent private: pivot_root fails (EINVAL) when the new
// root's parent mount is shared.
absl::Status MakeParentMountPrivate(const std::string& path) {
  std::string parent = path.substr(0, path.find_last_of('/'));
  if (parent.empty()) parent = "/";
  // Runs in the forked child: no iostreams (process.h ChildHook).
  KATA_ASSIGN_OR_RETURN(const std::string mountinfo, ReadFileToString("/proc/self/mountinfo"));
  std::string best;
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    // "id parent_id major:minor root mount_point ..."
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 5) continue;
    const std::string mount_point = Unescape(std::string(fields[4]));
    const bool covers =
        mount_point == "/" || parent == mount_point || absl::StartsWith(parent, mount_point + "/");
    if (covers && mount_point.size() > best.size()) best = mount_point;
  }
  if (best.empty()) best = "/";
  return Mount(nullptr, best, nullptr, MS_PRIVATE, nullptr, "make parent mount private");
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

absl::Status MountInRoot(const oci::Mount& m, const std::string& rootfs) {
  const MountOptions opts = ParseMountOptions(m.options.value_or(oci::Strings{}));
  std::string type = m.type.value_or("");
  const std::string source = m.source.value_or(type);
  const bool bind = opts.IsBind() || type == "bind";

  KATA_ASSIGN_OR_RETURN(std::string rel, ResolveInRoot(rootfs, m.destination));
  const std::string target = JoinRoot(rootfs, rel);
  const bool as_file = bind && !IsDirectory(source);
  if (bind) {
    struct stat st;
    if (stat(source.c_str(), &st) != 0) {
      return ErrnoStatus(errno, absl::StrCat("bind mount source ", source, " for ", target));
    }
  }
  KATA_RETURN_IF_ERROR(CreateInRoot(rootfs, rel, as_file));
  // From here on the target is an fd opened without following symlinks, and the mounts go
  // onto its /proc/self/fd path: a symlink swapped in meanwhile fails, never redirects.
  KATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenInRoot(rootfs, rel));

  if (bind) {
    const unsigned long bind_flags = MS_BIND | (opts.flags & MS_REC);
    KATA_RETURN_IF_ERROR(MountOnFd(source.c_str(), fd, target, nullptr, bind_flags, nullptr,
                                   absl::StrCat("bind mount ", source)));
  } else {
    if (type.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("mount on ", target, ": no type and not a bind mount"));
    }
    if (type == "cgroup") {
      struct statfs fs;
      if (statfs("/sys/fs/cgroup", &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
        return absl::UnimplementedError(
            absl::StrCat("mount cgroup on ", target, ": cgroup v1 hierarchies are not supported"));
      }
      type = "cgroup2";
    }
    const std::string src = type == "cgroup2" && source == "cgroup" ? "cgroup2" : source;
    KATA_RETURN_IF_ERROR(MountOnFd(src.c_str(), fd, target, type.c_str(), opts.flags,
                                   opts.data.empty() ? nullptr : opts.data.c_str(),
                                   absl::StrCat("mount ", type)));
  }
  // The fd is on the covered directory: reopen it to reach the new mount's root.
  const unsigned long extra = opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  if ((bind && extra != 0) || !opts.propagation.empty()) {
    KATA_ASSIGN_OR_RETURN(fd, OpenInRoot(rootfs, rel));
  }
  if (bind && extra != 0) {
    KATA_RETURN_IF_ERROR(MountOnFd(nullptr, fd, target, nullptr,
                                   MS_BIND | MS_REMOUNT | extra | LockedFlags(ProcFdPath(fd)),
                                   nullptr, absl::StrCat("remount bind of ", source)));
  }
  for (unsigned long p : opts.propagation) {
    KATA_RETURN_IF_ERROR(
        MountOnFd(nullptr, fd, target, nullptr, p, nullptr, "set mount propagation"));
  }
  return absl::OkStatus();
}

namespace {

absl::Status CreateDevice(const oci::LinuxDevice& d, const std::string& rootfs,
                          const Options& options) {
  KATA_ASSIGN_OR_RETURN(std::string rel, ResolveInRoot(rootfs, d.path));
  if (rel.empty()) return absl::InvalidArgumentError(absl::StrCat("device path ", d.path));
  const size_t slash = rel.find_last_of('/');
  KATA_RETURN_IF_ERROR(
      CreateInRoot(rootfs, slash == std::string::npos ? "" : rel.substr(0, slash), false));
  const std::string target = JoinRoot(rootfs, rel);

  if (!options.mknod) {
    const std::string host = absl::StrCat(options.host_dev_root, d.path);
    KATA_RETURN_IF_ERROR(CreateInRoot(rootfs, rel, /*as_file=*/true));
    KATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenInRoot(rootfs, rel));
    return MountOnFd(host.c_str(), fd, target, nullptr, MS_BIND, nullptr,
                     absl::StrCat("bind mount device ", host));
  }

  mode_t kind;
  if (d.type == "c" || d.type == "u") {
    kind = S_IFCHR;
  } else if (d.type == "b") {
    kind = S_IFBLK;
  } else if (d.type == "p") {
    kind = S_IFIFO;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("device ", d.path, ": unknown type \"", d.type, "\""));
  }
  const mode_t perm = static_cast<mode_t>(d.file_mode.value_or(0666) & 07777);
  if (unlink(target.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("unlink ", target));
  }
  const dev_t dev = makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
  if (mknod(target.c_str(), kind | perm, dev) != 0) {
    return ErrnoStatus(errno, absl::StrCat("mknod ", target));
  }
  if (lchown(target.c_str(), d.uid.value_or(0), d.gid.value_or(0)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chown ", target));
  }
  if (chmod(target.c_str(), perm) != 0) {  // mknod's mode went through the umask
    return ErrnoStatus(errno, absl::StrCat("chmod ", target));
  }
  return absl::OkStatus();
}

absl::Status SetupDevSymlinks(const std::string& rootfs) {
  const std::string dev = JoinRoot(rootfs, "dev");
  struct stat st;
  if (lstat(dev.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return absl::OkStatus();
  const UniqueFd fd(open(dev.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", dev));
  if (unlinkat(fd.get(), "ptmx", 0) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("unlink ", dev, "/ptmx"));
  }
  if (symlinkat("pts/ptmx", fd.get(), "ptmx") != 0) {
    return ErrnoStatus(errno, absl::StrCat("symlink ", dev, "/ptmx"));
  }
  static constexpr const char* kLinks[][2] = {{"/proc/self/fd", "fd"},
                                              {"/proc/self/fd/0", "stdin"},
                                              {"/proc/self/fd/1", "stdout"},
                                              {"/proc/self/fd/2", "stderr"}};
  for (const auto& link : kLinks) {
    if (symlinkat(link[0], fd.get(), link[1]) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("symlink ", dev, "/", link[1]));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadonlyPath(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("stat readonly path ", path));
  }
  KATA_RETURN_IF_ERROR(
      Mount(path.c_str(), path, nullptr, MS_BIND | MS_REC, nullptr, "bind readonly path"));
  return Mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | LockedFlags(path),
               nullptr, "remount readonly path");
}

absl::Status MaskPath(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("stat masked path ", path));
  }
  if (S_ISDIR(st.st_mode)) {
    return Mount("tmpfs", path, "tmpfs", MS_RDONLY, nullptr, "mask with tmpfs");
  }
  return Mount("/dev/null", path, nullptr, MS_BIND, nullptr, "mask with bind of /dev/null");
}

}  // namespace

absl::Status PrepareRootfs(const oci::Spec& spec, const std::string& rootfs_path,
                           const Options& options) {
  if (rootfs_path.empty() || rootfs_path[0] != '/' || !IsDirectory(rootfs_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rootfs ", rootfs_path, ": not an absolute path of a directory"));
  }
  unsigned long propagation = kDefaultRootPropagation;
  if (spec.linux && spec.linux->rootfs_propagation) {
    propagation = PropagationFlags(*spec.linux->rootfs_propagation);
    if (propagation == 0) {
      return absl::InvalidArgumentError(absl::StrCat("linux.rootfsPropagation: unknown value \"",
                                                     *spec.linux->rootfs_propagation, "\""));
    }
  }
  // 1. Propagation of "/", a private parent, the rootfs a mount point.
  KATA_RETURN_IF_ERROR(
      Mount(nullptr, "/", nullptr, propagation, nullptr, "set rootfs propagation"));
  KATA_RETURN_IF_ERROR(MakeParentMountPrivate(rootfs_path));
  KATA_RETURN_IF_ERROR(
      Mount(rootfs_path.c_str(), rootfs_path, nullptr, MS_BIND | MS_REC, nullptr, "bind rootfs"));
  // 2. The spec's mounts, in order.
  if (spec.mounts) {
    for (const oci::Mount& m : *spec.mounts) KATA_RETURN_IF_ERROR(MountInRoot(m, rootfs_path));
  }
  // 3. Devices (runc's default ones first, unless the spec names the same path) and /dev
  //    symlinks.
  std::vector<std::string> named;
  if (spec.linux && spec.linux->devices) {
    for (const oci::LinuxDevice& d : *spec.linux->devices) named.push_back(d.path);
  }
  struct stat dev_st;
  if (stat(JoinRoot(rootfs_path, "dev").c_str(), &dev_st) == 0 && S_ISDIR(dev_st.st_mode)) {
    static const struct {
      const char* path;
      int major, minor;
    } kDefaults[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                     {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};
    for (const auto& def : kDefaults) {
      if (std::find(named.begin(), named.end(), def.path) != named.end()) continue;
      oci::LinuxDevice d;
      d.path = def.path;
      d.type = "c";
      d.major = def.major;
      d.minor = def.minor;
      d.file_mode = 0666;
      // Best effort: a device cgroup that refuses mknod of it leaves it out.
      CreateDevice(d, rootfs_path, options).IgnoreError();
    }
  }
  if (spec.linux && spec.linux->devices) {
    for (const oci::LinuxDevice& d : *spec.linux->devices) {
      KATA_RETURN_IF_ERROR(CreateDevice(d, rootfs_path, options));
    }
  }
  return SetupDevSymlinks(rootfs_path);
}

namespace {

// The current root is the initramfs (the agent is /init of the guest's initrd), which
// pivot_root refuses: move the rootfs (the working directory) over / and chroot into it
// instead (runc's no-pivot / msMoveRoot; Kata's agent does the same in an initrd guest).
absl::Status MoveRoot() {
  if (mount(".", "/", nullptr, MS_MOVE, nullptr) != 0) return ErrnoStatus(errno, "move rootfs");
  if (chroot(".") != 0) return ErrnoStatus(errno, "chroot");
  if (chdir("/") != 0) return ErrnoStatus(errno, "chdir /");
  return absl::OkStatus();
}

}  // namespace

absl::Status PivotRoot(const std::string& rootfs_path) {
  const UniqueFd old_root(open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!old_root) return ErrnoStatus(errno, "open /");
  const UniqueFd new_root(open(rootfs_path.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!new_root) return ErrnoStatus(errno, absl::StrCat("open ", rootfs_path));
  if (fchdir(new_root.get()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chdir ", rootfs_path));
  }
  if (syscall(SYS_pivot_root, ".", ".") != 0) {
    const int pivot_err = errno;
    struct statfs root_fs;
    if (pivot_err == EINVAL && fstatfs(old_root.get(), &root_fs) == 0 &&
        (root_fs.f_type == RAMFS_MAGIC || root_fs.f_type == TMPFS_MAGIC)) {
      return MoveRoot();
    }
    return ErrnoStatus(pivot_err, absl::StrCat("pivot_root to ", rootfs_path));
  }
  if (fchdir(old_root.get()) != 0) return ErrnoStatus(errno, "chdir old root");
  // The old root must not propagate the detach to the host's mounts.
  if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) {
    return ErrnoStatus(errno, "make old root rslave");
  }
  if (umount2(".", MNT_DETACH) != 0) return ErrnoStatus(errno, "umount2 old root");
  if (chdir("/") != 0) return ErrnoStatus(errno, "chdir /");
  return absl::OkStatus();
}

absl::Status FinishRootfs(const oci::Spec& spec) {
  if (spec.linux) {
    // An explicit propagation is applied again to the new "/" (runc does the same), so
    // "shared"/"rshared" holds for the container's own root.
    if (spec.linux->rootfs_propagation) {
      const unsigned long p = PropagationFlags(*spec.linux->rootfs_propagation);
      if (p != 0) KATA_RETURN_IF_ERROR(SetPropagation("/", p));
    }
    if (spec.linux->readonly_paths) {
      for (const std::string& p : *spec.linux->readonly_paths) {
        KATA_RETURN_IF_ERROR(ReadonlyPath(p));
      }
    }
    if (spec.linux->masked_paths) {
      for (const std::string& p : *spec.linux->masked_paths) KATA_RETURN_IF_ERROR(MaskPath(p));
    }
  }
  if (spec.root && spec.root->readonly.value_or(false)) {
    KATA_RETURN_IF_ERROR(Mount(nullptr, "/", nullptr,
                               MS_BIND | MS_REMOUNT | MS_RDONLY | LockedFlags("/"), nullptr,
                               "remount root read-only"));
  }
  return absl::OkStatus();
}

absl::Status SetupRootfs(const oci::Spec& spec, const std::string& rootfs_path,
                         const Options& options) {
  KATA_RETURN_IF_ERROR(PrepareRootfs(spec, rootfs_path, options));
  KATA_RETURN_IF_ERROR(PivotRoot(rootfs_path));
  return FinishRootfs(spec);
}

}  // namespace rootfs
}  // namespace kata
