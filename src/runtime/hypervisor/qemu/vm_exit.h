// How a QEMU process's end maps onto hypervisor.h's VmExit.
//
//   VmExit e = QemuVmExit({.wait_status = child->wait_status(),
//                          .shutdown_event = R"({"guest":true,"reason":"guest-shutdown"})",
//                          .log = ReadFileTail(qemu_log, 2000)});
//   // e.cause == VmExitCause::kGuestShutdown, e.exit_code == 0
//
// The rules, in order:
//   - by_host (StopVm or the destructor ended it): kStoppedByHost; `signal` is set when QEMU
//     died of a signal (the SIGKILL after the grace period), else 0.
//   - QEMU died of a signal: kVmmSignaled with that signal.
//   - QEMU exited 0 after a SHUTDOWN event whose "guest" member is true (the guest powered
//     off, halted, or rebooted under -no-reboot; "reason" says which): kGuestShutdown.
//   - Otherwise (a non-zero status, or a host-side shutdown such as SIGTERM from outside,
//     reason "host-signal"): kVmmExited with QEMU's exit status.
// `detail` names what happened, the SHUTDOWN reason if any, and QEMU's last output line.
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_VM_EXIT_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_VM_EXIT_H_

#include <optional>
#include <string>

#include "src/runtime/hypervisor/hypervisor.h"

namespace kata::hypervisor::qemu {

struct QemuEnd {
  int wait_status = 0;                        // QEMU's wait(2) status
  std::optional<std::string> shutdown_event;  // the SHUTDOWN event's "data" JSON, if one came
  std::string log;                            // the end of QEMU's stdout/stderr
  bool by_host = false;                       // StopVm / the destructor ended it
};

VmExit QemuVmExit(const QemuEnd& end);

// The last non-empty line of `text` ("" if none).
std::string LastLine(const std::string& text);

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_VM_EXIT_H_
