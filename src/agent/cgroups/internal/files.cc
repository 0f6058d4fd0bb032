#include "src/agent/cgroups/internal/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/io.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace internal {

namespace {
std::string Join(const std::string& dir, const std::string& file) {
  return absl::StrCat(dir, "/", file);
}
}  // namespace

absl::Status CgroupError(const std::string& dir, int err, absl::string_view what) {
  return ErrnoStatus(err, absl::StrCat("cgroup ", dir, ": ", what));
}

absl::Status CgroupMessage(absl::StatusCode code, const std::string& dir, absl::string_view what) {
  return absl::Status(code, absl::StrCat("cgroup ", dir, ": ", what));
}

bool FileExists(const std::string& dir, const std::string& file) {
  struct stat st;
  return ::stat(Join(dir, file).c_str(), &st) == 0;
}

absl::StatusOr<std::string> ReadFile(const std::string& dir, const std::string& file) {
  UniqueFd fd(::open(Join(dir, file).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return CgroupError(dir, errno, absl::StrCat("read ", file));
  absl::StatusOr<std::string> text = ReadAll(fd.get());
  if (!text.ok()) {
    return AnnotateStatus(text.status(), absl::StrCat("cgroup ", dir, ": read ", file));
  }
  return text;
}

absl::Status WriteFile(const std::string& dir, const std::string& file, absl::string_view value) {
  UniqueFd fd(::open(Join(dir, file).c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) return CgroupError(dir, errno, absl::StrCat("write ", file));
  const ssize_t n = RetryEintr([&] { return ::write(fd.get(), value.data(), value.size()); });
  if (n < 0) return CgroupError(dir, errno, absl::StrCat("write ", file));
  if (static_cast<size_t>(n) != value.size()) {
    return CgroupMessage(absl::StatusCode::kInternal, dir,
                         absl::StrCat("write ", file, ": short write"));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ReadUint(const std::string& dir, const std::string& file) {
  absl::StatusOr<std::string> text = ReadFile(dir, file);
  if (!text.ok()) return text.status();
  absl::string_view v = absl::StripAsciiWhitespace(*text);
  if (v == "max") return std::numeric_limits<uint64_t>::max();
  uint64_t out;
  if (!absl::SimpleAtoi(v, &out)) {
    return CgroupMessage(absl::StatusCode::kDataLoss, dir,
                         absl::StrCat("read ", file, ": not a number: \"", v, "\""));
  }
  return out;
}

absl::StatusOr<std::map<std::string, uint64_t>> ReadKeyValues(const std::string& dir,
                                                              const std::string& file) {
  absl::StatusOr<std::string> text = ReadFile(dir, file);
  if (!text.ok()) return text.status();
  std::map<std::string, uint64_t> out;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t v;
    if (kv.size() == 2 && absl::SimpleAtoi(kv[1], &v)) out[std::string(kv[0])] = v;
  }
  return out;
}

absl::StatusOr<std::vector<pid_t>> ReadProcs(const std::string& dir) {
  absl::StatusOr<std::string> text = ReadFile(dir, "cgroup.procs");
  if (!text.ok()) return text.status();
  std::vector<pid_t> out;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipWhitespace())) {
    int pid;
    if (absl::SimpleAtoi(line, &pid)) out.push_back(pid);
  }
  return out;
}

absl::Status ValidateRelativePath(absl::string_view path) {
  if (path.empty() || path.front() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("cgroup path \"", path, "\": must be relative and non-empty"));
  }
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("cgroup path \"", path, "\": \".\" and \"..\" are not allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status MkdirAll(const std::string& base, absl::string_view rel,
                      std::vector<std::string>* created) {
  std::string cur = base;
  for (absl::string_view part : absl::StrSplit(rel, '/', absl::SkipEmpty())) {
    absl::StrAppend(&cur, "/", part);
    if (::mkdir(cur.c_str(), 0755) == 0) {
      created->push_back(cur);
    } else if (errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("cgroup ", cur, ": mkdir"));
    }
  }
  return absl::OkStatus();
}

absl::Status RemoveDir(const std::string& dir) {
  for (int attempt = 0;; ++attempt) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
    if (errno != EBUSY || attempt >= 50)
      return ErrnoStatus(errno, absl::StrCat("cgroup ", dir, ": rmdir"));
    ::usleep(10 * 1000);
  }
}

absl::Status RemoveDirs(const std::vector<std::string>& dirs) {
  absl::Status first;
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    absl::Status s = RemoveDir(*it);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

absl::Status ApplyWrites(const std::vector<Write>& writes) {
  for (const Write& w : writes) {
    if (!FileExists(w.dir, w.file)) {
      return CgroupMessage(absl::StatusCode::kFailedPrecondition, w.dir,
                           absl::StrCat(w.file, " does not exist (controller not available?)"));
    }
  }
  std::vector<std::pair<const Write*, std::string>> saved;
  std::map<std::string, bool> seen;  // save each file's original value once
  for (const Write& w : writes) {
    std::string key = Join(w.dir, w.file);
    if (!w.restorable || seen[key]) continue;
    seen[key] = true;
    absl::StatusOr<std::string> old = ReadFile(w.dir, w.file);
    if (!old.ok()) return old.status();
    saved.emplace_back(&w, std::string(absl::StripTrailingAsciiWhitespace(*old)));
  }
  for (const Write& w : writes) {
    absl::Status s = WriteFile(w.dir, w.file, w.value);
    if (s.ok()) continue;
    for (auto it = saved.rbegin(); it != saved.rend(); ++it) {
      (void)WriteFile(it->first->dir, it->first->file, it->second);
    }
    return s;
  }
  return absl::OkStatus();
}

absl::Status WaitUntil(const std::function<absl::StatusOr<bool>()>& done, absl::Duration timeout,
                       const std::string& dir, absl::string_view what) {
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(1);
  for (;;) {
    absl::StatusOr<bool> d = done();
    if (!d.ok()) return d.status();
    if (*d) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return CgroupMessage(absl::StatusCode::kDeadlineExceeded, dir,
                           absl::StrCat(what, ": not done after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(20));
  }
}

}  // namespace internal
}  // namespace cgroups
}  // namespace agent
}  // namespace kata
