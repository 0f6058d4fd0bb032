#include "src/runtime/sandbox/host_cgroup.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata::runtime {
namespace {

std::string Join(const std::string& base, const std::string& rel) {
  if (rel.empty() || rel == "/") return base;
  return absl::StrCat(base, absl::StartsWith(rel, "/") ? "" : "/", rel);
}

// The /proc/self/cgroup entry for a v1 hierarchy whose mount options are `options`
// ("rw,cpu,cpuacct"): the line whose controller list is made of those options.
std::string SelfPathFor(const std::vector<std::vector<std::string>>& lines,
                        const std::set<std::string>& options, bool v2) {
  for (const std::vector<std::string>& f : lines) {
    if (v2) {
      if (f[0] == "0" && f[1].empty()) return f[2];
      continue;
    }
    if (f[1].empty()) continue;
    bool all = true;
    for (absl::string_view c : absl::StrSplit(f[1], ',')) {
      if (!options.count(std::string(c))) all = false;
    }
    if (all) return f[2];
  }
  return "/";
}

absl::Status Busy(const std::string& dir, const std::string& procs) {
  return absl::FailedPreconditionError(
      absl::StrCat("cgroup ", dir, " still has processes: ",
                   absl::StrJoin(absl::StrSplit(procs, '\n', absl::SkipEmpty()), " ")));
}

// A new v1 cpuset cgroup takes no task until it has cpus and mems: the parent's.
absl::Status InheritCpuset(const std::string& dir) {
  const std::string parent = dir.substr(0, dir.rfind('/'));
  for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
    KATA_ASSIGN_OR_RETURN(std::string mine, ReadFileToString(absl::StrCat(dir, "/", f)));
    if (!absl::StripAsciiWhitespace(mine).empty()) continue;
    KATA_ASSIGN_OR_RETURN(std::string theirs, ReadFileToString(absl::StrCat(parent, "/", f)));
    KATA_RETURN_IF_ERROR(WriteStringToFile(absl::StrCat(dir, "/", f), theirs));
  }
  return absl::OkStatus();
}

absl::Status Move(const std::string& dir, pid_t pid) {
  return AnnotateStatus(WriteStringToFile(dir + "/cgroup.procs", absl::StrCat(pid)),
                        absl::StrCat("cgroup: move process ", pid));
}

constexpr int kMakeAttempts = 5;

}  // namespace

absl::StatusOr<std::vector<CgroupHierarchy>> HostCgroupHierarchies() {
  KATA_ASSIGN_OR_RETURN(std::string self, ReadFileToString("/proc/self/cgroup"));
  std::vector<std::vector<std::string>> lines;
  for (absl::string_view l : absl::StrSplit(self, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(l, absl::MaxSplits(':', 2));
    if (f.size() == 3) lines.push_back(std::move(f));
  }
  KATA_ASSIGN_OR_RETURN(std::string mountinfo, ReadFileToString("/proc/self/mountinfo"));
  std::vector<CgroupHierarchy> out;
  for (absl::string_view l : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    // id parent dev root mountpoint options [optional...] - fstype source superoptions
    std::vector<std::string> f = absl::StrSplit(l, ' ');
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || f.end() - dash < 4) continue;
    const std::string& fstype = dash[1];
    if ((fstype != "cgroup" && fstype != "cgroup2") || f[3] != "/") continue;
    CgroupHierarchy h;
    h.mount = f[4];
    h.v2 = fstype == "cgroup2";
    std::vector<std::string> opts = absl::StrSplit(dash[3], ',');
    std::set<std::string> options(opts.begin(), opts.end());
    h.cpuset = !h.v2 && options.count("cpuset");
    h.self_path = SelfPathFor(lines, options, h.v2);
    out.push_back(std::move(h));
  }
  if (out.empty()) return absl::FailedPreconditionError("no cgroup hierarchy is mounted");
  return out;
}

absl::StatusOr<std::vector<std::string>> CgroupPathComponents(const std::string& cgroups_path) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("linux.cgroupsPath \"", cgroups_path, "\": ", why));
  };
  if (!absl::StartsWith(cgroups_path, "/") &&
      std::count(cgroups_path.begin(), cgroups_path.end(), ':') == 2) {
    return bad(
        "the systemd driver's slice:prefix:name form is not supported (configure containerd "
        "with SystemdCgroup = false)");
  }
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(cgroups_path, '/', absl::SkipEmpty())) {
    if (p == "." || p == "..") return bad("\".\" and \"..\" are not allowed");
    parts.emplace_back(p);
  }
  if (parts.empty()) return bad("names no cgroup below the root");
  return parts;
}

absl::StatusOr<std::unique_ptr<PodCgroup>> PodCgroup::Create(
    const std::string& cgroups_path, std::vector<CgroupHierarchy> hierarchies) {
  KATA_ASSIGN_OR_RETURN(std::vector<std::string> parts, CgroupPathComponents(cgroups_path));
  std::unique_ptr<PodCgroup> cg(new PodCgroup());
  cg->hierarchies_ = std::move(hierarchies);
  const bool relative = !absl::StartsWith(cgroups_path, "/");
  for (const CgroupHierarchy& h : cg->hierarchies_) {
    const std::string base = relative ? Join(h.mount, h.self_path) : h.mount;
    // cg's destructor removes what was made when this fails.
    KATA_ASSIGN_OR_RETURN(std::string dir, cg->MakeLevels(base, parts, h.cpuset));
    cg->dirs_.push_back(std::move(dir));
  }
  return cg;
}

absl::StatusOr<std::string> PodCgroup::MakeLevels(const std::string& base,
                                                  const std::vector<std::string>& parts,
                                                  bool cpuset) {
  // A level that existed (another pod's parent, e.g. ctr's "/default") may be removed by that
  // pod's Remove between our mkdirs: the next mkdir is ENOENT, and the path is made again.
  for (int attempt = 1;; ++attempt) {
    std::string dir = base;
    int error = 0;
    for (const std::string& p : parts) {
      dir = absl::StrCat(dir, "/", p);
      if (mkdir(dir.c_str(), 0755) == 0) {
        created_.push_back(dir);
        if (cpuset) KATA_RETURN_IF_ERROR(AnnotateStatus(InheritCpuset(dir), "cgroup " + dir));
      } else if (errno != EEXIST) {
        error = errno;
        break;
      }
    }
    if (error == 0) return dir;
    if (error != ENOENT || attempt == kMakeAttempts) {
      return ErrnoStatus(error, "cgroup: mkdir " + dir);
    }
  }
}

absl::Status RemoveLeftPodCgroup(const std::string& cgroups_path,
                                 const std::vector<CgroupHierarchy>& hierarchies) {
  KATA_ASSIGN_OR_RETURN(std::vector<std::string> parts, CgroupPathComponents(cgroups_path));
  const bool relative = !absl::StartsWith(cgroups_path, "/");
  absl::Status first;
  for (const CgroupHierarchy& h : hierarchies) {
    const std::string dir = absl::StrCat(relative ? Join(h.mount, h.self_path) : h.mount, "/",
                                         absl::StrJoin(parts, "/"));
    if (rmdir(dir.c_str()) == 0 || errno == ENOENT) continue;
    const int error = errno;
    absl::StatusOr<std::string> procs = ReadFileToString(dir + "/cgroup.procs");
    const bool busy = procs.ok() && !absl::StripAsciiWhitespace(*procs).empty();
    absl::Status s = busy ? Busy(dir, *procs) : ErrnoStatus(error, "cgroup: rmdir " + dir);
    if (first.ok()) first = s;
  }
  return first;
}

PodCgroup::~PodCgroup() { Remove().IgnoreError(); }

absl::Status PodCgroup::Enter() {
  for (const std::string& dir : dirs_) KATA_RETURN_IF_ERROR(Move(dir, getpid()));
  entered_ = true;
  return absl::OkStatus();
}

absl::Status PodCgroup::Add(pid_t pid) {
  for (const std::string& dir : dirs_) KATA_RETURN_IF_ERROR(Move(dir, pid));
  return absl::OkStatus();
}

absl::Status PodCgroup::Remove() {
  if (removed_) return absl::OkStatus();
  if (entered_) {
    for (size_t i = 0; i < hierarchies_.size(); ++i) {
      const CgroupHierarchy& h = hierarchies_[i];
      KATA_RETURN_IF_ERROR(Move(Join(h.mount, h.self_path), getpid()));
    }
    entered_ = false;
  }
  for (const std::string& dir : dirs_) {
    absl::StatusOr<std::string> procs = ReadFileToString(dir + "/cgroup.procs");
    if (procs.ok() && !absl::StripAsciiWhitespace(*procs).empty()) return Busy(dir, *procs);
  }
  const std::set<std::string> leaves(dirs_.begin(), dirs_.end());
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
    if (rmdir(it->c_str()) == 0 || errno == ENOENT) continue;
    // A level above the pod's that another pod uses now stays.
    if (!leaves.count(*it) && (errno == EBUSY || errno == ENOTEMPTY)) continue;
    return ErrnoStatus(errno, "cgroup: rmdir " + *it);
  }
  removed_ = true;
  return absl::OkStatus();
}

}  // namespace kata::runtime
