// WaitVm and VmExit with a real qemu-system-x86_64 (TCG): how each way a VM can end is
// reported. The guest that powers off by itself is a 1 KiB multiboot kernel written by the test
// (MultibootPowerOff below): QEMU loads it with -kernel, SeaBIOS enables the q35 ACPI PM block
// at I/O port 0x600, and the kernel's first instructions write SLP_EN with SLP_TYP 0 (S5, soft
// off) to PM1a_CNT (0x604): the guest-visible ACPI power-off a Linux guest's poweroff(8) ends
// with. QEMU then sends SHUTDOWN {"guest":true,"reason":"guest-shutdown"} and exits 0.
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/hypervisor/qemu/qemu.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::HasSubstr;

bool ProcessGone(pid_t pid) {
  for (int i = 0; i < 500; ++i) {
    if (kill(pid, 0) != 0) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

void PutLe32(std::string* image, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*image)[offset + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// A multiboot (v1) kernel, "a.out kludge" layout (flags bit 16: the header gives the load
// addresses, no ELF), loaded at 1 MiB; entered in 32-bit protected mode, it powers off.
void WriteMultibootPowerOff(const std::string& path) {
  constexpr uint32_t kMagic = 0x1BADB002;
  constexpr uint32_t kFlags = 1u << 16;  // the address fields below are valid
  constexpr uint32_t kLoad = 0x100000;
  constexpr uint32_t kHeaderSize = 32;
  std::string image(1024, '\0');  // zero padding: QEMU probes 0x202 for a Linux header
  PutLe32(&image, 0, kMagic);
  PutLe32(&image, 4, kFlags);
  PutLe32(&image, 8, 0u - kMagic - kFlags);  // checksum: the three words sum to 0
  PutLe32(&image, 12, kLoad);                // header_addr (the header is the file's start)
  PutLe32(&image, 16, kLoad);                // load_addr
  PutLe32(&image, 20, 0);                    // load_end_addr: 0 = the whole file
  PutLe32(&image, 24, 0);                    // bss_end_addr: no bss
  PutLe32(&image, 28, kLoad + kHeaderSize);  // entry_addr: the code after the header
  const unsigned char code[] = {
      0x66, 0xBA, 0x04, 0x06,  // mov dx, 0x604      ; ICH9 PM1a_CNT (PMBASE 0x600 + 4)
      0x66, 0xB8, 0x00, 0x20,  // mov ax, 0x2000     ; SLP_EN, SLP_TYP = 0 (S5)
      0x66, 0xEF,              // out dx, ax
      0xF4,                    // hlt                ; (not reached)
      0xEB, 0xFD,              // jmp hlt
  };
  image.replace(kHeaderSize, sizeof(code), reinterpret_cast<const char*>(code), sizeof(code));
  std::ofstream(path, std::ios::binary) << image;
}

class QemuExitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.work_dir = tmp_.Join("vm");
    config_.memory_mib = 128;
  }
  static QemuDriverOptions PausedNoKernel() {
    return {.start_paused = true, .require_kernel = false, .die_with_parent = true};
  }
  // Starts a paused, kernel-less QEMU; its pid.
  pid_t Start(QemuDriver& vm) {
    absl::Status s = vm.CreateVm(config_);
    EXPECT_TRUE(s.ok()) << s;
    s = vm.StartVm(absl::Seconds(30));
    EXPECT_TRUE(s.ok()) << s;
    std::vector<pid_t> pids = vm.Pids();
    EXPECT_EQ(pids.size(), 1u);
    return pids.empty() ? -1 : pids[0];
  }

  // Under /tmp, not $TEST_TMPDIR: QEMU's unix socket paths must fit in 107 bytes.
  kata::testing::TempDir tmp_{"/tmp"};
  VmConfig config_;
};

TEST_F(QemuExitTest, GuestPowerOffIsGuestShutdown) {
  config_.kernel_path = tmp_.Join("poweroff.mb");
  WriteMultibootPowerOff(config_.kernel_path);
  // Paused first, so the guest cannot power off before StartVm has returned.
  QemuDriver vm({.start_paused = true, .die_with_parent = true});
  ASSERT_TRUE(vm.CreateVm(config_).ok());
  absl::Status started = vm.StartVm(absl::Seconds(30));
  ASSERT_TRUE(started.ok()) << started;
  const pid_t pid = vm.Pids().at(0);
  ASSERT_TRUE(vm.ResumeVm().ok());

  absl::StatusOr<VmExit> e = vm.WaitVm(absl::Seconds(60));
  ASSERT_TRUE(e.ok()) << e.status();
  std::cerr << "guest power-off: " << VmExitToString(*e) << "\n";
  EXPECT_EQ(e->cause, VmExitCause::kGuestShutdown) << VmExitToString(*e);
  EXPECT_EQ(e->exit_code, 0);
  EXPECT_EQ(e->signal, 0);
  EXPECT_THAT(e->detail, HasSubstr("guest-shutdown"));
  EXPECT_EQ(vm.State(), VmState::kStopped);
  EXPECT_TRUE(vm.Pids().empty());
  EXPECT_TRUE(ProcessGone(pid));

  // The end is reported once more to the next call; StopVm then has nothing to do.
  EXPECT_TRUE(vm.StopVm().ok());
  EXPECT_EQ(vm.StopVm().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<VmExit> again = vm.WaitVm(absl::ZeroDuration());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->cause, VmExitCause::kGuestShutdown);
  EXPECT_EQ(again->detail, e->detail);
}

TEST_F(QemuExitTest, SigkillFromOutsideWakesEveryWaiter) {
  QemuDriver vm(PausedNoKernel());
  const pid_t pid = Start(vm);
  ASSERT_GT(pid, 0);
  std::vector<absl::StatusOr<VmExit>> got(2, absl::UnknownError("not returned"));
  std::vector<std::thread> waiters;
  for (auto& slot : got) {
    waiters.emplace_back([&vm, &slot] { slot = vm.WaitVm(absl::InfiniteDuration()); });
  }
  absl::SleepFor(absl::Milliseconds(100));  // let both block
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  for (std::thread& t : waiters) t.join();
  for (const absl::StatusOr<VmExit>& e : got) {
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->cause, VmExitCause::kVmmSignaled) << VmExitToString(*e);
    EXPECT_EQ(e->signal, SIGKILL);
    EXPECT_THAT(e->detail, HasSubstr("killed by signal 9 (SIGKILL)"));
  }
  EXPECT_EQ(got[0]->detail, got[1]->detail);
  EXPECT_EQ(vm.State(), VmState::kStopped);
  EXPECT_TRUE(vm.Pids().empty());
  EXPECT_TRUE(ProcessGone(pid));

  // "Reported by the next call" still holds after WaitVm saw the end first.
  absl::Status s = vm.ResumeVm();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("killed by signal 9"));
  EXPECT_EQ(vm.ResumeVm().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<VmExit> again = vm.WaitVm(absl::ZeroDuration());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->cause, VmExitCause::kVmmSignaled);
}

TEST_F(QemuExitTest, SigstopIsNotAnEndThenSigkillIs) {
  QemuDriver vm(PausedNoKernel());
  const pid_t pid = Start(vm);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  absl::StatusOr<VmExit> stopped = vm.WaitVm(absl::Milliseconds(300));
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kDeadlineExceeded) << stopped.status();
  EXPECT_EQ(vm.State(), VmState::kPaused);
  EXPECT_EQ(vm.Pids(), std::vector<pid_t>{pid});

  ASSERT_EQ(kill(pid, SIGKILL), 0);
  absl::StatusOr<VmExit> e = vm.WaitVm(absl::Seconds(30));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->cause, VmExitCause::kVmmSignaled) << VmExitToString(*e);
  EXPECT_EQ(e->signal, SIGKILL);
  EXPECT_EQ(vm.State(), VmState::kStopped);
  EXPECT_TRUE(ProcessGone(pid));
}

TEST_F(QemuExitTest, SigtermFromOutsideIsAVmmExit) {
  QemuDriver vm(PausedNoKernel());
  const pid_t pid = Start(vm);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGTERM), 0);  // QEMU shuts down cleanly: SHUTDOWN "host-signal", exit 0
  absl::StatusOr<VmExit> e = vm.WaitVm(absl::Seconds(30));
  ASSERT_TRUE(e.ok()) << e.status();
  std::cerr << "SIGTERM: " << VmExitToString(*e) << "\n";
  EXPECT_EQ(e->cause, VmExitCause::kVmmExited) << VmExitToString(*e);
  EXPECT_EQ(e->exit_code, 0);
  EXPECT_THAT(e->detail, HasSubstr("host-signal"));
  EXPECT_THAT(e->detail, HasSubstr("terminating on signal 15"));
}

TEST_F(QemuExitTest, StopVmIsStoppedByHostForEveryWaiter) {
  QemuDriver vm(PausedNoKernel());
  ASSERT_GT(Start(vm), 0);
  absl::StatusOr<VmExit> blocked = absl::UnknownError("not returned");
  std::thread waiter([&] { blocked = vm.WaitVm(absl::InfiniteDuration()); });
  absl::SleepFor(absl::Milliseconds(100));
  ASSERT_TRUE(vm.StopVm().ok());
  waiter.join();
  ASSERT_TRUE(blocked.ok()) << blocked.status();
  EXPECT_EQ(blocked->cause, VmExitCause::kStoppedByHost) << VmExitToString(*blocked);
  EXPECT_EQ(blocked->signal, 0) << "QEMU honoured quit; no SIGKILL needed";

  const absl::Time t0 = absl::Now();
  absl::StatusOr<VmExit> after = vm.WaitVm(absl::ZeroDuration());
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(100));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->cause, VmExitCause::kStoppedByHost);
  EXPECT_EQ(after->detail, blocked->detail);
  EXPECT_EQ(vm.State(), VmState::kStopped);
}

TEST_F(QemuExitTest, StopVmOfAFrozenQemuTakesSigkill) {
  QemuDriverOptions options = PausedNoKernel();
  options.qmp_timeout = absl::Milliseconds(300);
  options.stop_grace = absl::Milliseconds(300);
  QemuDriver vm(options);
  const pid_t pid = Start(vm);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGSTOP), 0);  // "quit" goes unanswered
  ASSERT_TRUE(vm.StopVm().ok());
  absl::StatusOr<VmExit> e = vm.WaitVm(absl::ZeroDuration());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->cause, VmExitCause::kStoppedByHost) << VmExitToString(*e);
  EXPECT_EQ(e->signal, SIGKILL);
  EXPECT_TRUE(ProcessGone(pid));
}

// Issue 11 item 14: a frozen VM must not hold up its pod's removal: StopVm is bounded by the
// stop grace, however long a QMP command may otherwise take.
TEST_F(QemuExitTest, StopVmOfAFrozenQemuIsBoundedByTheGrace) {
  QemuDriverOptions options = PausedNoKernel();
  options.qmp_timeout = absl::Seconds(30);
  options.stop_grace = absl::Milliseconds(500);
  QemuDriver vm(options);
  const pid_t pid = Start(vm);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(vm.StopVm().ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_EQ(vm.State(), VmState::kStopped);
}

TEST_F(QemuExitTest, WaitVmBeforeStartIsFailedPrecondition) {
  QemuDriver vm(PausedNoKernel());
  EXPECT_EQ(vm.WaitVm(absl::ZeroDuration()).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(vm.CreateVm(config_).ok());
  absl::StatusOr<VmExit> created = vm.WaitVm(absl::Seconds(1));
  EXPECT_EQ(created.status().code(), absl::StatusCode::kFailedPrecondition) << created.status();
  EXPECT_THAT(std::string(created.status().message()), HasSubstr("created"));
  ASSERT_TRUE(vm.StopVm().ok());  // stopped without ever running: still nothing to report
  EXPECT_EQ(vm.WaitVm(absl::ZeroDuration()).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kata::hypervisor::qemu
