#include "src/agent/cgroups/v1.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/agent/cgroups/internal/devices.h"
#include "src/agent/cgroups/internal/files.h"
#include "src/agent/cgroups/internal/resources.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace {

using internal::CgroupMessage;
using internal::Write;

constexpr const char* kControllers[] = {"memory",  "cpu",   "cpuacct", "cpuset", "pids",
                                        "freezer", "blkio", "hugetlb", "devices"};

std::string Num(int64_t v) { return absl::StrCat(v); }

class V1Manager : public CgroupManager {
 public:
  explicit V1Manager(std::string root) : root_(std::move(root)) {}

  CgroupVersion version() const override { return CgroupVersion::kV1; }

  std::vector<std::string> Dirs() const override {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& [name, dir] : dirs_) {
      if (seen.insert(dir).second) out.push_back(dir);
    }
    return out;
  }

  absl::Status Create(absl::string_view path, const oci::LinuxResources& resources) override {
    if (!dirs_.empty()) return absl::FailedPreconditionError("cgroup already created");
    KATA_RETURN_IF_ERROR(internal::ValidateRelativePath(path));
    KATA_RETURN_IF_ERROR(internal::ValidateResources(resources));
    if (resources.unified && !resources.unified->empty()) {
      return absl::InvalidArgumentError("resources.unified: needs cgroup v2");
    }
    std::vector<std::string> created;
    absl::Status s = CreateDirs(path, &created);
    if (s.ok()) s = ApplyResources(resources, /*create=*/true);
    if (!s.ok()) {
      (void)internal::RemoveDirs(created);
      dirs_.clear();
      return s;
    }
    created_ = std::move(created);
    return absl::OkStatus();
  }

  absl::Status AddProcess(pid_t pid) override {
    KATA_RETURN_IF_ERROR(Bound());
    for (const std::string& dir : Dirs()) {
      KATA_RETURN_IF_ERROR(internal::WriteFile(dir, "cgroup.procs", absl::StrCat(pid)));
    }
    return absl::OkStatus();
  }

  absl::Status Apply(const oci::LinuxResources& r) override {
    return ApplyResources(r, /*create=*/false);
  }

  // Apply; `create` (from Create) always writes the device rules, defaults included.
  absl::Status ApplyResources(const oci::LinuxResources& r, bool create) {
    KATA_RETURN_IF_ERROR(Bound());
    KATA_RETURN_IF_ERROR(internal::ValidateResources(r));
    if (r.unified && !r.unified->empty()) {
      return absl::InvalidArgumentError("resources.unified: needs cgroup v2");
    }
    std::vector<Write> plan;
    KATA_RETURN_IF_ERROR(PlanMemory(r, &plan));
    if (r.cpu) {
      const oci::LinuxCpu& c = *r.cpu;
      if (c.shares && *c.shares) {
        KATA_RETURN_IF_ERROR(Add("cpu", "cpu.shares", Num(*c.shares), &plan));
      }
      if (c.period && *c.period) {
        KATA_RETURN_IF_ERROR(Add("cpu", "cpu.cfs_period_us", Num(*c.period), &plan));
      }
      if (c.quota) KATA_RETURN_IF_ERROR(Add("cpu", "cpu.cfs_quota_us", Num(*c.quota), &plan));
      if (c.cpus && !c.cpus->empty()) {
        KATA_RETURN_IF_ERROR(Add("cpuset", "cpuset.cpus", *c.cpus, &plan));
      }
      if (c.mems && !c.mems->empty()) {
        KATA_RETURN_IF_ERROR(Add("cpuset", "cpuset.mems", *c.mems, &plan));
      }
    }
    if (r.pids && r.pids->limit != 0) {
      KATA_RETURN_IF_ERROR(
          Add("pids", "pids.max", r.pids->limit < 0 ? "max" : Num(r.pids->limit), &plan));
    }
    if (r.block_io) KATA_RETURN_IF_ERROR(PlanBlkio(*r.block_io, &plan));
    if (r.hugepage_limits) {
      for (const auto& h : *r.hugepage_limits) {
        KATA_RETURN_IF_ERROR(Add("hugetlb",
                                 absl::StrCat("hugetlb.", h.page_size, ".limit_in_bytes"),
                                 absl::StrCat(h.limit), &plan));
      }
    }
    if (create || r.devices) {  // "a" denied first, then the defaults and the spec's rules
      for (const auto& d : internal::EffectiveDeviceRules(r.devices)) {
        KATA_RETURN_IF_ERROR(Add("devices", d.allow ? "devices.allow" : "devices.deny",
                                 internal::DeviceRuleLine(d), &plan, /*restorable=*/false));
      }
    }
    return internal::ApplyWrites(plan);
  }

  absl::StatusOr<CgroupStats> Stats() override {
    KATA_RETURN_IF_ERROR(Bound());
    CgroupStats st;
    if (Has("memory")) {
      const std::string& d = dirs_["memory"];
      KATA_ASSIGN_OR_RETURN(st.memory_usage, internal::ReadUint(d, "memory.usage_in_bytes"));
      KATA_ASSIGN_OR_RETURN(st.memory_max_usage,
                            internal::ReadUint(d, "memory.max_usage_in_bytes"));
      KATA_ASSIGN_OR_RETURN(st.memory_limit, internal::ReadUint(d, "memory.limit_in_bytes"));
      KATA_ASSIGN_OR_RETURN(st.oom_kill_count, OomKillCount());
    }
    if (Has("cpuacct")) {
      const std::string& d = dirs_["cpuacct"];
      KATA_ASSIGN_OR_RETURN(st.cpu_usage_ns, internal::ReadUint(d, "cpuacct.usage"));
      KATA_ASSIGN_OR_RETURN(auto kv, internal::ReadKeyValues(d, "cpuacct.stat"));
      const uint64_t ns_per_tick = 1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
      st.cpu_user_ns = kv["user"] * ns_per_tick;
      st.cpu_system_ns = kv["system"] * ns_per_tick;
    }
    if (Has("pids")) {
      const std::string& d = dirs_["pids"];
      KATA_ASSIGN_OR_RETURN(st.pids_current, internal::ReadUint(d, "pids.current"));
      KATA_ASSIGN_OR_RETURN(st.pids_limit, internal::ReadUint(d, "pids.max"));
    }
    return st;
  }

  absl::StatusOr<std::vector<pid_t>> Pids() override {
    KATA_RETURN_IF_ERROR(Bound());
    return internal::ReadProcs(AnyDir());
  }

  absl::Status Freeze(absl::Duration timeout) override { return SetFrozen(true, timeout); }
  absl::Status Thaw(absl::Duration timeout) override { return SetFrozen(false, timeout); }

  absl::StatusOr<uint64_t> OomKillCount() override {
    KATA_RETURN_IF_ERROR(Need("memory"));
    KATA_ASSIGN_OR_RETURN(auto kv, internal::ReadKeyValues(dirs_["memory"], "memory.oom_control"));
    return kv["oom_kill"];
  }

  absl::StatusOr<UniqueFd> OpenOomEventFd() override {
    KATA_RETURN_IF_ERROR(Need("memory"));
    const std::string& d = dirs_["memory"];
    std::string control = absl::StrCat(d, "/memory.oom_control");
    // Closed on return: the kernel holds its own reference once registered.
    UniqueFd ofd(::open(control.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ofd) return internal::CgroupError(d, errno, "open memory.oom_control");
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
    if (!efd) return internal::CgroupError(d, errno, "eventfd");
    KATA_RETURN_IF_ERROR(
        internal::WriteFile(d, "cgroup.event_control", absl::StrCat(efd.get(), " ", ofd.get())));
    return efd;
  }

  absl::Status Destroy() override {
    KATA_RETURN_IF_ERROR(Bound());
    for (const std::string& dir : Dirs()) {
      KATA_ASSIGN_OR_RETURN(std::vector<pid_t> pids, internal::ReadProcs(dir));
      if (!pids.empty()) {
        return CgroupMessage(absl::StatusCode::kFailedPrecondition, dir,
                             absl::StrCat("still has processes: ", absl::StrJoin(pids, ",")));
      }
    }
    for (const std::string& dir : Dirs()) KATA_RETURN_IF_ERROR(internal::RemoveDir(dir));
    // Parents Create made: removed when empty, kept (quietly) when shared.
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) (void)::rmdir(it->c_str());
    dirs_.clear();
    created_.clear();
    return absl::OkStatus();
  }

 private:
  absl::Status Bound() const {
    if (dirs_.empty()) return absl::FailedPreconditionError("cgroup not created");
    return absl::OkStatus();
  }
  bool Has(const std::string& controller) const { return dirs_.count(controller) > 0; }
  absl::Status Need(const std::string& controller) const {
    KATA_RETURN_IF_ERROR(Bound());
    if (!Has(controller)) {
      return absl::FailedPreconditionError(
          absl::StrCat("cgroup v1 controller \"", controller, "\" is not mounted under ", root_));
    }
    return absl::OkStatus();
  }
  std::string AnyDir() const {
    for (const char* c : {"freezer", "pids", "memory", "cpu"}) {
      auto it = dirs_.find(c);
      if (it != dirs_.end()) return it->second;
    }
    return dirs_.begin()->second;
  }

  absl::Status Add(const std::string& controller, std::string file, std::string value,
                   std::vector<Write>* plan, bool restorable = true) {
    KATA_RETURN_IF_ERROR(Need(controller));
    plan->push_back(Write{dirs_[controller], std::move(file), std::move(value), restorable});
    return absl::OkStatus();
  }

  absl::Status CreateDirs(absl::string_view path, std::vector<std::string>* created) {
    std::set<std::string> mounts;
    for (const char* c : kControllers) {
      std::string mount = absl::StrCat(root_, "/", c);
      char real[PATH_MAX];
      if (::realpath(mount.c_str(), real) == nullptr) continue;
      if (!internal::FileExists(real, "cgroup.procs")) continue;
      bool first = mounts.insert(real).second;  // cpu,cpuacct co-mounted: one directory
      if (first) {
        KATA_RETURN_IF_ERROR(internal::MkdirAll(real, path, created));
        if (std::string(c) == "cpuset") KATA_RETURN_IF_ERROR(InitCpuset(real, path));
      }
      dirs_[c] = absl::StrCat(real, "/", path);
    }
    if (dirs_.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("no cgroup v1 controller is mounted under ", root_));
    }
    return absl::OkStatus();
  }

  // New v1 cpuset directories start with empty cpus/mems, which refuses processes.
  static absl::Status InitCpuset(const std::string& mount, absl::string_view path) {
    std::string parent = mount;
    for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
      std::string dir = absl::StrCat(parent, "/", part);
      for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
        KATA_ASSIGN_OR_RETURN(std::string cur, internal::ReadFile(dir, f));
        if (!absl::StripAsciiWhitespace(cur).empty()) continue;
        KATA_ASSIGN_OR_RETURN(std::string from, internal::ReadFile(parent, f));
        KATA_RETURN_IF_ERROR(internal::WriteFile(dir, f, absl::StripAsciiWhitespace(from)));
      }
      parent = dir;
    }
    return absl::OkStatus();
  }

  absl::Status PlanMemory(const oci::LinuxResources& r, std::vector<Write>* plan) {
    if (!r.memory) return absl::OkStatus();
    const oci::LinuxMemory& m = *r.memory;
    std::vector<Write> limits;
    if (m.limit) {
      KATA_RETURN_IF_ERROR(Add("memory", "memory.limit_in_bytes", Num(*m.limit), &limits));
    }
    if (m.swap) {
      // memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every step: raise memsw
      // first when it grows, lower the plain limit first when memsw shrinks.
      KATA_RETURN_IF_ERROR(Need("memory"));
      KATA_ASSIGN_OR_RETURN(uint64_t cur,
                            internal::ReadUint(dirs_["memory"], "memory.memsw.limit_in_bytes"));
      Write memsw{dirs_["memory"], "memory.memsw.limit_in_bytes", Num(*m.swap), true};
      bool grows = *m.swap < 0 || static_cast<uint64_t>(*m.swap) >= cur;
      if (grows) {
        limits.insert(limits.begin(), memsw);
      } else {
        limits.push_back(memsw);
      }
    }
    plan->insert(plan->end(), limits.begin(), limits.end());
    if (m.reservation) {
      KATA_RETURN_IF_ERROR(Add("memory", "memory.soft_limit_in_bytes", Num(*m.reservation), plan));
    }
    if (m.swappiness) {
      KATA_RETURN_IF_ERROR(Add("memory", "memory.swappiness", Num(*m.swappiness), plan));
    }
    if (m.disable_oom_killer) {
      KATA_RETURN_IF_ERROR(
          Add("memory", "memory.oom_control", *m.disable_oom_killer ? "1" : "0", plan, false));
    }
    return absl::OkStatus();
  }

  absl::Status PlanBlkio(const oci::LinuxBlockIo& b, std::vector<Write>* plan) {
    if (b.weight && *b.weight) {
      KATA_RETURN_IF_ERROR(Need("blkio"));
      std::string file = internal::FileExists(dirs_["blkio"], "blkio.weight") ? "blkio.weight"
                                                                              : "blkio.bfq.weight";
      KATA_RETURN_IF_ERROR(Add("blkio", file, Num(*b.weight), plan));
    }
    if (b.weight_device) {
      for (const auto& d : *b.weight_device) {
        if (!d.weight) continue;
        KATA_RETURN_IF_ERROR(Add("blkio", "blkio.weight_device",
                                 absl::StrCat(d.major, ":", d.minor, " ", *d.weight), plan, false));
      }
    }
    const std::pair<const std::optional<std::vector<oci::LinuxThrottleDevice>>*, const char*>
        lists[] = {{&b.throttle_read_bps_device, "blkio.throttle.read_bps_device"},
                   {&b.throttle_write_bps_device, "blkio.throttle.write_bps_device"},
                   {&b.throttle_read_iops_device, "blkio.throttle.read_iops_device"},
                   {&b.throttle_write_iops_device, "blkio.throttle.write_iops_device"}};
    for (const auto& [list, file] : lists) {
      if (!*list) continue;
      for (const auto& d : **list) {
        KATA_RETURN_IF_ERROR(
            Add("blkio", file, absl::StrCat(d.major, ":", d.minor, " ", d.rate), plan, false));
      }
    }
    return absl::OkStatus();
  }

  absl::Status SetFrozen(bool frozen, absl::Duration timeout) {
    KATA_RETURN_IF_ERROR(Need("freezer"));
    const std::string& d = dirs_["freezer"];
    const char* want = frozen ? "FROZEN" : "THAWED";
    KATA_RETURN_IF_ERROR(internal::WriteFile(d, "freezer.state", want));
    absl::Status s = internal::WaitUntil(
        [&]() -> absl::StatusOr<bool> {
          KATA_ASSIGN_OR_RETURN(std::string state, internal::ReadFile(d, "freezer.state"));
          if (absl::StripAsciiWhitespace(state) == want) return true;
          // FREEZING: ask again (tasks that were busy get another chance to freeze).
          KATA_RETURN_IF_ERROR(internal::WriteFile(d, "freezer.state", want));
          return false;
        },
        timeout, d, absl::StrCat("freezer.state ", want));
    if (!s.ok() && frozen) (void)internal::WriteFile(d, "freezer.state", "THAWED");
    return s;
  }

  std::string root_;
  std::map<std::string, std::string> dirs_;  // controller -> cgroup directory
  std::vector<std::string> created_;         // directories Create made, outermost first
};

}  // namespace

std::unique_ptr<CgroupManager> NewV1Manager(std::string root) {
  return std::make_unique<V1Manager>(std::move(root));
}

}  // namespace cgroups
}  // namespace agent
}  // namespace kata
