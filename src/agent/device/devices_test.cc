// Device lookup and spec rewriting on this host: fake sysfs trees for "blk" and "scsi",
// block nodes made with mknod in a temp dir, the wait's timeout. Needs root (mknod).
#include "src/agent/device/devices.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/device/wait.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace agent {
namespace device {
namespace {

class DevicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (mknod)";
    opts_.sysfs_root = dir_ + "/sys";
    opts_.dev_root = dir_ + "/dev";
    opts_.timeout = absl::Seconds(2);
    Run("mkdir -p " + opts_.sysfs_root + "/block " + opts_.dev_root);
  }
  static void Run(const std::string& cmd) { ASSERT_EQ(system(cmd.c_str()), 0) << cmd; }
  void MakeBlock(const std::string& name, int major, int minor) {
    ASSERT_EQ(mknod((opts_.dev_root + "/" + name).c_str(), S_IFBLK | 0600, makedev(major, minor)),
              0);
  }
  kata::testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
  DeviceOptions opts_;
};

TEST_F(DevicesTest, BlkFindsThePciPath) {
  Run("mkdir -p " + opts_.sysfs_root +
      "/devices/pci0000:00/0000:00:02.0/0000:01:03.0/virtio3/block/vdb " + opts_.sysfs_root +
      "/devices/pci0000:00/0000:00:02.0/0000:01:01.0/virtio2/block/vda");
  Run("ln -s ../devices/pci0000:00/0000:00:02.0/0000:01:03.0/virtio3/block/vdb " +
      opts_.sysfs_root + "/block/vdb");
  Run("ln -s ../devices/pci0000:00/0000:00:02.0/0000:01:01.0/virtio2/block/vda " +
      opts_.sysfs_root + "/block/vda");
  MakeBlock("vda", 254, 0);
  MakeBlock("vdb", 254, 16);
  absl::StatusOr<std::string> node = WaitForBlockDevice("blk", "02/03", opts_);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(*node, opts_.dev_root + "/vdb");
  EXPECT_EQ(*WaitForBlockDevice("blk", "02/01", opts_), opts_.dev_root + "/vda");
}

TEST_F(DevicesTest, ScsiFindsTheAddress) {
  Run("mkdir -p " + opts_.sysfs_root + "/devices/host0/target0:0:1/0:0:1:2/block/sdc");
  Run("ln -s ../devices/host0/target0:0:1/0:0:1:2/block/sdc " + opts_.sysfs_root + "/block/sdc");
  Run("ln -s ../../../0:0:1:2 " + opts_.sysfs_root +
      "/devices/host0/target0:0:1/0:0:1:2/block/sdc/device");
  MakeBlock("sdc", 8, 32);
  absl::StatusOr<std::string> node = WaitForBlockDevice("scsi", "1:2", opts_);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(*node, opts_.dev_root + "/sdc");
}

TEST_F(DevicesTest, WaitsForANodeThatAppearsLater) {
  std::thread later([this] {
    absl::SleepFor(absl::Milliseconds(300));
    MakeBlock("vdc", 254, 32);
  });
  absl::StatusOr<std::string> node = WaitForBlockDevice("mmioblk", opts_.dev_root + "/vdc", opts_);
  later.join();
  ASSERT_TRUE(node.ok()) << node.status();
}

TEST_F(DevicesTest, TimesOut) {
  opts_.timeout = absl::Milliseconds(300);
  absl::Time start = absl::Now();
  absl::StatusOr<std::string> node = WaitForBlockDevice("blk", "05/00", opts_);
  EXPECT_EQ(node.status().code(), absl::StatusCode::kDeadlineExceeded) << node.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(DevicesTest, RewritesTheSpecAndAllowsTheDevice) {
  MakeBlock("vdd", 254, 48);
  oci::Spec spec;
  spec.linux.emplace();
  spec.linux->devices.emplace();
  oci::LinuxDevice d;
  d.path = "/dev/xda";
  d.type = "b";
  d.major = 8;
  d.minor = 0;
  spec.linux->devices->push_back(d);
  google::protobuf::RepeatedPtrField<grpc::Device> devices;
  grpc::Device* g = devices.Add();
  g->set_id("d1");
  g->set_type("mmioblk");
  g->set_vm_path(opts_.dev_root + "/vdd");
  g->set_container_path("/dev/xda");
  ASSERT_TRUE(ApplyDevices(devices, spec, opts_).ok());
  EXPECT_EQ(spec.linux->devices->at(0).major, 254);
  EXPECT_EQ(spec.linux->devices->at(0).minor, 48);
  ASSERT_TRUE(spec.linux->resources && spec.linux->resources->devices);
  const oci::LinuxDeviceCgroup& rule = spec.linux->resources->devices->back();
  EXPECT_TRUE(rule.allow);
  EXPECT_EQ(rule.major, 254);
  EXPECT_EQ(rule.minor, 48);

  g->set_type("nvdimm-xyz");
  EXPECT_EQ(ApplyDevices(devices, spec, opts_).code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace device
}  // namespace agent
}  // namespace kata
