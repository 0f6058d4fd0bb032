// The QEMU driver hot-plugging a host block device (a loop device over a file of the test)
// into a real qemu-system-x86_64 (TCG, no guest kernel, started paused): QEMU opens the device
// node itself (protocol host_device: "file" refuses block devices) while it is plugged and
// closes it once unplugged. Root (losetup), outside Bazel's sandbox.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/hypervisor/qemu/qemu.h"

namespace kata::hypervisor::qemu {
namespace {

namespace fs = std::filesystem;

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  pclose(p);
  return std::string(absl::StripAsciiWhitespace(out));
}

// Whether process `pid` has `path` open.
bool Holds(pid_t pid, const std::string& path) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), ec)) {
    if (fs::read_symlink(e.path(), ec) == path) return true;
  }
  return false;
}

TEST(QemuHostDeviceTest, ALoopDeviceIsOpenedByQemuWhilePlugged) {
  ASSERT_EQ(geteuid(), 0u) << "losetup needs root";
  kata::testing::TempDir tmp("/tmp");  // QEMU's socket paths must stay short
  const std::string file = tmp.path() + "/disk.img";
  Shell("truncate -s 1M " + file);
  const std::string loop = Shell("/usr/sbin/losetup -f --show " + file);
  ASSERT_TRUE(absl::StartsWith(loop, "/dev/loop")) << "losetup: " << loop;
  {
    VmConfig config;
    config.work_dir = tmp.path() + "/vm";
    config.memory_mib = 128;
    config.hotplug_slots = 1;
    QemuDriver vm({.start_paused = true, .require_kernel = false, .die_with_parent = true});
    ASSERT_TRUE(vm.CreateVm(config).ok());
    absl::Status started = vm.StartVm(absl::Seconds(30));
    ASSERT_TRUE(started.ok()) << started;
    const pid_t pid = vm.Pids().at(0);
    absl::StatusOr<DeviceInfo> d = vm.HotplugBlockDevice({.id = "loop", .path = loop});
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->pci_path, "10/00");
    EXPECT_TRUE(Holds(pid, loop));
    absl::Status unplugged = vm.UnplugDevice("loop");
    EXPECT_TRUE(unplugged.ok()) << unplugged;
    EXPECT_FALSE(Holds(pid, loop)) << "blockdev-del closes the node";
    // Read-only works the same way.
    d = vm.HotplugBlockDevice({.id = "ro", .path = loop, .read_only = true});
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_TRUE(Holds(pid, loop));
    ASSERT_TRUE(vm.StopVm().ok());
  }
  EXPECT_EQ(Shell("/usr/sbin/losetup -d " + loop + " 2>&1; echo rc=$?"), "rc=0");
}

}  // namespace
}  // namespace kata::hypervisor::qemu
