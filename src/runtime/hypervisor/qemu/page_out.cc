#include "src/runtime/hypervisor/qemu/page_out.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata::hypervisor::qemu {
namespace {

// "start-end perms offset major:minor inode [path]"; false when malformed.
bool ParseLine(absl::string_view line, FileMapping* m) {
  std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
  if (f.size() < 5) return false;
  std::pair<absl::string_view, absl::string_view> range = absl::StrSplit(f[0], '-');
  std::pair<absl::string_view, absl::string_view> dev = absl::StrSplit(f[3], ':');
  uint64_t offset = 0, major = 0, minor = 0, inode = 0;
  if (!absl::SimpleHexAtoi(range.first, &m->start) || !absl::SimpleHexAtoi(range.second, &m->end) ||
      m->end < m->start || !absl::SimpleHexAtoi(f[2], &offset) ||
      !absl::SimpleHexAtoi(dev.first, &major) || !absl::SimpleHexAtoi(dev.second, &minor) ||
      !absl::SimpleAtoi(f[4], &inode)) {
    return false;
  }
  m->dev = makedev(major, minor);
  m->inode = static_cast<ino_t>(inode);
  return true;
}

// process_madvise's errors: EINVAL is an advice this kernel does not know.
absl::Status MadviseError(int err, pid_t pid) {
  const std::string what = absl::StrCat("page out file mappings of pid ", pid, ": process_madvise");
  if (err == EINVAL) {
    return absl::UnimplementedError(absl::StrCat(what, ": MADV_PAGEOUT is not supported (EINVAL)"));
  }
  return ErrnoStatus(err, what);
}

}  // namespace

absl::StatusOr<std::vector<FileMapping>> ParseFileMappings(absl::string_view maps) {
  std::vector<FileMapping> out;
  for (absl::string_view line : absl::StrSplit(maps, '\n', absl::SkipEmpty())) {
    FileMapping m;
    if (!ParseLine(line, &m)) {
      return absl::InvalidArgumentError(
          absl::StrCat("maps: malformed line \"", line.substr(0, 200), "\""));
    }
    if (m.inode != 0) out.push_back(m);
  }
  return out;
}

absl::StatusOr<PageOutResult> PageOutFileMappings(pid_t pid,
                                                  const std::vector<std::string>& paths) {
  std::vector<struct stat> files;
  for (const std::string& path : paths) {
    if (path.empty()) continue;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("page out ", path));
    files.push_back(st);
  }
  // The pidfd first: the maps read next are then this process's (a pid reused in between
  // would make process_madvise fail with ESRCH on the pidfd instead of advising a stranger).
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return ErrnoStatus(errno, absl::StrCat("page out file mappings: pidfd_open ", pid));
  const std::string maps_path = absl::StrCat("/proc/", pid, "/maps");
  absl::StatusOr<std::string> maps = ReadFileToString(maps_path);
  if (!maps.ok()) return maps.status();
  absl::StatusOr<std::vector<FileMapping>> mappings = ParseFileMappings(*maps);
  if (!mappings.ok()) return AnnotateStatus(mappings.status(), maps_path);
  PageOutResult result;
  std::vector<struct iovec> iov;
  for (const FileMapping& m : *mappings) {
    for (const struct stat& st : files) {
      if (m.dev != st.st_dev || m.inode != st.st_ino) continue;
      iov.push_back({reinterpret_cast<void*>(m.start), static_cast<size_t>(m.end - m.start)});
      ++result.mappings;
      result.bytes += m.end - m.start;
      break;
    }
  }
  if (iov.empty()) return result;
  if (syscall(SYS_process_madvise, pidfd.get(), iov.data(), iov.size(), MADV_PAGEOUT, 0) < 0) {
    return MadviseError(errno, pid);
  }
  return result;
}

}  // namespace kata::hypervisor::qemu
