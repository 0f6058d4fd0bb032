#include "src/agent/storage/storage.h"

#include <errno.h>
#include <ftw.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "src/agent/rootfs/mount_options.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

absl::Status CheckMountPoint(const std::string& p) {
  if (p.empty() || p[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("mount_point \"", p, "\" is not an absolute path"));
  }
  for (absl::string_view c : absl::StrSplit(p, '/')) {
    if (c == "." || c == "..") {
      return absl::InvalidArgumentError(absl::StrCat("mount_point \"", p, "\" has . or .."));
    }
  }
  return absl::OkStatus();
}

// mkdir -p `path` with `mode`; appends what it created (parents first) to `created`.
absl::Status MkdirAll(const std::string& path, mode_t mode, std::vector<std::string>* created) {
  std::string cur;
  for (absl::string_view c : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    absl::StrAppend(&cur, "/", c);
    if (mkdir(cur.c_str(), mode) == 0) {
      created->push_back(cur);
    } else if (errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", cur));
    } else {
      struct stat st;
      if (stat(cur.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return absl::FailedPreconditionError(absl::StrCat(cur, " exists and is not a directory"));
      }
    }
  }
  return absl::OkStatus();
}

void RemoveCreated(const std::vector<std::string>& created) {
  for (auto it = created.rbegin(); it != created.rend(); ++it) rmdir(it->c_str());
}

int RemoveOne(const char* path, const struct stat*, int, struct FTW*) {
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

absl::Status RemoveTree(const std::string& path) {
  if (nftw(path.c_str(), RemoveOne, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("remove ", path));
  }
  return absl::OkStatus();
}

// "mode=0750" among `options`, else `def`.
absl::StatusOr<mode_t> ModeOption(const grpc::Storage& s, mode_t def) {
  for (const std::string& o : s.options()) {
    if (!absl::StartsWith(o, "mode=")) continue;
    unsigned int m = 0;
    std::string digits = o.substr(5);
    char* end = nullptr;
    m = static_cast<unsigned int>(strtoul(digits.c_str(), &end, 8));
    if (digits.empty() || *end != '\0' || m > 07777) {
      return absl::InvalidArgumentError(absl::StrCat("bad option ", o));
    }
    return static_cast<mode_t>(m);
  }
  return def;
}

absl::Status DoMount(const std::string& source, const std::string& target,
                     const std::string& fstype, const rootfs::MountOptions& mo) {
  unsigned long flags = mo.flags;
  bool bind = mo.IsBind() || (flags & MS_BIND) != 0;
  if (mount(source.c_str(), target.c_str(), fstype.empty() ? nullptr : fstype.c_str(),
            bind ? (flags & (MS_BIND | MS_REC)) : flags,
            mo.data.empty() || bind ? nullptr : mo.data.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("mount ", source, " (", fstype, ")"));
  }
  auto undo = absl::MakeCleanup([&] { umount2(target.c_str(), MNT_DETACH); });
  if (bind && (flags & ~(MS_BIND | MS_REC)) != 0) {
    if (mount(nullptr, target.c_str(), nullptr, flags | MS_REMOUNT | MS_BIND, nullptr) != 0) {
      return ErrnoStatus(errno, "remount");
    }
  }
  for (unsigned long p : mo.propagation) {
    if (mount(nullptr, target.c_str(), nullptr, p, nullptr) != 0) {
      return ErrnoStatus(errno, "set propagation");
    }
  }
  std::move(undo).Cancel();
  return absl::OkStatus();
}

// Kata's fs_group ownership: every file under `root` gets group `gid` and group rw (and
// directories setgid), as Kubernetes' fsGroup; OnRootMismatch skips it when the root
// already has that group.
// nftw has no user pointer: the group is a global, held for one walk at a time.
ABSL_CONST_INIT absl::Mutex g_fs_group_mu(absl::kConstInit);
gid_t g_fs_gid ABSL_GUARDED_BY(g_fs_group_mu) = 0;
int SetGroup(const char* path, const struct stat* st, int type, struct FTW*)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_fs_group_mu) {
  if (type == FTW_SL) return lchown(path, static_cast<uid_t>(-1), g_fs_gid) == 0 ? 0 : -1;
  if (lchown(path, static_cast<uid_t>(-1), g_fs_gid) != 0) return -1;
  mode_t mode = (st->st_mode & 07777) | S_IRGRP | S_IWGRP;
  if (type == FTW_D || type == FTW_DP) mode |= S_ISGID | S_IXGRP;
  return chmod(path, mode) == 0 ? 0 : -1;
}

absl::Status ApplyFsGroup(const grpc::Storage& s) {
  if (!s.has_fs_group()) return absl::OkStatus();
  const gid_t gid = static_cast<gid_t>(s.fs_group().group_id());
  struct stat st;
  if (stat(s.mount_point().c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("fs_group: stat ", s.mount_point()));
  }
  if (s.fs_group().group_change_policy() == types::OnRootMismatch && st.st_gid == gid) {
    return absl::OkStatus();
  }
  absl::MutexLock lock(&g_fs_group_mu);
  g_fs_gid = gid;
  if (nftw(s.mount_point().c_str(), SetGroup, 16, FTW_PHYS) != 0) {
    return ErrnoStatus(errno, absl::StrCat("fs_group ", gid, " on ", s.mount_point()));
  }
  return absl::OkStatus();
}

}  // namespace

StorageManager::StorageManager(StorageOptions options) : options_(std::move(options)) {}

std::vector<std::string> StorageManager::Drivers() {
  return {"9p",   "virtio-fs", "virtiofs", "blk",       "mmioblk",
          "scsi", "ephemeral", "bind",     "overlayfs", "local"};
}

absl::Status StorageManager::Mount(const grpc::Storage& s, Entry* e) {
  const std::string& d = s.driver();
  const std::string& mp = s.mount_point();
  if (d == "local") {
    KATA_ASSIGN_OR_RETURN(mode_t mode, ModeOption(s, 0777));
    KATA_RETURN_IF_ERROR(MkdirAll(mp, 0755, &e->created));
    if (chmod(mp.c_str(), mode) != 0) {
      RemoveCreated(e->created);
      return ErrnoStatus(errno, absl::StrCat("chmod ", mp));
    }
    e->remove_tree = !e->created.empty() && e->created.back() == mp;
    return absl::OkStatus();
  }
  std::vector<std::string> known = Drivers();
  if (std::find(known.begin(), known.end(), d) == known.end()) {
    return absl::UnimplementedError(absl::StrCat("storage driver \"", d, "\" is not supported"));
  }
  std::vector<std::string> opts(s.options().begin(), s.options().end());
  std::string source = s.source();
  std::string fstype = s.fstype();
  if (d == "9p") {
    fstype = "9p";
  } else if (d == "virtio-fs" || d == "virtiofs") {
    fstype = "virtiofs";
  } else if (d == "ephemeral") {
    if (fstype.empty()) fstype = "tmpfs";
    if (source.empty()) source = "tmpfs";
  } else if (d == "bind") {
    fstype.clear();
    opts.push_back("rbind");
    if (source.empty() || source[0] != '/') {
      return absl::InvalidArgumentError("bind storage: source is not an absolute path");
    }
  } else if (d == "overlayfs") {
    fstype = "overlay";
    if (source.empty()) source = "overlay";
    for (const std::string& o : opts) {
      for (const char* key : {"upperdir=", "workdir="}) {
        if (absl::StartsWith(o, key)) {
          std::vector<std::string> ignored;  // the overlay's own dirs stay with the mount
          KATA_RETURN_IF_ERROR(MkdirAll(o.substr(strlen(key)), 0755, &ignored));
        }
      }
    }
  } else {  // blk, mmioblk, scsi
    if (fstype.empty()) return absl::InvalidArgumentError("block storage: no fstype");
    KATA_ASSIGN_OR_RETURN(source, device::WaitForBlockDevice(d, source, options_.devices));
  }
  if (source.empty()) return absl::InvalidArgumentError("no source");
  KATA_RETURN_IF_ERROR(MkdirAll(mp, 0755, &e->created));
  absl::Status st = DoMount(source, mp, fstype, rootfs::ParseMountOptions(opts));
  if (!st.ok()) {
    RemoveCreated(e->created);
    e->created.clear();
    return st;
  }
  e->mounted = true;
  return absl::OkStatus();
}

absl::Status StorageManager::Unmount(const std::string& mp, const Entry& e) {
  absl::Status st;
  if (e.mounted && umount2(mp.c_str(), 0) != 0) {
    int err = errno;
    if (err != EBUSY || umount2(mp.c_str(), MNT_DETACH) != 0) {
      st = ErrnoStatus(err, absl::StrCat("storage at ", mp, ": umount"));
    }
  }
  if (e.remove_tree) {
    absl::Status r = RemoveTree(mp);
    if (st.ok()) st = r;
    std::vector<std::string> parents(e.created.begin(), e.created.end() - 1);
    RemoveCreated(parents);
  } else {
    RemoveCreated(e.created);
  }
  return st;
}

absl::Status StorageManager::AddOneLocked(const grpc::Storage& s) {
  const std::string what =
      absl::StrCat("storage ", s.driver(), " ", s.source(), " at ", s.mount_point());
  KATA_RETURN_IF_ERROR(AnnotateStatus(CheckMountPoint(s.mount_point()), what));
  auto it = entries_.find(s.mount_point());
  if (it == entries_.end()) {
    Entry e;
    KATA_RETURN_IF_ERROR(AnnotateStatus(Mount(s, &e), what));
    absl::Status fs = ApplyFsGroup(s);
    if (!fs.ok()) {
      Unmount(s.mount_point(), e).IgnoreError();
      return AnnotateStatus(fs, what);
    }
    it = entries_.emplace(s.mount_point(), std::move(e)).first;
  }
  ++it->second.refs;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> StorageManager::Add(
    const google::protobuf::RepeatedPtrField<grpc::Storage>& storages) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> held;
  for (const grpc::Storage& s : storages) {
    absl::Status st = AddOneLocked(s);
    if (!st.ok()) {
      ReleaseLocked(held).IgnoreError();  // all or nothing
      return st;
    }
    held.push_back(s.mount_point());
  }
  return held;
}

absl::Status StorageManager::Release(const std::vector<std::string>& mount_points) {
  absl::MutexLock lock(&mu_);
  return ReleaseLocked(mount_points);
}

absl::Status StorageManager::ReleaseLocked(const std::vector<std::string>& mount_points) {
  absl::Status first;
  for (auto it = mount_points.rbegin(); it != mount_points.rend(); ++it) {
    auto e = entries_.find(*it);
    if (e == entries_.end()) continue;
    if (--e->second.refs > 0) continue;
    absl::Status st = Unmount(*it, e->second);
    if (first.ok()) first = st;
    entries_.erase(e);
  }
  return first;
}

std::map<std::string, int> StorageManager::Held() {
  absl::MutexLock lock(&mu_);
  std::map<std::string, int> out;
  for (const auto& [mp, e] : entries_) out[mp] = e.refs;
  return out;
}

}  // namespace agent
}  // namespace kata
