// ValidateSpec: the runtime-spec rules a JSON schema check alone would not make clear.

#include <set>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "src/libs/oci/spec_json.h"

namespace kata {
namespace oci {
namespace {

bool OneOf(absl::string_view v, std::initializer_list<absl::string_view> allowed) {
  for (absl::string_view a : allowed) {
    if (v == a) return true;
  }
  return false;
}

absl::Status Invalid(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

bool IsAbsolute(absl::string_view p) { return absl::StartsWith(p, "/"); }

// A Windows path that does not depend on a current directory: "C:\", "c:/x", a UNC or device
// path ("\\server\share", "\\?\Volume{...}\").
bool IsWindowsAbsolute(absl::string_view p) {
  if (absl::StartsWith(p, "\\\\")) return true;
  return p.size() >= 3 && absl::ascii_isalpha(static_cast<unsigned char>(p[0])) && p[1] == ':' &&
         (p[2] == '\\' || p[2] == '/');
}

// The runtime-spec has no platform member: a config with a `windows` section and no `linux`
// one is for Windows; any other is for a POSIX platform (linux, solaris, zos).
bool IsForWindows(const Spec& spec) {
  if (spec.linux) return false;
  for (const auto& member : spec.unknown.members) {
    if (member.first == "windows") return true;
  }
  return false;
}

// "1.0.2", "1.0.2-dev", "1.1.0-rc.1": MAJOR.MINOR.PATCH with an optional suffix.
bool IsSemver(absl::string_view v) {
  int parts = 0;
  size_t i = 0;
  while (parts < 3) {
    size_t start = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    if (i == start) return false;
    ++parts;
    if (parts < 3) {
      if (i >= v.size() || v[i] != '.') return false;
      ++i;
    }
  }
  return i == v.size() || v[i] == '-' || v[i] == '+';
}

absl::Status ValidateSeccomp(const LinuxSeccomp& s) {
  static constexpr std::initializer_list<absl::string_view> kActions = {
      "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
      "SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",        "SCMP_ACT_TRACE",
      "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",          "SCMP_ACT_NOTIFY"};
  if (!OneOf(s.default_action, kActions)) {
    return Invalid("linux.seccomp.defaultAction",
                   absl::StrCat("unknown action \"", s.default_action, "\""));
  }
  if (!s.syscalls) return absl::OkStatus();
  for (size_t i = 0; i < s.syscalls->size(); ++i) {
    const LinuxSyscall& sc = (*s.syscalls)[i];
    const std::string at = absl::StrCat("linux.seccomp.syscalls[", i, "]");
    if (sc.names.empty()) return Invalid(at, "names must not be empty");
    if (!OneOf(sc.action, kActions)) {
      return Invalid(at, absl::StrCat("unknown action \"", sc.action, "\""));
    }
    if (!sc.args) continue;
    for (size_t j = 0; j < sc.args->size(); ++j) {
      const LinuxSeccompArg& a = (*sc.args)[j];
      if (!OneOf(a.op, {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                        "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"})) {
        return Invalid(absl::StrCat(at, ".args[", j, "].op"),
                       absl::StrCat("unknown operator \"", a.op, "\""));
      }
      if (a.index > 5) {
        return Invalid(absl::StrCat(at, ".args[", j, "].index"),
                       "a system call has at most 6 arguments (index 0-5)");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateLinux(const Linux& l) {
  if (l.namespaces) {
    absl::flat_hash_set<absl::string_view> seen;
    for (size_t i = 0; i < l.namespaces->size(); ++i) {
      const LinuxNamespace& ns = (*l.namespaces)[i];
      const std::string at = absl::StrCat("linux.namespaces[", i, "]");
      if (!OneOf(ns.type, {"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"})) {
        return Invalid(at, absl::StrCat("unknown namespace type \"", ns.type, "\""));
      }
      if (!seen.insert(ns.type).second) {
        return Invalid(at, absl::StrCat("namespace \"", ns.type, "\" appears twice"));
      }
      if (ns.path && !ns.path->empty() && !IsAbsolute(*ns.path)) {
        return Invalid(at, absl::StrCat("path \"", *ns.path, "\" is not absolute"));
      }
    }
  }
  if (l.devices) {
    for (size_t i = 0; i < l.devices->size(); ++i) {
      const LinuxDevice& d = (*l.devices)[i];
      const std::string at = absl::StrCat("linux.devices[", i, "]");
      if (!OneOf(d.type, {"c", "b", "u", "p"})) {
        return Invalid(at, absl::StrCat("device type must be c, b, u or p, got \"", d.type, "\""));
      }
      if (!IsAbsolute(d.path)) {
        return Invalid(at, absl::StrCat("path \"", d.path, "\" is not absolute"));
      }
    }
  }
  if (l.resources && l.resources->devices) {
    for (size_t i = 0; i < l.resources->devices->size(); ++i) {
      const LinuxDeviceCgroup& r = (*l.resources->devices)[i];
      const std::string at = absl::StrCat("linux.resources.devices[", i, "]");
      if (r.type && !OneOf(*r.type, {"a", "c", "b"})) {
        return Invalid(at, absl::StrCat("rule type must be a, c or b, got \"", *r.type, "\""));
      }
      if (r.access && r.access->find_first_not_of("rwm") != std::string::npos) {
        return Invalid(at,
                       absl::StrCat("access must be made of r, w and m, got \"", *r.access, "\""));
      }
    }
  }
  if (l.rootfs_propagation && !l.rootfs_propagation->empty() &&
      !OneOf(*l.rootfs_propagation, {"private", "shared", "slave", "unbindable", "rprivate",
                                     "rshared", "rslave", "runbindable"})) {
    return Invalid("linux.rootfsPropagation",
                   absl::StrCat("unknown propagation \"", *l.rootfs_propagation, "\""));
  }
  if (l.personality && !OneOf(l.personality->domain, {"LINUX", "LINUX32"})) {
    return Invalid("linux.personality.domain",
                   absl::StrCat("must be LINUX or LINUX32, got \"", l.personality->domain, "\""));
  }
  if (l.seccomp) return ValidateSeccomp(*l.seccomp);
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSpec(const Spec& spec) {
  // Paths are absolute in the config's own platform's sense.
  auto absolute = IsForWindows(spec) ? IsWindowsAbsolute : IsAbsolute;
  if (!IsSemver(spec.oci_version)) {
    return Invalid("ociVersion",
                   absl::StrCat("\"", spec.oci_version, "\" is not a version like 1.0.2"));
  }
  if (spec.root && spec.root->path.empty()) return Invalid("root.path", "must not be empty");
  if (spec.process) {
    const Process& p = *spec.process;
    if (!absolute(p.cwd)) {
      return Invalid("process.cwd", absl::StrCat("\"", p.cwd, "\" is not absolute"));
    }
    if (p.rlimits) {
      absl::flat_hash_set<absl::string_view> seen;
      for (size_t i = 0; i < p.rlimits->size(); ++i) {
        const PosixRlimit& r = (*p.rlimits)[i];
        const std::string at = absl::StrCat("process.rlimits[", i, "]");
        if (!absl::StartsWith(r.type, "RLIMIT_")) {
          return Invalid(at, absl::StrCat("type \"", r.type, "\" is not an RLIMIT_* name"));
        }
        if (!seen.insert(r.type).second) {
          return Invalid(at, absl::StrCat(r.type, " appears twice"));
        }
      }
    }
  }
  if (spec.mounts) {
    for (size_t i = 0; i < spec.mounts->size(); ++i) {
      const Mount& m = (*spec.mounts)[i];
      if (!absolute(m.destination)) {
        return Invalid(absl::StrCat("mounts[", i, "].destination"),
                       absl::StrCat("\"", m.destination, "\" is not absolute"));
      }
    }
  }
  if (spec.hooks) {
    const Hooks& h = *spec.hooks;
    for (const auto& [name, list] :
         {std::pair{"prestart", &h.prestart}, std::pair{"createRuntime", &h.create_runtime},
          std::pair{"createContainer", &h.create_container},
          std::pair{"startContainer", &h.start_container}, std::pair{"poststart", &h.poststart},
          std::pair{"poststop", &h.poststop}}) {
      if (!*list) continue;
      for (size_t i = 0; i < (*list)->size(); ++i) {
        const Hook& hook = (**list)[i];
        const std::string at = absl::StrCat("hooks.", name, "[", i, "]");
        if (!absolute(hook.path)) {
          return Invalid(at, absl::StrCat("path \"", hook.path, "\" is not absolute"));
        }
        if (hook.timeout && *hook.timeout <= 0) {
          return Invalid(at, "timeout must be positive");
        }
      }
    }
  }
  if (spec.linux) {
    absl::Status s = ValidateLinux(*spec.linux);
    if (!s.ok()) return s;
  }
  if (spec.vm && spec.vm->kernel.path.empty())
    return Invalid("vm.kernel.path", "must not be empty");
  return absl::OkStatus();
}

}  // namespace oci
}  // namespace kata
