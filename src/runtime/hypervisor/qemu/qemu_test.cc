// The QEMU driver against a real qemu-system-x86_64 (TCG, no guest kernel, started paused).
// Every QEMU is killed by the driver (or its destructor) before the test ends.
#include "src/runtime/hypervisor/qemu/qemu.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"

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

class QemuDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    mkdir((dir_ + "/shared").c_str(), 0755);
    for (const char* d : {"d0.raw", "d1.raw", "d2.raw"}) {
      std::ofstream(dir_ + "/" + d) << std::string(1 << 20, '\0');
    }
    config_.work_dir = dir_ + "/vm";
    config_.shared_dir = dir_ + "/shared";
    config_.memory_mib = 128;
    config_.hotplug_slots = 2;
  }
  static QemuDriverOptions PausedNoKernel() {
    return {.start_paused = true, .require_kernel = false, .die_with_parent = true};
  }
  std::string Disk(int i) const { return absl::StrCat(dir_, "/d", i, ".raw"); }

  // Under /tmp, not $TEST_TMPDIR: QEMU's unix socket paths must fit in 107 bytes.
  kata::testing::TempDir tmp_{"/tmp"};
  std::string dir_;
  VmConfig config_;
};

TEST_F(QemuDriverTest, LifecycleHotplugAndStop) {
  QemuDriver vm(PausedNoKernel());
  EXPECT_EQ(vm.StartVm(absl::Seconds(1)).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(vm.CreateVm(config_).ok());
  EXPECT_EQ(vm.State(), VmState::kCreated);
  EXPECT_TRUE(vm.Pids().empty());
  EXPECT_TRUE(vm.GetCapabilities().block_hotplug);

  absl::Status started = vm.StartVm(absl::Seconds(30));
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(vm.State(), VmState::kPaused);  // start_paused: vCPUs not yet run
  ASSERT_EQ(vm.Pids().size(), 1u);
  const pid_t pid = vm.Pids()[0];

  absl::StatusOr<AgentChannel> ch = vm.GetAgentChannel();
  ASSERT_TRUE(ch.ok()) << ch.status();
  EXPECT_EQ(ch->kind, AgentChannelKind::kVirtioSerial);
  EXPECT_EQ(ch->socket_path, config_.work_dir + "/agent.sock");
  struct stat st;
  EXPECT_EQ(stat(ch->socket_path.c_str(), &st), 0) << "QEMU listens on the agent socket";
  // The guest's console and QEMU's own log: root only.
  for (const char* log : {"/console.log", "/qemu.log"}) {
    ASSERT_EQ(stat((config_.work_dir + log).c_str(), &st), 0) << log;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << log;
  }

  absl::StatusOr<DeviceInfo> b0 = vm.HotplugBlockDevice({.id = "b0", .path = Disk(0)});
  ASSERT_TRUE(b0.ok()) << b0.status();
  EXPECT_EQ(b0->pci_path, "10/00");
  absl::StatusOr<DeviceInfo> b1 =
      vm.HotplugBlockDevice({.id = "b1", .path = Disk(1), .read_only = true});
  ASSERT_TRUE(b1.ok()) << b1.status();
  EXPECT_EQ(b1->pci_path, "11/00");
  EXPECT_EQ(vm.HotplugBlockDevice({.id = "b2", .path = Disk(2)}).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(vm.HotplugBlockDevice({.id = "b1", .path = Disk(2)}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(vm.HotplugBlockDevice({.id = "bad id", .path = Disk(2)}).status().code(),
            absl::StatusCode::kInvalidArgument);

  absl::Status unplugged = vm.UnplugDevice("b0");
  ASSERT_TRUE(unplugged.ok()) << unplugged;
  EXPECT_EQ(vm.UnplugDevice("b0").code(), absl::StatusCode::kNotFound);
  absl::StatusOr<DeviceInfo> b2 = vm.HotplugBlockDevice({.id = "b2", .path = Disk(2)});
  ASSERT_TRUE(b2.ok()) << b2.status();
  EXPECT_EQ(b2->pci_path, "10/00");  // the freed slot is reused

  // A missing backing file: QEMU's error, and the slot stays free.
  ASSERT_TRUE(vm.UnplugDevice("b2").ok());
  absl::StatusOr<DeviceInfo> missing =
      vm.HotplugBlockDevice({.id = "b3", .path = dir_ + "/missing.raw"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInternal) << missing.status();
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("block hotplug b3"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("missing.raw"));
  absl::StatusOr<DeviceInfo> b3 = vm.HotplugBlockDevice({.id = "b3", .path = Disk(0)});
  ASSERT_TRUE(b3.ok()) << b3.status();
  EXPECT_EQ(b3->pci_path, "10/00");

  ASSERT_TRUE(vm.ResumeVm().ok());
  EXPECT_EQ(vm.State(), VmState::kRunning);
  EXPECT_EQ(vm.ResumeVm().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(vm.PauseVm().ok());
  EXPECT_EQ(vm.State(), VmState::kPaused);

  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(vm.StopVm().ok());
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5)) << "quit should not need the SIGKILL fallback";
  EXPECT_EQ(vm.State(), VmState::kStopped);
  EXPECT_TRUE(vm.Pids().empty());
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_EQ(vm.PauseVm().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(vm.StopVm().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(QemuDriverTest, EarlyExitReportsQemusError) {
  // A kernel QEMU cannot load: it exits at once, before QMP is up.
  config_.kernel_path = dir_ + "/bad-kernel";
  std::ofstream(config_.kernel_path) << std::string(100, '\0');
  QemuDriver vm({.die_with_parent = true});
  ASSERT_TRUE(vm.CreateVm(config_).ok());
  absl::Status started = vm.StartVm(absl::Seconds(30));
  EXPECT_EQ(started.code(), absl::StatusCode::kFailedPrecondition) << started;
  EXPECT_THAT(std::string(started.message()), HasSubstr("qemu exited with status 1"));
  EXPECT_THAT(std::string(started.message()), HasSubstr("kernel"));
  EXPECT_EQ(vm.State(), VmState::kCreated);
  EXPECT_TRUE(vm.Pids().empty());
}

TEST_F(QemuDriverTest, QemuDyingIsNoticedByTheNextCall) {
  QemuDriver vm(PausedNoKernel());
  ASSERT_TRUE(vm.CreateVm(config_).ok());
  ASSERT_TRUE(vm.StartVm(absl::Seconds(30)).ok());
  const pid_t pid = vm.Pids().at(0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  absl::Status s = vm.ResumeVm();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("killed by signal 9"));
  EXPECT_EQ(vm.State(), VmState::kStopped);
  EXPECT_TRUE(vm.Pids().empty());
  EXPECT_TRUE(ProcessGone(pid));
}

TEST_F(QemuDriverTest, DestructorKillsQemu) {
  pid_t pid;
  {
    QemuDriver vm(PausedNoKernel());
    ASSERT_TRUE(vm.CreateVm(config_).ok());
    ASSERT_TRUE(vm.StartVm(absl::Seconds(30)).ok());
    pid = vm.Pids().at(0);
  }
  EXPECT_TRUE(ProcessGone(pid));
}

TEST_F(QemuDriverTest, MicrovmStartsButCannotHotplug) {
  config_.machine = MachineType::kMicrovm;
  EXPECT_EQ(QemuDriver(PausedNoKernel()).CreateVm(config_).code(),
            absl::StatusCode::kInvalidArgument);
  config_.hotplug_slots = 0;
  QemuDriver vm(PausedNoKernel());
  ASSERT_TRUE(vm.CreateVm(config_).ok());
  EXPECT_FALSE(vm.GetCapabilities().block_hotplug);
  absl::Status started = vm.StartVm(absl::Seconds(30));
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(vm.HotplugBlockDevice({.id = "b0", .path = Disk(0)}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(vm.StopVm().ok());
}

TEST_F(QemuDriverTest, CreateChecksFilesAndState) {
  QemuDriver vm(PausedNoKernel());
  VmConfig c = config_;
  c.kernel_path = dir_ + "/no-such-kernel";
  EXPECT_EQ(vm.CreateVm(c).code(), absl::StatusCode::kNotFound);
  c = config_;
  c.shared_dir = dir_ + "/d0.raw";
  EXPECT_EQ(vm.CreateVm(c).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(vm.State(), VmState::kInitial);
  ASSERT_TRUE(vm.CreateVm(config_).ok());
  EXPECT_EQ(vm.CreateVm(config_).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(vm.HotplugBlockDevice({.id = "b0", .path = Disk(0)}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(vm.StopVm().ok());  // created, never started
  EXPECT_EQ(vm.State(), VmState::kStopped);
}

}  // namespace
}  // namespace kata::hypervisor::qemu
