// PID 1 duties of kata-agent in the guest (the agent is the initrd's /init):
//
//   int main(int argc, char** argv) {
//     if (getpid() == 1) return kata::agent::init::RunAsInit(argc, argv, &AgentMain);
//     return AgentMain(argc, argv);
//   }
//
// Before the agent starts, `SetUp` attaches stdio to the console, mounts the filesystems a
// guest needs and loads the kernel modules the image lists. When the agent's main returns
// (the sandbox was destroyed, or a fatal error) PID 1 must not exit (the kernel would panic):
// RunAsInit syncs and powers the VM off instead.
//
// Paths are joined onto `InitOptions::root` ("/" in the guest; a temporary directory in
// tests), so every duty can run on a host against a fake `System`.
#ifndef KATA_SRC_AGENT_INIT_INIT_H_
#define KATA_SRC_AGENT_INIT_INIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/agent/init/system.h"

namespace kata {
namespace agent {
namespace init {

// Where the initrd lists the modules to load, one per line in dependency order:
//   /lib/modules/6.1.0-57-amd64/kernel/net/9p/9pnet.ko [param=value ...]
// Blank lines and lines starting with '#' are ignored. tools/osbuilder writes it.
inline constexpr char kModulesListPath[] = "/etc/kata-cpp/modules";

struct InitOptions {
  std::string root = "/";
  std::string modules_list = kModulesListPath;
  std::string console = "/dev/console";
  // Where stdio goes until `console` exists: the runtime gives the kernel "console=hvc0"
  // (virtio-console, from a module), so /dev/console cannot be opened before the modules are
  // loaded; the UART (built into the kernel) carries the first lines. The first that opens.
  std::vector<std::string> early_consoles = {"/dev/ttyS0", "/dev/ttyAMA0"};
};

// One filesystem PID 1 mounts.
struct MountPoint {
  std::string source;
  std::string target;  // absolute, joined onto the root
  std::string fstype;
  unsigned long flags = 0;
  std::string data;
};

// The mounts in order: /proc, /sys, /dev (devtmpfs), /dev/pts, /dev/shm, /run.
// cgroups are mounted separately (MountCgroups).
std::vector<MountPoint> EssentialMounts();

// Creates each target and mounts it; a target that is already mounted (EBUSY) is fine.
absl::Status MountEssentials(System& sys, const InitOptions& options);

// cgroup2 at /sys/fs/cgroup when the kernel has it (/proc/filesystems lists "cgroup2");
// otherwise a tmpfs there with one cgroup v1 hierarchy per enabled controller of
// /proc/cgroups (/sys/fs/cgroup/<controller>).
absl::Status MountCgroups(System& sys, const InitOptions& options);

// The modules list parsed: (path, params) per line.
struct ModuleEntry {
  std::string path;
  std::string params;
};
absl::StatusOr<std::vector<ModuleEntry>> ParseModulesList(const std::string& text);

// Loads every listed module in order; one already loaded is fine. A missing list is fine
// (an image without modules); a module that fails to load is an error naming it.
absl::Status LoadModules(System& sys, const InitOptions& options);

// Console, the root made a bind mount of the initramfs (only when options.root is "/"; see
// System::SwitchRootFromInitramfs), mounts, cgroups, modules, in that order. Stops at the
// first error. When `console` cannot be opened at first (its driver is a module), stdio goes
// to the first early console that opens once /dev is mounted, and moves to `console` after
// the modules are loaded.
absl::Status SetUp(System& sys, const InitOptions& options);

// The steps SetUp took in this process (name, unix-nano start and end), in order: "init.root",
// "init.mounts", "init.modules", "init.console"; what the agent's tracing reports as its boot
// (trace/agent_tracing.h). Written by SetUp only, before any other thread runs.
struct StepTime {
  std::string name;
  int64_t start_unix_nanos = 0;
  int64_t end_unix_nanos = 0;
};
const std::vector<StepTime>& SetUpSteps();

// PID 1: SetUp (an error is logged and the VM powered off), then `agent_main`; whatever it
// returns, sync and power off. Never returns unless power-off itself failed, in which case it
// sleeps forever (PID 1 must not exit).
int RunAsInit(int argc, char** argv, int (*agent_main)(int, char**));

}  // namespace init
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_INIT_INIT_H_
