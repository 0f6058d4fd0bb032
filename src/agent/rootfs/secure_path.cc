#include "src/agent/rootfs/secure_path.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace rootfs {
namespace {

constexpr int kMaxSymlinks = 255;

std::vector<std::string> Components(const std::string& path) {
  return absl::StrSplit(path, '/', absl::SkipEmpty());
}

}  // namespace

std::string JoinRoot(const std::string& root, const std::string& rel) {
  if (rel.empty()) return root;
  if (!root.empty() && root.back() == '/') return root + rel;
  return absl::StrCat(root, "/", rel);
}

absl::Status CheckNoDotDotEscape(const std::string& path) {
  int depth = 0;
  for (const std::string& c : Components(path)) {
    if (c == ".") continue;
    if (c == "..") {
      if (--depth < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("path ", path, " escapes the container root through \"..\""));
      }
      continue;
    }
    ++depth;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResolveInRoot(const std::string& root, const std::string& path) {
  if (absl::Status s = CheckNoDotDotEscape(path); !s.ok()) return s;
  std::deque<std::string> pending;
  for (std::string& c : Components(path)) pending.push_back(std::move(c));
  std::vector<std::string> resolved;
  int links = 0;
  while (!pending.empty()) {
    std::string c = std::move(pending.front());
    pending.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      if (!resolved.empty()) resolved.pop_back();  // ".." stops at the root
      continue;
    }
    resolved.push_back(c);
    const std::string full = JoinRoot(root, absl::StrJoin(resolved, "/"));
    struct stat st;
    if (lstat(full.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;  // kept as written
      return ErrnoStatus(errno, absl::StrCat("lstat ", full));
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++links > kMaxSymlinks) {
      return absl::InvalidArgumentError(
          absl::StrCat("resolve ", path, " in ", root, ": too many symlinks"));
    }
    char buf[PATH_MAX];
    ssize_t n = readlink(full.c_str(), buf, sizeof(buf) - 1);
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("readlink ", full));
    const std::string target(buf, static_cast<size_t>(n));
    resolved.pop_back();
    if (!target.empty() && target[0] == '/') resolved.clear();  // restart at the root
    std::vector<std::string> parts = Components(target);
    pending.insert(pending.begin(), parts.begin(), parts.end());
  }
  return absl::StrJoin(resolved, "/");
}

absl::Status CreateInRoot(const std::string& root, const std::string& rel, bool as_file) {
  UniqueFd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return ErrnoStatus(errno, absl::StrCat("open ", root));
  const std::vector<std::string> parts = Components(rel);
  std::string walked = root;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& c = parts[i];
    if (c == "." || c == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("create ", rel, " in ", root, ": not a resolved path"));
    }
    walked = absl::StrCat(walked, "/", c);
    const bool last = i + 1 == parts.size();
    if (last && as_file) {
      const UniqueFd file(openat(dir.get(), c.c_str(),
                                 O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644));
      if (!file) {
        // An existing non-regular file (a directory, a device) is acceptable as a target.
        struct stat st;
        if ((errno == EISDIR || errno == ENXIO) &&
            fstatat(dir.get(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode)) {
          return absl::OkStatus();
        }
        return ErrnoStatus(errno, absl::StrCat("create file ", walked));
      }
      return absl::OkStatus();
    }
    if (mkdirat(dir.get(), c.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", walked));
    }
    UniqueFd next(openat(dir.get(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
      // The last component may be an existing non-directory mount target (a file).
      struct stat st;
      if (last && errno == ENOTDIR &&
          fstatat(dir.get(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode)) {
        return absl::OkStatus();
      }
      return ErrnoStatus(errno, absl::StrCat("open ", walked));
    }
    dir = std::move(next);
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenInRoot(const std::string& root, const std::string& rel) {
  UniqueFd cur(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return ErrnoStatus(errno, absl::StrCat("open ", root));
  const std::vector<std::string> parts = Components(rel);
  std::string walked = root;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& c = parts[i];
    if (c == "." || c == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("open ", rel, " in ", root, ": not a resolved path"));
    }
    walked = absl::StrCat(walked, "/", c);
    const bool last = i + 1 == parts.size();
    UniqueFd next(
        openat(cur.get(), c.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY)));
    if (!next) return ErrnoStatus(errno, absl::StrCat("open ", walked));
    if (last) {  // O_PATH|O_NOFOLLOW opens a symlink itself: refuse it
      struct stat st;
      if (fstat(next.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", walked));
      if (S_ISLNK(st.st_mode)) return ErrnoStatus(ELOOP, absl::StrCat("open ", walked));
    }
    cur = std::move(next);
  }
  return cur;
}

std::string ProcFdPath(const UniqueFd& fd) { return absl::StrCat("/proc/self/fd/", fd.get()); }

}  // namespace rootfs
}  // namespace kata
