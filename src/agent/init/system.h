// The system calls PID 1's duties are made of, behind an interface so the duties can be
// tested on a host without mounting anything or loading modules (see FakeSystem in
// init_test.cc). `RealSystem()` is the one implementation that calls the kernel.
//
// Contract: every method returns OK or an error whose message names the path or module and
// the errno name ("mount /proc: EBUSY"); none of them throws.
#ifndef KATA_SRC_AGENT_INIT_SYSTEM_H_
#define KATA_SRC_AGENT_INIT_SYSTEM_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kata {
namespace agent {
namespace init {

class System {
 public:
  virtual ~System() = default;
  // mkdir -p with mode 0755.
  virtual absl::Status MkdirAll(const std::string& path) = 0;
  // mount(2); EBUSY (already mounted) is an error here, the caller decides.
  virtual absl::Status Mount(const std::string& source, const std::string& target,
                             const std::string& fstype, unsigned long flags,
                             const std::string& data) = 0;
  // The whole file (small files: /proc/filesystems, the modules list).
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // open + finit_module(fd, params, 0). ALREADY_EXISTS when the module is loaded.
  virtual absl::Status LoadModule(const std::string& path, const std::string& params) = 0;
  // Points fds 0, 1 and 2 at the console device: only those that are not open, or all three
  // when `replace` (moving from an early console to the real one).
  virtual absl::Status AttachConsole(const std::string& console, bool replace) = 0;
  // When / is the initramfs (ramfs/tmpfs), makes the root a bind mount of it (MS_BIND onto
  // /.kata-root, MS_MOVE over /, chroot), because pivot_root(2) into a container rootfs fails
  // with EINVAL while the root is the initial rootfs mount, which has no parent. Nothing is
  // copied. Returns whether it switched.
  virtual absl::StatusOr<bool> SwitchRootFromInitramfs() = 0;
  // sync(2) then reboot(RB_POWER_OFF); returns only when that failed.
  virtual absl::Status PowerOff() = 0;
};

// The kernel. One instance for the process.
System& RealSystem();

}  // namespace init
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_INIT_SYSTEM_H_
