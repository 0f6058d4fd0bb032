// The QEMU driver's vsock CID (issue 11 item 13) without QEMU: a stand-in "qemu" script reports
// the vhostfd and guest-cid it was given and whether that fd is open in it, then exits (so
// StartVm fails and quotes its log); the vhost-vsock device is faked (vsock_cid.h's probe).
#include <errno.h>
#include <sys/stat.h>

#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/hypervisor/qemu/qemu.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::HasSubstr;

class QemuVsockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_qemu_ = tmp_.Join("qemu");
    ASSERT_TRUE(WriteStringToFile(fake_qemu_, R"(#!/bin/sh
for a in "$@"; do
  case "$a" in
    *vhostfd=*)
      fd=${a##*vhostfd=}
      cid=${a#*guest-cid=}; cid=${cid%%,*}
      if [ -e /proc/self/fd/$fd ]; then echo "cid $cid vhostfd $fd open"; fi ;;
  esac
done
exit 1
)")
                    .ok());
    ASSERT_EQ(chmod(fake_qemu_.c_str(), 0755), 0);
    config_.work_dir = tmp_.Join("vm");
    config_.agent_channel = AgentChannelKind::kVsock;
  }

  QemuDriverOptions Options() {
    QemuDriverOptions o{.binary = fake_qemu_, .start_paused = true, .require_kernel = false};
    o.vsock_cid.device = "/dev/null";  // stands for /dev/vhost-vsock
    o.vsock_cid.probe = [this](int, uint64_t cid) { return taken_.count(cid) ? EADDRINUSE : 0; };
    return o;
  }

  kata::testing::TempDir tmp_{"/tmp"};
  std::string fake_qemu_;
  VmConfig config_;
  std::set<uint64_t> taken_;
};

TEST_F(QemuVsockTest, QemuGetsAFreeCidAndItsDeviceFdAsVhostfd) {
  taken_ = {3, 4};  // another pod's VMs
  QemuDriver vm(Options());
  ASSERT_TRUE(vm.CreateVm(config_).ok());
  absl::Status s = vm.StartVm(absl::Seconds(10));
  ASSERT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::ContainsRegex("cid 5 vhostfd [0-9]+ open"));
  bool found = false;
  for (const std::string& a : vm.argv()) found |= a.find("guest-cid=5,vhostfd=") != a.npos;
  EXPECT_TRUE(found) << "argv has no vhost-vsock with guest-cid=5 and a vhostfd";
}

TEST_F(QemuVsockTest, NoFreeCidFailsStartBeforeQemuRuns) {
  QemuDriverOptions o = Options();
  o.vsock_cid.last = 4;
  taken_ = {3, 4};
  QemuDriver vm(o);
  ASSERT_TRUE(vm.CreateVm(config_).ok());
  absl::Status s = vm.StartVm(absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("vsock guest CID"));
  EXPECT_EQ(vm.State(), VmState::kCreated);
}

TEST_F(QemuVsockTest, WithoutAllocationTheConfiguredCidIsUsedAsIs) {
  QemuDriverOptions o = Options();
  o.allocate_vsock_cid = false;
  config_.vsock_guest_cid = 9;
  QemuDriver vm(o);
  ASSERT_TRUE(vm.CreateVm(config_).ok());
  bool found = false;
  for (const std::string& a : vm.argv()) found |= absl::EndsWith(a, "guest-cid=9");
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace kata::hypervisor::qemu
