#include "src/runtime/hypervisor/qemu/vm_exit.h"

#include <signal.h>

#include <string>

#include "gtest/gtest.h"

namespace kata::hypervisor::qemu {
namespace {

// wait(2) statuses as Linux encodes them.
int Exited(int code) { return (code & 0xff) << 8; }
int Signaled(int sig) { return sig & 0x7f; }

constexpr char kGuestPowerOff[] = R"({"guest":true,"reason":"guest-shutdown"})";

TEST(QemuVmExitTest, GuestPowerOffIsAGuestShutdown) {
  VmExit e = QemuVmExit({.wait_status = Exited(0), .shutdown_event = kGuestPowerOff});
  EXPECT_EQ(e.cause, VmExitCause::kGuestShutdown);
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(e.signal, 0);
  EXPECT_EQ(e.detail,
            "the guest shut down (shutdown reason guest-shutdown); qemu exited with status 0");
}

TEST(QemuVmExitTest, GuestRebootUnderNoRebootIsAGuestShutdownToo) {
  VmExit e = QemuVmExit(
      {.wait_status = Exited(0), .shutdown_event = R"({"guest":true,"reason":"guest-reset"})"});
  EXPECT_EQ(e.cause, VmExitCause::kGuestShutdown);
  EXPECT_NE(e.detail.find("guest-reset"), std::string::npos) << e.detail;
}

TEST(QemuVmExitTest, HostSideShutdownIsAVmmExit) {
  // SIGTERM from outside: QEMU shuts down (guest false) and exits 0.
  VmExit e = QemuVmExit({.wait_status = Exited(0),
                         .shutdown_event = R"({"guest":false,"reason":"host-signal"})",
                         .log = "qemu-system-x86_64: terminating on signal 15 from pid 7\n"});
  EXPECT_EQ(e.cause, VmExitCause::kVmmExited);
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(e.detail,
            "qemu exited with status 0 (shutdown reason host-signal): qemu-system-x86_64: "
            "terminating on signal 15 from pid 7");
}

TEST(QemuVmExitTest, NonZeroExitQuotesTheLastOutputLine) {
  VmExit e = QemuVmExit({.wait_status = Exited(1), .log = "warning: x\nerror: y\n\n"});
  EXPECT_EQ(e.cause, VmExitCause::kVmmExited);
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_EQ(e.detail, "qemu exited with status 1: error: y");
  // A guest SHUTDOWN does not make a failing QEMU a clean guest shutdown.
  e = QemuVmExit({.wait_status = Exited(1), .shutdown_event = kGuestPowerOff});
  EXPECT_EQ(e.cause, VmExitCause::kVmmExited);
  EXPECT_EQ(e.exit_code, 1);
}

TEST(QemuVmExitTest, ExitWithoutShutdownEventIsAVmmExit) {
  VmExit e = QemuVmExit({.wait_status = Exited(0)});
  EXPECT_EQ(e.cause, VmExitCause::kVmmExited);
  EXPECT_EQ(e.detail, "qemu exited with status 0");
  e = QemuVmExit({.wait_status = Exited(0), .shutdown_event = "not json"});
  EXPECT_EQ(e.cause, VmExitCause::kVmmExited);
}

TEST(QemuVmExitTest, ForeignSignalIsVmmSignaled) {
  VmExit e = QemuVmExit({.wait_status = Signaled(SIGKILL)});
  EXPECT_EQ(e.cause, VmExitCause::kVmmSignaled);
  EXPECT_EQ(e.signal, SIGKILL);
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(e.detail, "qemu killed by signal 9 (SIGKILL)");
}

TEST(QemuVmExitTest, HostStopWinsOverHowQemuEnded) {
  VmExit quit = QemuVmExit({.wait_status = Exited(0),
                            .shutdown_event = R"({"guest":false,"reason":"host-qmp-quit"})",
                            .by_host = true});
  EXPECT_EQ(quit.cause, VmExitCause::kStoppedByHost);
  EXPECT_EQ(quit.signal, 0);
  EXPECT_EQ(quit.detail, "stopped by the host: qemu exited with status 0");
  VmExit killed = QemuVmExit({.wait_status = Signaled(SIGKILL), .by_host = true});
  EXPECT_EQ(killed.cause, VmExitCause::kStoppedByHost);
  EXPECT_EQ(killed.signal, SIGKILL);
  EXPECT_EQ(killed.detail, "stopped by the host: qemu killed by signal 9 (SIGKILL)");
}

TEST(LastLineTest, TrimsTrailingNewlinesAndTakesTheLastLine) {
  EXPECT_EQ(LastLine(""), "");
  EXPECT_EQ(LastLine("\n\n"), "");
  EXPECT_EQ(LastLine("one"), "one");
  EXPECT_EQ(LastLine("one\ntwo\r\n"), "two");
}

}  // namespace
}  // namespace kata::hypervisor::qemu
