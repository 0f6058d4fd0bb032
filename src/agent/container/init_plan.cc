#include "src/agent/container/init_plan.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

using IdMappings = std::optional<std::vector<oci::LinuxIdMapping>>;

// Whether ranges `a` and `b` overlap, inside (container ids) or outside (host ids).
bool Overlaps(const oci::LinuxIdMapping& a, const oci::LinuxIdMapping& b) {
  auto overlap = [](uint64_t x, uint64_t xn, uint64_t y, uint64_t yn) {
    return x < y + yn && y < x + xn;
  };
  return overlap(a.container_id, a.size, b.container_id, b.size) ||
         overlap(a.host_id, a.size, b.host_id, b.size);
}

// linux.uidMappings/gidMappings checked as runc does (present if and only if a new user
// namespace is requested; container root mapped) and as the kernel will (size > 0, no
// overflow of the 32-bit id space, no overlapping ranges, at most 340 lines); the contents of
// /proc/<pid>/{uid,gid}_map. "" without a new user namespace.
absl::StatusOr<std::string> IdMap(const char* field, const IdMappings& maps, bool new_user) {
  const bool has = maps && !maps->empty();
  if (!new_user) {
    if (has) {
      return absl::InvalidArgumentError(
          absl::StrCat("linux.", field,
                       " is set but no new user namespace is requested (a joined one keeps "
                       "its own mappings)"));
    }
    return std::string();
  }
  if (!has) {
    return absl::InvalidArgumentError(
        absl::StrCat("linux.", field, " is required with a new user namespace"));
  }
  if (maps->size() > 340) {
    return absl::InvalidArgumentError(absl::StrCat("linux.", field, ": more than 340 ranges"));
  }
  constexpr uint64_t kIds = uint64_t{1} << 32;
  bool root = false;
  std::string out;
  for (size_t i = 0; i < maps->size(); ++i) {
    const oci::LinuxIdMapping& m = (*maps)[i];
    const std::string what = absl::StrCat("linux.", field, "[", i, "] (", m.container_id, " ",
                                          m.host_id, " ", m.size, ")");
    if (m.size == 0) return absl::InvalidArgumentError(absl::StrCat(what, ": size is 0"));
    if (uint64_t{m.container_id} + m.size > kIds || uint64_t{m.host_id} + m.size > kIds) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": overflows the 32-bit id range"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (Overlaps(m, (*maps)[j])) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": overlaps range ", j));
      }
    }
    if (m.container_id == 0) root = true;
    absl::StrAppend(&out, m.container_id, " ", m.host_id, " ", m.size, "\n");
  }
  if (!root) {
    return absl::InvalidArgumentError(
        absl::StrCat("linux.", field, ": container id 0 (root) is not mapped"));
  }
  return out;
}

// Both id maps of `spec` into `plan`, errors prefixed with "container <id>: ".
absl::Status PlanIdMaps(const std::string& id, const oci::Spec& spec, InitPlan* plan) {
  static const IdMappings kNone;
  const bool new_user = (plan->namespaces.new_flags & CLONE_NEWUSER) != 0;
  absl::StatusOr<std::string> uid_map =
      IdMap("uidMappings", spec.linux ? spec.linux->uid_mappings : kNone, new_user);
  absl::StatusOr<std::string> gid_map =
      uid_map.ok() ? IdMap("gidMappings", spec.linux ? spec.linux->gid_mappings : kNone, new_user)
                   : uid_map;
  if (!gid_map.ok()) return AnnotateStatus(gid_map.status(), absl::StrCat("container ", id));
  plan->uid_map = *std::move(uid_map);
  plan->gid_map = *std::move(gid_map);
  return absl::OkStatus();
}

// linux.sysctl as (path under /proc/sys, value), checked as runc does: only sysctls of a
// namespace the container has of its own (ipc: kernel.msg*, kernel.sem, kernel.shm*,
// fs.mqueue.*; net: net.*; uts: kernel.hostname, kernel.domainname).
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Sysctls(const oci::Spec& spec,
                                                                         int all_ns) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!spec.linux || !spec.linux->sysctl) return out;
  for (const auto& [key, value] : *spec.linux->sysctl) {
    const absl::string_view k = key;
    int needs = 0;
    if (absl::StartsWith(k, "kernel.msg") || k == "kernel.sem" ||
        absl::StartsWith(k, "kernel.shm") || absl::StartsWith(k, "fs.mqueue.")) {
      needs = CLONE_NEWIPC;
    } else if (absl::StartsWith(k, "net.")) {
      needs = CLONE_NEWNET;
    } else if (k == "kernel.hostname" || k == "kernel.domainname") {
      needs = CLONE_NEWUTS;
    }
    if (needs == 0 || (all_ns & needs) == 0 || k.find("..") != absl::string_view::npos ||
        k.find('/') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "linux.sysctl \"", key, "\" is not allowed (not in a namespace of the container)"));
    }
    std::string path = absl::StrCat("/proc/sys/", key);
    std::replace(path.begin() + strlen("/proc/sys/"), path.end(), '.', '/');
    out.emplace_back(std::move(path), value);
  }
  return out;
}

// linux.cgroupsPath without its leading "/", or "<cgroup_parent>/<id>".
absl::StatusOr<std::string> CgroupPath(const std::string& id, const oci::Spec& spec,
                                       const ContainerOptions& options) {
  if (!spec.linux || !spec.linux->cgroups_path || spec.linux->cgroups_path->empty()) {
    return absl::StrCat(options.cgroup_parent, "/", id);
  }
  std::string path = *spec.linux->cgroups_path;
  if (path.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("linux.cgroupsPath \"", path, "\": systemd cgroup paths are not supported"));
  }
  path.erase(0, path.find_first_not_of('/'));
  if (path.empty()) return absl::InvalidArgumentError("linux.cgroupsPath is \"/\"");
  return path;
}

// root.path, absolute, checked to be an existing directory.
absl::StatusOr<std::string> RootfsPath(const std::string& id, const oci::Spec& spec,
                                       const ContainerOptions& options) {
  if (!spec.root || spec.root->path.empty()) {
    return absl::InvalidArgumentError("spec has no root.path");
  }
  std::string rootfs = spec.root->path;
  if (rootfs[0] != '/') rootfs = absl::StrCat(options.bundle_root, "/", id, "/", rootfs);
  struct stat st;
  if (stat(rootfs.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("rootfs ", rootfs));
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("rootfs ", rootfs, " is not a directory"));
  }
  return rootfs;
}

}  // namespace

absl::Status CheckArgs(const oci::Process& process) {
  if (!process.args || process.args->empty() || (*process.args)[0].empty()) {
    return absl::InvalidArgumentError("process.args is empty");
  }
  return absl::OkStatus();
}

ProcessOptions BaseProcessOptions(const oci::Process& process) {
  ProcessOptions o;
  if (process.args) o.argv = *process.args;
  if (process.env) o.env = *process.env;
  o.cwd = process.cwd.empty() ? "/" : process.cwd;
  ProcessUser user;
  user.uid = process.user.uid.value_or(0);  // absent: root, as in runc
  user.gid = process.user.gid.value_or(0);
  if (process.user.additional_gids) {
    user.additional_gids.assign(process.user.additional_gids->begin(),
                                process.user.additional_gids->end());
  }
  o.user = user;
  o.terminal = process.terminal.value_or(false);
  if (o.terminal && process.console_size) {
    o.rows = static_cast<uint16_t>(std::min<uint64_t>(process.console_size->height, 65535));
    o.cols = static_cast<uint16_t>(std::min<uint64_t>(process.console_size->width, 65535));
  }
  return o;
}

absl::StatusOr<InitPlan> PlanInit(const std::string& id, const oci::Spec& spec,
                                  const ContainerOptions& options) {
  if (!spec.process) return absl::InvalidArgumentError("spec has no process");
  KATA_RETURN_IF_ERROR(CheckArgs(*spec.process));
  InitPlan plan;
  KATA_ASSIGN_OR_RETURN(plan.rootfs, RootfsPath(id, spec, options));
  KATA_ASSIGN_OR_RETURN(plan.namespaces, SpecNamespaces(spec));
  KATA_RETURN_IF_ERROR(PlanIdMaps(id, spec, &plan));
  if ((plan.namespaces.new_flags & CLONE_NEWNS) == 0) {
    return absl::InvalidArgumentError("linux.namespaces: a mount namespace is required");
  }
  plan.all_ns = plan.namespaces.AllFlags();
  const bool uts = (plan.all_ns & CLONE_NEWUTS) != 0;
  plan.hostname = spec.hostname.value_or("");
  if (!plan.hostname.empty() && !uts) {
    return absl::InvalidArgumentError("hostname set without a uts namespace");
  }
  KATA_ASSIGN_OR_RETURN(plan.sysctls, Sysctls(spec, plan.all_ns));
  plan.domainname = spec.domainname.value_or("");
  if (!plan.domainname.empty() && !uts) {
    return absl::InvalidArgumentError("domainname set without a uts namespace");
  }
  KATA_ASSIGN_OR_RETURN(plan.cgroup_path, CgroupPath(id, spec, options));
  return plan;
}

}  // namespace agent
}  // namespace kata
