#include "src/agent/cgroups/v2.h"

#include <errno.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
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
#include "src/libs/trace/scoped_span.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace {

using internal::CgroupMessage;
using internal::Write;

std::string MaxOr(int64_t v) { return v < 0 ? "max" : absl::StrCat(v); }

class V2Manager : public CgroupManager {
 public:
  V2Manager(std::string root, bool enable_controllers, DeviceFilterInstaller install_devices)
      : root_(std::move(root)),
        enable_controllers_(enable_controllers),
        install_devices_(std::move(install_devices)) {}

  CgroupVersion version() const override { return CgroupVersion::kV2; }

  std::vector<std::string> Dirs() const override {
    if (dir_.empty()) return {};
    return {dir_};
  }

  absl::Status Create(absl::string_view path, const oci::LinuxResources& resources) override {
    if (!dir_.empty()) return absl::FailedPreconditionError("cgroup already created");
    KATA_RETURN_IF_ERROR(internal::ValidateRelativePath(path));
    KATA_RETURN_IF_ERROR(internal::ValidateResources(resources));
    std::vector<std::string> created;
    // Spans of the steps (children of the caller's span when the agent traces; else no-ops).
    std::optional<trace::ScopedSpan> step(std::in_place, "cgroup.dirs");
    absl::Status s = CreateDirs(path, &created);
    step.reset();
    if (s.ok()) {
      step.emplace("cgroup.resources");
      s = ApplyResources(resources, /*create=*/true);
      step.reset();
    }
    if (!s.ok()) {
      (void)internal::RemoveDirs(created);
      dir_.clear();
      device_prog_.reset();
      return s;
    }
    created_ = std::move(created);
    return absl::OkStatus();
  }

  absl::Status AddProcess(pid_t pid) override {
    KATA_RETURN_IF_ERROR(Bound());
    return internal::WriteFile(dir_, "cgroup.procs", absl::StrCat(pid));
  }

  absl::Status Apply(const oci::LinuxResources& r) override {
    return ApplyResources(r, /*create=*/false);
  }

  // Apply; `create` (from Create) always installs the device filter, defaults included. The
  // filter goes first (the new one is attached before the old one is detached); if a file write
  // then fails, the previous filter is put back (best effort).
  absl::Status ApplyResources(const oci::LinuxResources& r, bool create) {
    KATA_RETURN_IF_ERROR(Bound());
    KATA_RETURN_IF_ERROR(internal::ValidateResources(r));
    KATA_ASSIGN_OR_RETURN(std::vector<Write> plan, Plan(r));
    if (!create && !r.devices) return internal::ApplyWrites(plan);
    std::vector<oci::LinuxDeviceCgroup> rules = internal::EffectiveDeviceRules(r.devices);
    std::optional<trace::ScopedSpan> step(std::in_place, "cgroup.device_filter");
    KATA_ASSIGN_OR_RETURN(UniqueFd prog, install_devices_(dir_, rules, device_prog_));
    step.reset();
    std::swap(prog, device_prog_);  // `prog` now holds the previous one (detached)
    std::swap(rules, device_rules_);
    absl::Status s = internal::ApplyWrites(plan);
    if (!s.ok() && !create) {
      absl::StatusOr<UniqueFd> back = install_devices_(dir_, rules, device_prog_);
      if (back.ok()) {
        device_prog_ = *std::move(back);
        device_rules_ = std::move(rules);
      }
    }
    return s;
  }

  // The file writes of `r`.
  absl::StatusOr<std::vector<Write>> Plan(const oci::LinuxResources& r) {
    std::vector<Write> plan;
    auto add = [&](std::string file, std::string value, bool restorable = true) {
      plan.push_back(Write{dir_, std::move(file), std::move(value), restorable});
    };
    if (r.memory) {
      const oci::LinuxMemory& m = *r.memory;
      if (m.limit) add("memory.max", MaxOr(*m.limit));
      if (m.reservation) add("memory.low", MaxOr(*m.reservation));
      if (m.swap) add("memory.swap.max", *m.swap < 0 ? "max" : absl::StrCat(*m.swap - *m.limit));
    }
    if (r.cpu) {
      const oci::LinuxCpu& c = *r.cpu;
      if (c.shares && *c.shares)
        add("cpu.weight", absl::StrCat(internal::SharesToWeight(*c.shares)));
      if (c.quota || (c.period && *c.period)) {
        std::string quota;
        if (c.quota) {
          quota = MaxOr(*c.quota);
        } else {  // only the period changes: keep the current quota
          KATA_ASSIGN_OR_RETURN(std::string cur, internal::ReadFile(dir_, "cpu.max"));
          std::vector<std::string> parts = absl::StrSplit(absl::StripAsciiWhitespace(cur), ' ');
          quota = parts.empty() ? "max" : parts[0];
        }
        uint64_t period = c.period && *c.period ? *c.period : 100000;
        add("cpu.max", absl::StrCat(quota, " ", period));
      }
      if (c.cpus && !c.cpus->empty()) add("cpuset.cpus", *c.cpus);
      if (c.mems && !c.mems->empty()) add("cpuset.mems", *c.mems);
    }
    if (r.pids && r.pids->limit != 0) add("pids.max", MaxOr(r.pids->limit));
    if (r.block_io) {
      const oci::LinuxBlockIo& b = *r.block_io;
      if (b.weight && *b.weight) {
        add("io.weight", absl::StrCat("default ", internal::BlkioToIoWeight(*b.weight)), false);
      }
      if (b.weight_device) {
        for (const auto& d : *b.weight_device) {
          if (d.weight) {
            add("io.weight",
                absl::StrCat(d.major, ":", d.minor, " ", internal::BlkioToIoWeight(*d.weight)),
                false);
          }
        }
      }
      const std::pair<const std::optional<std::vector<oci::LinuxThrottleDevice>>*, const char*>
          lists[] = {{&b.throttle_read_bps_device, "rbps"},
                     {&b.throttle_write_bps_device, "wbps"},
                     {&b.throttle_read_iops_device, "riops"},
                     {&b.throttle_write_iops_device, "wiops"}};
      for (const auto& [list, key] : lists) {
        if (!*list) continue;
        for (const auto& d : **list) {
          add("io.max", absl::StrCat(d.major, ":", d.minor, " ", key, "=", d.rate), false);
        }
      }
    }
    if (r.hugepage_limits) {
      for (const auto& h : *r.hugepage_limits) {
        add(absl::StrCat("hugetlb.", h.page_size, ".max"), absl::StrCat(h.limit));
      }
    }
    if (r.unified) {
      for (const auto& [key, value] : *r.unified) add(key, value);
    }
    return plan;
  }

  absl::StatusOr<CgroupStats> Stats() override {
    KATA_RETURN_IF_ERROR(Bound());
    CgroupStats st;
    if (internal::FileExists(dir_, "memory.current")) {
      KATA_ASSIGN_OR_RETURN(st.memory_usage, internal::ReadUint(dir_, "memory.current"));
      KATA_ASSIGN_OR_RETURN(st.memory_limit, internal::ReadUint(dir_, "memory.max"));
      if (internal::FileExists(dir_, "memory.peak")) {
        KATA_ASSIGN_OR_RETURN(st.memory_max_usage, internal::ReadUint(dir_, "memory.peak"));
      }
      KATA_ASSIGN_OR_RETURN(st.oom_kill_count, OomKillCount());
    }
    if (internal::FileExists(dir_, "cpu.stat")) {
      KATA_ASSIGN_OR_RETURN(auto kv, internal::ReadKeyValues(dir_, "cpu.stat"));
      st.cpu_usage_ns = kv["usage_usec"] * 1000;
      st.cpu_user_ns = kv["user_usec"] * 1000;
      st.cpu_system_ns = kv["system_usec"] * 1000;
    }
    if (internal::FileExists(dir_, "pids.current")) {
      KATA_ASSIGN_OR_RETURN(st.pids_current, internal::ReadUint(dir_, "pids.current"));
      KATA_ASSIGN_OR_RETURN(st.pids_limit, internal::ReadUint(dir_, "pids.max"));
    }
    return st;
  }

  absl::StatusOr<std::vector<pid_t>> Pids() override {
    KATA_RETURN_IF_ERROR(Bound());
    return internal::ReadProcs(dir_);
  }

  absl::Status Freeze(absl::Duration timeout) override { return SetFrozen(true, timeout); }
  absl::Status Thaw(absl::Duration timeout) override { return SetFrozen(false, timeout); }

  absl::StatusOr<uint64_t> OomKillCount() override {
    KATA_RETURN_IF_ERROR(Bound());
    KATA_ASSIGN_OR_RETURN(auto kv, internal::ReadKeyValues(dir_, "memory.events"));
    return kv["oom_kill"];
  }

  absl::StatusOr<UniqueFd> OpenOomEventFd() override {
    KATA_RETURN_IF_ERROR(Bound());
    UniqueFd fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!fd) return internal::CgroupError(dir_, errno, "inotify_init1");
    std::string events = absl::StrCat(dir_, "/memory.events");
    if (::inotify_add_watch(fd.get(), events.c_str(), IN_MODIFY) < 0) {
      return internal::CgroupError(dir_, errno, "watch memory.events");
    }
    return fd;
  }

  absl::Status Destroy() override {
    KATA_RETURN_IF_ERROR(Bound());
    KATA_ASSIGN_OR_RETURN(std::vector<pid_t> pids, internal::ReadProcs(dir_));
    if (!pids.empty()) {
      return CgroupMessage(absl::StatusCode::kFailedPrecondition, dir_,
                           absl::StrCat("still has processes: ", absl::StrJoin(pids, ",")));
    }
    KATA_RETURN_IF_ERROR(internal::RemoveDir(dir_));
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) (void)::rmdir(it->c_str());
    dir_.clear();
    created_.clear();
    device_prog_.reset();
    device_rules_.clear();
    return absl::OkStatus();
  }

 private:
  absl::Status Bound() const {
    if (dir_.empty()) return absl::FailedPreconditionError("cgroup not created");
    return absl::OkStatus();
  }

  absl::Status CreateDirs(absl::string_view path, std::vector<std::string>* created) {
    if (!internal::FileExists(root_, "cgroup.controllers")) {
      return absl::FailedPreconditionError(
          absl::StrCat("cgroup v2 root ", root_, ": no cgroup.controllers (not cgroup2?)"));
    }
    std::vector<absl::string_view> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
    std::string cur = root_;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (enable_controllers_) EnableControllers(cur);
      KATA_RETURN_IF_ERROR(internal::MkdirAll(cur, parts[i], created));
      cur = absl::StrCat(cur, "/", parts[i]);
    }
    dir_ = cur;
    return absl::OkStatus();
  }

  // Best effort: a controller the kernel refuses here stays off. Those already on are left
  // alone, the others go in one write: each write re-applies the control of the whole subtree
  // (under TCG a write per controller cost a container's create tens of ms). A write naming
  // a controller the kernel refuses fails whole; then they go one by one.
  static void EnableControllers(const std::string& dir) {
    absl::StatusOr<std::string> avail = internal::ReadFile(dir, "cgroup.controllers");
    if (!avail.ok()) return;
    const absl::StatusOr<std::string> enabled = internal::ReadFile(dir, "cgroup.subtree_control");
    const std::vector<absl::string_view> on =
        enabled.ok() ? absl::StrSplit(*enabled, absl::ByAnyChar(" \n+"), absl::SkipEmpty())
                     : std::vector<absl::string_view>();
    std::vector<std::string> missing;
    for (absl::string_view c : absl::StrSplit(*avail, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
      if (std::find(on.begin(), on.end(), c) == on.end()) missing.push_back(absl::StrCat("+", c));
    }
    if (missing.empty()) return;
    if (internal::WriteFile(dir, "cgroup.subtree_control", absl::StrJoin(missing, " ")).ok()) {
      return;
    }
    for (const std::string& c : missing) {
      (void)internal::WriteFile(dir, "cgroup.subtree_control", c);
    }
  }

  absl::Status SetFrozen(bool frozen, absl::Duration timeout) {
    KATA_RETURN_IF_ERROR(Bound());
    KATA_RETURN_IF_ERROR(internal::WriteFile(dir_, "cgroup.freeze", frozen ? "1" : "0"));
    absl::Status s = internal::WaitUntil(
        [&]() -> absl::StatusOr<bool> {
          KATA_ASSIGN_OR_RETURN(auto kv, internal::ReadKeyValues(dir_, "cgroup.events"));
          auto it = kv.find("frozen");
          if (it == kv.end()) {
            return CgroupMessage(absl::StatusCode::kFailedPrecondition, dir_,
                                 "cgroup.events has no \"frozen\" key");
          }
          return it->second == (frozen ? 1u : 0u);
        },
        timeout, dir_, frozen ? "cgroup.events frozen 1" : "cgroup.events frozen 0");
    if (!s.ok() && frozen) (void)internal::WriteFile(dir_, "cgroup.freeze", "0");
    return s;
  }

  std::string root_;
  bool enable_controllers_;
  DeviceFilterInstaller install_devices_;
  std::string dir_;
  std::vector<std::string> created_;
  UniqueFd device_prog_;  // the attached device filter (empty before Create)
  std::vector<oci::LinuxDeviceCgroup> device_rules_;  // its rules
};

}  // namespace

absl::StatusOr<UniqueFd> InstallBpfDeviceFilter(const std::string& dir,
                                                const std::vector<oci::LinuxDeviceCgroup>& rules,
                                                const UniqueFd& old) {
  return internal::AttachDeviceFilter(dir, internal::BuildDeviceFilter(rules), old);
}

std::unique_ptr<CgroupManager> NewV2Manager(std::string root, bool enable_controllers,
                                            DeviceFilterInstaller install_devices) {
  if (!install_devices) install_devices = InstallBpfDeviceFilter;
  return std::make_unique<V2Manager>(std::move(root), enable_controllers,
                                     std::move(install_devices));
}

}  // namespace cgroups
}  // namespace agent
}  // namespace kata
