#include "src/agent/rpc/guest_ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace {

std::string RealPath(const std::string& p) {
  char buf[PATH_MAX];
  return realpath(p.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

bool Under(const std::string& path, const std::string& base) {
  return absl::StartsWith(path, base + "/") || path == base;
}

absl::Status CheckPath(const std::string& base, const std::string& path) {
  absl::Status denied = absl::PermissionDeniedError(
      absl::StrCat("CopyFile: ", path, " is not allowed (only under ", base, ")"));
  if (path.empty() || path[0] != '/' || path.size() <= base.size() + 1 ||
      !absl::StartsWith(path, base + "/")) {
    return denied;
  }
  for (absl::string_view c : absl::StrSplit(path, '/')) {
    if (c == "." || c == "..") return denied;
  }
  std::string rbase = RealPath(base);
  if (rbase.empty()) rbase = base;  // created below with the first file
  // The deepest existing ancestor must stay under the base once symlinks are resolved.
  std::string cur = path.substr(0, path.rfind('/'));
  while (!cur.empty() && RealPath(cur).empty()) cur = cur.substr(0, cur.rfind('/'));
  std::string rcur = cur.empty() ? "/" : RealPath(cur);
  if (Under(cur, base) && !Under(rcur, rbase)) return denied;
  return absl::OkStatus();
}

// mkdir -p; a directory it creates gets `mode` (through an fd that never follows a symlink).
absl::Status MkdirAll(const std::string& path, mode_t mode) {
  std::string cur;
  for (absl::string_view c : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    absl::StrAppend(&cur, "/", c);
    if (mkdir(cur.c_str(), mode) == 0) {
      UniqueFd d(open(cur.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!d || fchmod(d.get(), mode) != 0) {
        return ErrnoStatus(errno, absl::StrCat("chmod ", cur));
      }
    } else if (errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", cur));
    }
  }
  return absl::OkStatus();
}

// fchown of `fd` (-1 = unchanged), naming `path` in errors.
absl::Status Fchown(int fd, const std::string& path, int32_t uid, int32_t gid) {
  if (uid < 0 && gid < 0) return absl::OkStatus();
  if (fchown(fd, static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chown ", path));
  }
  return absl::OkStatus();
}

// The parent directory of `path` (which CheckPath accepted), opened and checked again once
// open: its real path (through the fd, so a swap after CheckPath shows) is under `base`.
absl::StatusOr<UniqueFd> OpenParent(const std::string& base, const std::string& path) {
  const std::string parent = path.substr(0, path.rfind('/'));
  UniqueFd dir(open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return ErrnoStatus(errno, absl::StrCat("open ", parent));
  std::string rbase = RealPath(base);
  if (rbase.empty()) rbase = base;
  const std::string real = RealPath(absl::StrCat("/proc/self/fd/", dir.get()));
  if (real.empty() || !Under(real, rbase)) {
    return absl::PermissionDeniedError(absl::StrCat("CopyFile: ", path,
                                                    " is not allowed (its directory resolves to ",
                                                    real, ", not under ", base, ")"));
  }
  return dir;
}

// A fresh name for a temp file next to `name`: ".<name>.<16 random hex digits>".
std::string RandomTempName(const std::string& name) {
  uint64_t r = 0;
  // Unpredictable enough, without waiting for the guest's random pool early in its boot.
  if (getrandom(&r, sizeof(r), GRND_INSECURE) != static_cast<ssize_t>(sizeof(r)) &&
      getrandom(&r, sizeof(r), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(r))) {
    r = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) ^ static_cast<uint64_t>(getpid());
  }
  return absl::StrCat(".", name, ".", absl::Hex(r, absl::kZeroPad16));
}

// S_IFDIR: creates `name` in `dir` (if missing) and sets mode and owner through an fd opened
// with O_NOFOLLOW, so a symlink there fails instead of being followed.
absl::Status CopyDir(int dir, const std::string& name, const std::string& path, mode_t mode,
                     const grpc::CopyFileRequest& r) {
  if (mkdirat(dir, name.c_str(), mode) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("mkdir ", path));
  }
  UniqueFd d(openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return absl::FailedPreconditionError(absl::StrCat(
          "CopyFile: ", path, " exists and is not a directory (a symlink is never followed)"));
    }
    return ErrnoStatus(errno, absl::StrCat("open ", path));
  }
  if (fchmod(d.get(), mode) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", path));
  return Fchown(d.get(), path, r.uid(), r.gid());
}

// S_IFLNK: a symlink made under a fresh temp name, then renamed over `name` (replacing a
// file or symlink there, never following it).
absl::Status CopySymlink(int dir, const std::string& name, const std::string& path,
                         const grpc::CopyFileRequest& r) {
  const std::string tmp = RandomTempName(name);
  if (symlinkat(r.data().c_str(), dir, tmp.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("symlink ", path));
  }
  absl::Cleanup remove = [&] { unlinkat(dir, tmp.c_str(), 0); };
  if ((r.uid() >= 0 || r.gid() >= 0) &&
      fchownat(dir, tmp.c_str(), static_cast<uid_t>(r.uid()), static_cast<gid_t>(r.gid()),
               AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chown ", path));
  }
  if (renameat(dir, tmp.c_str(), dir, name.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rename to ", path));
  }
  std::move(remove).Cancel();
  return absl::OkStatus();
}

// The temp file a regular-file chunk goes to (see the header): the whole file in one chunk:
// a fresh random name; the first of several chunks: "<name>.tmp", removed first (whatever was
// there is never written through) and created O_EXCL; a later chunk: "<name>.tmp" again,
// which must be the agent's own single-link regular file.
absl::StatusOr<UniqueFd> OpenTemp(int dir, const std::string& tmp, const std::string& path,
                                  bool first) {
  const std::string what = absl::StrCat("temp file of ", path);
  if (first) {
    if (unlinkat(dir, tmp.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("remove stale ", what));
    }
    UniqueFd fd(
        openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return ErrnoStatus(errno, absl::StrCat("create ", what));
    return fd;
  }
  UniqueFd fd(openat(dir, tmp.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", what));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", what));
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid() ||
      (st.st_mode & 07777) != 0600) {
    return absl::FailedPreconditionError(
        absl::StrCat("CopyFile: the ", what, " is not the one its first chunk created"));
  }
  return fd;
}

// A regular file's chunk (see the header).
absl::Status CopyRegular(int dir, const std::string& name, const std::string& path, mode_t mode,
                         const grpc::CopyFileRequest& r) {
  if (r.offset() < 0 || r.file_size() < 0) {
    return absl::InvalidArgumentError("CopyFile: negative offset or file_size");
  }
  const bool whole = r.offset() == 0 && static_cast<int64_t>(r.data().size()) == r.file_size();
  const std::string tmp = whole ? RandomTempName(name) : name + ".tmp";
  KATA_ASSIGN_OR_RETURN(UniqueFd file, OpenTemp(dir, tmp, path, whole || r.offset() == 0));
  const int fd = file.get();
  if (whole || r.offset() == 0) fchmod(fd, 0600);  // whatever the umask made of it
  absl::Cleanup remove = [&] { unlinkat(dir, tmp.c_str(), 0); };
  size_t off = 0;
  while (off < r.data().size()) {
    const ssize_t n = RetryEintr([&] {
      return pwrite(fd, r.data().data() + off, r.data().size() - off,
                    static_cast<off_t>(r.offset()) + static_cast<off_t>(off));
    });
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("write ", path, " (temp file)"));
    off += static_cast<size_t>(n);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat temp file of ", path));
  if (st.st_size != r.file_size()) {  // more chunks to come
    std::move(remove).Cancel();
    return absl::OkStatus();
  }
  if (fchmod(fd, mode) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", path));
  KATA_RETURN_IF_ERROR(Fchown(fd, path, r.uid(), r.gid()));
  if (renameat(dir, tmp.c_str(), dir, name.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rename temp file to ", path));
  }
  std::move(remove).Cancel();
  return absl::OkStatus();
}

// The trimmed content of `path`; "" when it cannot be read.
std::string ReadTrimmed(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  return text.ok() ? std::string(absl::StripAsciiWhitespace(*text)) : std::string();
}

// Onlines up to `max` (< 0: all) offline entries <dir>/<prefix>N/online; returns how many.
absl::StatusOr<int> OnlineSome(const std::string& dir, const std::string& prefix, int max) {
  int done = 0;
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), &closedir);
  if (d == nullptr) return ErrnoStatus(errno, absl::StrCat("open ", dir));
  while (dirent* e = readdir(d.get())) {
    if (max >= 0 && done >= max) break;
    absl::string_view name = e->d_name;
    int n;
    if (!absl::StartsWith(name, prefix) || !absl::SimpleAtoi(name.substr(prefix.size()), &n)) {
      continue;
    }
    std::string online = absl::StrCat(dir, "/", name, "/online");
    if (ReadTrimmed(online) != "0") continue;
    KATA_RETURN_IF_ERROR(WriteStringToFile(online, "1"));
    ++done;
  }
  return done;
}

}  // namespace

absl::Status CopyFileUnder(const std::string& base, const grpc::CopyFileRequest& r) {
  const std::string& path = r.path();
  KATA_RETURN_IF_ERROR(CheckPath(base, path));
  const std::string parent = path.substr(0, path.rfind('/'));
  struct stat st;
  if (stat(parent.c_str(), &st) != 0) {
    KATA_RETURN_IF_ERROR(MkdirAll(parent, static_cast<mode_t>(r.dir_mode() & 07777)));
  }
  KATA_ASSIGN_OR_RETURN(UniqueFd dir, OpenParent(base, path));
  const std::string name = path.substr(path.rfind('/') + 1);
  const mode_t mode = static_cast<mode_t>(r.file_mode() & 07777);
  switch (r.file_mode() & S_IFMT) {
    case S_IFDIR:
      return CopyDir(dir.get(), name, path, mode, r);
    case S_IFLNK:
      return CopySymlink(dir.get(), name, path, r);
    default:
      return CopyRegular(dir.get(), name, path, mode, r);
  }
}

absl::Status OnlineCpuMem(const std::string& sysfs_root, const grpc::OnlineCPUMemRequest& r) {
  const int want = static_cast<int>(std::min<uint32_t>(r.nb_cpus(), 1 << 16));
  if (want > 0) {
    const std::string dir = absl::StrCat(sysfs_root, "/devices/system/cpu");
    int done = 0;
    for (int attempt = 0; attempt < 100 && done < want; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      KATA_ASSIGN_OR_RETURN(int n, OnlineSome(dir, "cpu", want - done));
      done += n;
    }
    if (done < want) {
      return absl::DeadlineExceededError(
          absl::StrCat("OnlineCPUMem: onlined ", done, " of ", want, " cpus"));
    }
  }
  if (!r.cpu_only()) {
    const std::string dir = absl::StrCat(sysfs_root, "/devices/system/memory");
    struct stat st;
    if (stat(dir.c_str(), &st) == 0) {
      KATA_ASSIGN_OR_RETURN(int n, OnlineSome(dir, "memory", -1));
      (void)n;
    }
  }
  return absl::OkStatus();
}

absl::Status SystemSetTime(const struct timeval& tv) {
  if (settimeofday(&tv, nullptr) != 0) return ErrnoStatus(errno, "settimeofday");
  return absl::OkStatus();
}

absl::Status SetGuestDateTime(const SetTimeFn& set_time, const grpc::SetGuestDateTimeRequest& r) {
  if (r.sec() < 0 || r.usec() < 0 || r.usec() >= 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("SetGuestDateTime: bad time ", r.sec(), "s ", r.usec(), "us"));
  }
  struct timeval tv;
  tv.tv_sec = static_cast<time_t>(r.sec());
  tv.tv_usec = static_cast<suseconds_t>(r.usec());
  return set_time(tv);
}

}  // namespace agent
}  // namespace kata
