#include "src/agent/init/init.h"

#include <sys/mount.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "src/agent/log/log.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace init {
namespace {

std::string Join(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  return absl::StrCat(absl::StripSuffix(root, "/"), path);
}

absl::Status MountOne(System& sys, const InitOptions& options, const MountPoint& m) {
  const std::string target = Join(options.root, m.target);
  KATA_RETURN_IF_ERROR(sys.MkdirAll(target));
  absl::Status s = sys.Mount(m.source, target, m.fstype, m.flags, m.data);
  if (absl::IsAlreadyExists(s)) return absl::OkStatus();
  return s;
}

constexpr unsigned long kNoSuidExecDev = MS_NOSUID | MS_NOEXEC | MS_NODEV;

}  // namespace

std::vector<MountPoint> EssentialMounts() {
  return {
      {"proc", "/proc", "proc", kNoSuidExecDev, ""},
      {"sysfs", "/sys", "sysfs", kNoSuidExecDev, ""},
      {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
      {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
      {"shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
      {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
  };
}

absl::Status MountEssentials(System& sys, const InitOptions& options) {
  for (const MountPoint& m : EssentialMounts()) {
    KATA_RETURN_IF_ERROR(MountOne(sys, options, m));
  }
  return absl::OkStatus();
}

absl::Status MountCgroups(System& sys, const InitOptions& options) {
  KATA_ASSIGN_OR_RETURN(std::string filesystems,
                        sys.ReadFile(Join(options.root, "/proc/filesystems")));
  bool has_cgroup2 = false;
  for (absl::string_view line : absl::StrSplit(filesystems, '\n')) {
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (!words.empty() && words.back() == "cgroup2") has_cgroup2 = true;
  }
  if (has_cgroup2) {
    return MountOne(sys, options,
                    {"cgroup2", "/sys/fs/cgroup", "cgroup2", kNoSuidExecDev, "nsdelegate"});
  }
  KATA_RETURN_IF_ERROR(
      MountOne(sys, options, {"tmpfs", "/sys/fs/cgroup", "tmpfs", kNoSuidExecDev, "mode=0755"}));
  KATA_ASSIGN_OR_RETURN(std::string cgroups, sys.ReadFile(Join(options.root, "/proc/cgroups")));
  // "#subsys_name hierarchy num_cgroups enabled"
  for (absl::string_view line : absl::StrSplit(cgroups, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() < 4 || f[3] != "1") continue;
    const std::string name(f[0]);
    KATA_RETURN_IF_ERROR(MountOne(
        sys, options, {"cgroup", "/sys/fs/cgroup/" + name, "cgroup", kNoSuidExecDev, name}));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ModuleEntry>> ParseModulesList(const std::string& text) {
  std::vector<ModuleEntry> out;
  int lineno = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++lineno;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(line, absl::MaxSplits(absl::ByAnyChar(" \t"), 1));
    if (!absl::StartsWith(parts.first, "/") || !absl::EndsWith(parts.first, ".ko")) {
      return absl::InvalidArgumentError(absl::StrCat("modules list line ", lineno, ": \"", line,
                                                     "\": expected an absolute path to a .ko"));
    }
    out.push_back(
        {std::string(parts.first), std::string(absl::StripAsciiWhitespace(parts.second))});
  }
  return out;
}

absl::Status LoadModules(System& sys, const InitOptions& options) {
  const std::string list_path = Join(options.root, options.modules_list);
  absl::StatusOr<std::string> text = sys.ReadFile(list_path);
  if (absl::IsNotFound(text.status())) return absl::OkStatus();
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<ModuleEntry>> modules = ParseModulesList(*text);
  if (!modules.ok()) return AnnotateStatus(modules.status(), list_path);
  for (const ModuleEntry& m : *modules) {
    absl::Status s = sys.LoadModule(Join(options.root, m.path), m.params);
    if (!s.ok() && !absl::IsAlreadyExists(s)) return s;
  }
  return absl::OkStatus();
}

namespace {
std::vector<StepTime>& Steps() {
  static auto* steps = new std::vector<StepTime>();
  return *steps;
}
}  // namespace

const std::vector<StepTime>& SetUpSteps() { return Steps(); }

absl::Status SetUp(System& sys, const InitOptions& options) {
  // The console first so the errors below reach it. Not fatal: a guest without a console
  // still serves the agent channel.
  absl::Time t = absl::Now();
  // The cost of each step (the TCG boot budget), logged and kept for the agent's tracing.
  auto step = [&t](const char* what, const char* span) {
    const absl::Time now = absl::Now();
    Log(LogLevel::kInfo, "init step", {{"step", what}, {"ms", absl::ToInt64Milliseconds(now - t)}});
    Steps().push_back({span, absl::ToUnixNanos(t), absl::ToUnixNanos(now)});
    t = now;
  };
  const std::string console_path = Join(options.root, options.console);
  absl::Status console = sys.AttachConsole(console_path, /*replace=*/false);
  if (options.root == "/") {
    KATA_ASSIGN_OR_RETURN(bool switched, sys.SwitchRootFromInitramfs());
    if (switched) step("root: a bind mount of the initramfs", "init.root");
  }
  KATA_RETURN_IF_ERROR(MountEssentials(sys, options));
  if (!console.ok()) {  // /dev is mounted now: the UART until the console's module is in
    for (const std::string& early : options.early_consoles) {
      if (sys.AttachConsole(Join(options.root, early), /*replace=*/false).ok()) break;
    }
  }
  KATA_RETURN_IF_ERROR(MountCgroups(sys, options));
  step("mounts", "init.mounts");
  KATA_RETURN_IF_ERROR(LoadModules(sys, options));
  step("modules", "init.modules");
  if (!console.ok()) {
    absl::Status late = sys.AttachConsole(console_path, /*replace=*/true);
    if (late.ok()) {
      Log(LogLevel::kInfo, "console attached after the modules", {{"console", console_path}});
    } else {
      Log(LogLevel::kWarn, "no console", {{"error", late.ToString()}});
    }
    step("console", "init.console");
  }
  return absl::OkStatus();
}

int RunAsInit(int argc, char** argv, int (*agent_main)(int, char**)) {
  System& sys = RealSystem();
  absl::Status setup = SetUp(sys, InitOptions{});
  if (!setup.ok()) {
    Log(LogLevel::kCritical, "init: set-up failed, powering off", {{"error", setup.ToString()}});
  } else {
    int code = agent_main(argc, argv);
    Log(LogLevel::kInfo, "init: agent ended, powering off", {{"code", code}});
  }
  absl::Status off = sys.PowerOff();
  Log(LogLevel::kCritical, "init: power-off failed", {{"error", off.ToString()}});
  for (;;) pause();
}

}  // namespace init
}  // namespace agent
}  // namespace kata
