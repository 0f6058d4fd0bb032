#include "src/agent/rpc/guest_ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

absl::Status MkdirAll(const std::string& path, mode_t mode) {
  std::string cur;
  for (absl::string_view c : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    absl::StrAppend(&cur, "/", c);
    if (mkdir(cur.c_str(), mode) == 0) {
      if (chmod(cur.c_str(), mode) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", cur));
    } else if (errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", cur));
    }
  }
  return absl::OkStatus();
}

absl::Status Chown(const std::string& path, int32_t uid, int32_t gid) {
  if (uid < 0 && gid < 0) return absl::OkStatus();
  if (lchown(path.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chown ", path));
  }
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
  const mode_t mode = static_cast<mode_t>(r.file_mode() & 07777);
  if ((r.file_mode() & S_IFMT) == S_IFDIR) {
    KATA_RETURN_IF_ERROR(MkdirAll(path, mode));
    if (chmod(path.c_str(), mode) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", path));
    return Chown(path, r.uid(), r.gid());
  }
  if ((r.file_mode() & S_IFMT) == S_IFLNK) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("unlink ", path));
    }
    if (symlink(r.data().c_str(), path.c_str()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("symlink ", path));
    }
    return Chown(path, r.uid(), r.gid());
  }
  if (r.offset() < 0 || r.file_size() < 0) {
    return absl::InvalidArgumentError("CopyFile: negative offset or file_size");
  }
  const std::string tmp = path + ".tmp";
  UniqueFd file(open(tmp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!file) return ErrnoStatus(errno, absl::StrCat("open ", tmp));
  const int fd = file.get();
  size_t off = 0;
  while (off < r.data().size()) {
    const ssize_t n = RetryEintr([&] {
      return pwrite(fd, r.data().data() + off, r.data().size() - off,
                    static_cast<off_t>(r.offset()) + static_cast<off_t>(off));
    });
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("write ", tmp));
    off += static_cast<size_t>(n);
  }
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", tmp));
  if (st.st_size != r.file_size()) return absl::OkStatus();  // more chunks to come
  if (fchmod(fd, mode) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", tmp));
  KATA_RETURN_IF_ERROR(Chown(tmp, r.uid(), r.gid()));
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
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
