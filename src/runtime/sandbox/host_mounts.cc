#include "src/runtime/sandbox/host_mounts.h"

#include <errno.h>
#include <sys/mount.h>

#include <algorithm>
#include <map>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/libs/base/file.h"
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

absl::Status MountOne(const RootfsMount& m, const std::string& target) {
  ParsedMountOptions p = ParseMountOptions(m.options);
  if (m.type == "bind") p.flags |= MS_BIND;
  const bool bind = (p.flags & MS_BIND) != 0;
  const char* type = bind ? nullptr : m.type.c_str();
  unsigned long flags = bind ? (p.flags & (MS_BIND | MS_REC)) : p.flags;
  if (mount(m.source.c_str(), target.c_str(), type, flags,
            p.data.empty() || bind ? nullptr : p.data.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("mount ", m.type, " ", m.source, " on ", target));
  }
  if (bind && (p.flags & ~(MS_BIND | MS_REC)) != 0) {
    // A bind mount takes its other flags only on a remount.
    if (mount(nullptr, target.c_str(), nullptr,
              MS_REMOUNT | MS_BIND | (p.flags & ~(MS_BIND | MS_REC)), nullptr) != 0) {
      int err = errno;
      umount2(target.c_str(), MNT_DETACH);
      return ErrnoStatus(
          err, absl::StrCat("remount ", target, " (", absl::StrJoin(m.options, ","), ")"));
    }
  }
  if (p.propagation != 0 && mount(nullptr, target.c_str(), nullptr, p.propagation, nullptr) != 0) {
    int err = errno;
    umount2(target.c_str(), MNT_DETACH);
    return ErrnoStatus(err, absl::StrCat("set propagation of ", target));
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

absl::Status MountAll(const std::vector<RootfsMount>& mounts, const std::string& target) {
  size_t done = 0;
  absl::Cleanup undo = [&] {
    for (size_t i = 0; i < done; ++i) umount2(target.c_str(), MNT_DETACH);
  };
  for (const RootfsMount& m : mounts) {
    absl::Status s = MountOne(m, target);
    if (!s.ok()) return s;
    ++done;
  }
  std::move(undo).Cancel();
  return absl::OkStatus();
}

absl::Status BindMount(const std::string& source, const std::string& target,
                       const BindOptions& options) {
  RootfsMount m{"bind", source, {options.recursive ? "rbind" : "bind"}};
  if (options.read_only) m.options.push_back("ro");
  return MountOne(m, target);
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
  absl::StatusOr<std::vector<std::string>> points = MountPointsUnder(dir);
  if (!points.ok()) return points.status();
  absl::Status first;
  for (const std::string& mp : *points) {
    if (umount2(mp.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      if (first.ok()) first = ErrnoStatus(errno, absl::StrCat("unmount ", mp));
    }
  }
  return first;
}

}  // namespace kata::runtime
