#include "src/runtime/sandbox/host_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata::runtime {
namespace {

struct Flag {
  bool clear;
  unsigned long value;
};

const std::map<std::string, Flag>& FlagTable() {
  static const auto* table = new std::map<std::string, Flag>{
      {"defaults", {false, 0}},
      {"ro", {false, MS_RDONLY}},
      {"rw", {true, MS_RDONLY}},
      {"nosuid", {false, MS_NOSUID}},
      {"suid", {true, MS_NOSUID}},
      {"nodev", {false, MS_NODEV}},
      {"dev", {true, MS_NODEV}},
      {"noexec", {false, MS_NOEXEC}},
      {"exec", {true, MS_NOEXEC}},
      {"sync", {false, MS_SYNCHRONOUS}},
      {"async", {true, MS_SYNCHRONOUS}},
      {"dirsync", {false, MS_DIRSYNC}},
      {"mand", {false, MS_MANDLOCK}},
      {"nomand", {true, MS_MANDLOCK}},
      {"noatime", {false, MS_NOATIME}},
      {"atime", {true, MS_NOATIME}},
      {"nodiratime", {false, MS_NODIRATIME}},
      {"diratime", {true, MS_NODIRATIME}},
      {"relatime", {false, MS_RELATIME}},
      {"norelatime", {true, MS_RELATIME}},
      {"strictatime", {false, MS_STRICTATIME}},
      {"bind", {false, MS_BIND}},
      {"rbind", {false, MS_BIND | MS_REC}},
  };
  return *table;
}

const std::map<std::string, unsigned long>& PropagationTable() {
  static const auto* table = new std::map<std::string, unsigned long>{
      {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
      {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
  };
  return *table;
}

// /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string FdPath(int fd) { return absl::StrCat("/proc/self/fd/", fd); }

// The entry `target.name` of its directory, opened O_PATH without following a symlink: the
// topmost mount's root when something is mounted there.
absl::StatusOr<UniqueFd> OpenTarget(const MountTarget& target) {
  if (target.name.empty() || target.name.find('/') != std::string::npos || target.name == "." ||
      target.name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("mount target ", target.path, ": \"", target.name, "\" is not one name"));
  }
  UniqueFd fd(openat(target.dir_fd, target.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("mount target ", target.path));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", target.path));
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "mount target ", target.path, " is neither a directory nor a file (a symlink?)"));
  }
  return fd;
}

// Detaches the topmost mount at `target` (rollback).
void UnmountTop(const MountTarget& target) {
  absl::StatusOr<UniqueFd> fd = OpenTarget(target);
  if (fd.ok()) umount2(FdPath(fd->get()).c_str(), MNT_DETACH);
}

absl::Status SetPropagation(const MountTarget& target, unsigned long propagation) {
  KATA_ASSIGN_OR_RETURN(UniqueFd top, OpenTarget(target));
  if (mount(nullptr, FdPath(top.get()).c_str(), nullptr, propagation, nullptr) != 0) {
    return ErrnoStatus(errno, absl::StrCat("set propagation of ", target.path));
  }
  return absl::OkStatus();
}

absl::Status MountOne(const RootfsMount& m, const MountTarget& target) {
  ParsedMountOptions p = ParseMountOptions(m.options);
  if (m.type == "bind") p.flags |= MS_BIND;
  if ((p.flags & MS_BIND) != 0) {
    KATA_RETURN_IF_ERROR(
        BindMount(m.source, target,
                  {.recursive = (p.flags & MS_REC) != 0, .read_only = (p.flags & MS_RDONLY) != 0}));
  } else {
    KATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenTarget(target));
    if (mount(m.source.c_str(), FdPath(fd.get()).c_str(), m.type.c_str(),
              p.flags | MS_NOSUID | MS_NODEV, p.data.empty() ? nullptr : p.data.c_str()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("mount ", m.type, " ", m.source, " on ", target.path));
    }
  }
  if (p.propagation != 0) {
    absl::Status s = SetPropagation(target, p.propagation);
    if (!s.ok()) {
      UnmountTop(target);
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

ParsedMountOptions ParseMountOptions(const std::vector<std::string>& options) {
  ParsedMountOptions out;
  std::vector<std::string> data;
  for (const std::string& o : options) {
    auto f = FlagTable().find(o);
    if (f != FlagTable().end()) {
      if (f->second.clear) {
        out.flags &= ~f->second.value;
      } else {
        out.flags |= f->second.value;
      }
      continue;
    }
    auto p = PropagationTable().find(o);
    if (p != PropagationTable().end()) {
      out.propagation |= p->second;
      continue;
    }
    data.push_back(o);
  }
  out.data = absl::StrJoin(data, ",");
  return out;
}

absl::StatusOr<UniqueFd> OpenDirNoFollow(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open directory ", path));
  return fd;
}

absl::StatusOr<UniqueFd> MakeDirAt(int dir_fd, const std::string& name, mode_t mode,
                                   const std::string& path) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("mkdir ", path, ": not one name"));
  }
  if (mkdirat(dir_fd, name.c_str(), mode) != 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("mkdir ", path, ": something is there"));
    }
    return ErrnoStatus(errno, absl::StrCat("mkdir ", path));
  }
  UniqueFd fd(openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open directory ", path));
  // Exact, whatever the umask (an O_PATH descriptor: chmod through its /proc link).
  if (chmod(FdPath(fd.get()).c_str(), mode) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chmod ", path));
  }
  return fd;
}

absl::Status MountAll(const std::vector<RootfsMount>& mounts, const MountTarget& target) {
  size_t done = 0;
  absl::Cleanup undo = [&] {
    for (size_t i = 0; i < done; ++i) UnmountTop(target);
  };
  for (const RootfsMount& m : mounts) {
    KATA_RETURN_IF_ERROR(MountOne(m, target));
    ++done;
  }
  std::move(undo).Cancel();
  return absl::OkStatus();
}

absl::Status BindMount(const std::string& source, const MountTarget& target,
                       const BindOptions& options) {
  UniqueFd fd(open(source.c_str(), O_PATH | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("bind mount source ", source));
  return BindMountFd(fd.get(), source, target, options);
}

absl::Status BindMountFd(int source_fd, const std::string& source, const MountTarget& target,
                         const BindOptions& options) {
  const std::string what = absl::StrCat("bind ", source, " on ", target.path);
  KATA_ASSIGN_OR_RETURN(UniqueFd to, OpenTarget(target));
  const unsigned int rec = options.recursive ? AT_RECURSIVE : 0;
  // A detached clone first: its flags are final before anyone (a propagated copy) sees it.
  UniqueFd tree(static_cast<int>(syscall(
      SYS_open_tree, source_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | rec)));
  if (!tree) return ErrnoStatus(errno, what + ": open_tree");
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (options.read_only) attr.attr_set |= MOUNT_ATTR_RDONLY;
  if (syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | rec, &attr, sizeof(attr)) != 0) {
    return ErrnoStatus(errno, what + ": mount_setattr");
  }
  if (syscall(SYS_move_mount, tree.get(), "", to.get(), "",
              MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
    return ErrnoStatus(errno, what + ": move_mount");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> MountPointsUnder(const std::string& dir) {
  absl::StatusOr<std::string> mountinfo = ReadFileToString("/proc/self/mountinfo");
  if (!mountinfo.ok()) return mountinfo.status();
  std::string prefix = dir;
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(*mountinfo, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() < 5) continue;
    std::string mp = Unescape(f[4]);
    if (mp == prefix || absl::StartsWith(mp, prefix + "/")) out.push_back(mp);
  }
  // Deepest first; for the same path, the later (upper) mount first — a stable reverse.
  std::reverse(out.begin(), out.end());
  std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  return out;
}

absl::Status UnmountUnder(const std::string& dir) {
  absl::Status first;
  for (int pass = 0; pass < 8; ++pass) {
    absl::StatusOr<std::vector<std::string>> points = MountPointsUnder(dir);
    if (!points.ok()) return points.status();
    bool progress = false;
    for (const std::string& mp : *points) {
      if (umount2(mp.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
        progress = true;
      } else if (errno != EINVAL && errno != ENOENT && first.ok()) {
        first = ErrnoStatus(errno, absl::StrCat("unmount ", mp));
      }
    }
    if (!progress) break;
  }
  return first;
}

}  // namespace kata::runtime
