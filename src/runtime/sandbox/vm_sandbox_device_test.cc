// VmSandbox: block devices of linux.devices hot-plugged into the VM, the Device the agent
// gets, the unplug on removal and on every failure, and bad input (fixture:
// vm_sandbox_test_fixture.h). Real loop devices over files of the test (root).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/unique_fd.h"
#include "src/runtime/sandbox/host_devices.h"
#include "src/runtime/sandbox/vm_sandbox_test_fixture.h"

namespace kata::runtime::vm_sandbox_test {
namespace {

using hypervisor::BlockDevice;
using hypervisor::DeviceInfo;
using ::testing::Field;
using ::testing::InSequence;

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  pclose(p);
  return std::string(absl::StripAsciiWhitespace(out));
}

class VmSandboxDeviceTest : public VmSandboxTest {
 protected:
  void TearDown() override {
    VmSandboxTest::TearDown();
    for (const std::string& l : loops_) Shell("/usr/sbin/losetup -d " + l + " 2>&1");
  }
  // A loop device over a new 1 MiB file.
  std::string NewLoop() {
    const std::string file = absl::StrCat(tmp_, "/disk", loops_.size());
    Shell(absl::StrCat("truncate -s 1M ", file));
    std::string dev = Shell("/usr/sbin/losetup -f --show " + file);
    EXPECT_TRUE(absl::StartsWith(dev, "/dev/loop")) << "losetup: " << dev;
    loops_.push_back(dev);
    return dev;
  }
  // A loop device holding an empty ext4 filesystem (a block rootfs).
  std::string NewExt4Loop() {
    std::string dev = NewLoop();
    EXPECT_EQ(Shell("/usr/sbin/mkfs.ext4 -q -F " + dev + " >/dev/null 2>&1; echo $?"), "0");
    return dev;
  }
  // A started sandbox whose VM can hot-plug block devices (a q35 with root ports).
  void StartWithBlockHotplug() {
    MakeSandbox();
    ON_CALL(*vm_, GetCapabilities())
        .WillByDefault(Return(hypervisor::Capabilities{.block_hotplug = true}));
    ASSERT_TRUE(sandbox_->Start().ok());
  }
  static oci::LinuxDevice DeviceOf(const std::string& host, const std::string& container_path) {
    struct stat st;
    EXPECT_EQ(stat(host.c_str(), &st), 0) << host;
    oci::LinuxDevice d;
    d.path = container_path;
    d.type = "b";
    d.major = major(st.st_rdev);
    d.minor = minor(st.st_rdev);
    return d;
  }
  ContainerConfig WithDevices(const std::string& id, std::vector<oci::LinuxDevice> devices) {
    ContainerConfig c = Config(id, {"sleep"});
    c.spec.linux->devices = std::move(devices);
    return c;
  }
  static bool Claimed(const std::string& dev) {
    UniqueFd fd(open(dev.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC));
    return !fd && errno == EBUSY;
  }
  std::vector<std::string> loops_;
};

TEST_F(VmSandboxDeviceTest, BlockDevicesArePluggedPassedAndUnpluggedOnDelete) {
  const std::string a = NewLoop(), b = NewLoop();
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  {
    InSequence seq;
    EXPECT_CALL(*vm_, HotplugBlockDevice(
                          AllOf(Field(&BlockDevice::id, "blk0"), Field(&BlockDevice::path, a))))
        .WillOnce(Return(DeviceInfo{"blk0", "10/00"}));
    EXPECT_CALL(*vm_, HotplugBlockDevice(
                          AllOf(Field(&BlockDevice::id, "blk1"), Field(&BlockDevice::path, b))))
        .WillOnce(Return(DeviceInfo{"blk1", "11/00"}));
    EXPECT_CALL(*vm_, UnplugDevice("blk1")).WillOnce(Return(absl::OkStatus()));
    EXPECT_CALL(*vm_, UnplugDevice("blk0")).WillOnce(Return(absl::OkStatus()));
  }
  oci::LinuxDevice tty = DeviceOf("/dev/null", "/dev/mynull");
  tty.type = "c";  // skipped: not passed
  absl::Status created = sandbox_->CreateContainer(
      WithDevices("c1", {DeviceOf(a, "/dev/xda"), tty, DeviceOf(b, "/dev/xdb")}));
  ASSERT_TRUE(created.ok()) << created;
  auto reqs = agent_.RequestsAs<::grpc::CreateContainerRequest>("CreateContainer");
  ASSERT_EQ(reqs.size(), 1u);
  ASSERT_EQ(reqs[0].devices_size(), 2);
  EXPECT_EQ(reqs[0].devices(0).type(), "blk");
  EXPECT_EQ(reqs[0].devices(0).id(), "10/00");
  EXPECT_EQ(reqs[0].devices(0).container_path(), "/dev/xda");
  EXPECT_EQ(reqs[0].devices(1).id(), "11/00");
  EXPECT_EQ(reqs[0].devices(1).container_path(), "/dev/xdb");
  // The spec keeps the host's entries: the agent rewrites them with the guest's numbers.
  EXPECT_EQ(reqs[0].oci().linux().devices_size(), 3);
  EXPECT_TRUE(Claimed(a) && Claimed(b)) << "held O_EXCL while in the VM";
  ASSERT_TRUE(sandbox_->DeleteContainer("c1").ok());
  EXPECT_FALSE(Claimed(a) || Claimed(b));
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

TEST_F(VmSandboxDeviceTest, AFailedCreateUnplugsAndReleases) {
  const std::string a = NewLoop();
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  EXPECT_CALL(*vm_, HotplugBlockDevice(_)).WillOnce(Return(DeviceInfo{"blk0", "10/00"}));
  EXPECT_CALL(*vm_, UnplugDevice("blk0")).WillOnce(Return(absl::OkStatus()));
  agent_.FailNext("CreateContainer", absl::NotFoundError("blk device 10/00: did not appear"));
  absl::Status s = sandbox_->CreateContainer(WithDevices("c1", {DeviceOf(a, "/dev/xda")}));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_FALSE(Claimed(a));
  ExpectOnlyTheShareMounted(SandboxDir());
  ASSERT_TRUE(sandbox_->Shutdown().ok());
}

TEST_F(VmSandboxDeviceTest, AFailedHotplugUnplugsTheOnesBefore) {
  const std::string a = NewLoop(), b = NewLoop();
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  EXPECT_CALL(*vm_, HotplugBlockDevice(_))
      .WillOnce(Return(DeviceInfo{"blk0", "10/00"}))
      .WillOnce(Return(absl::ResourceExhaustedError("block hotplug: all 1 hotplug slots")));
  EXPECT_CALL(*vm_, UnplugDevice("blk0")).WillOnce(Return(absl::OkStatus()));
  absl::Status s = sandbox_->CreateContainer(
      WithDevices("c1", {DeviceOf(a, "/dev/xda"), DeviceOf(b, "/dev/xdb")}));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.message(), HasSubstr("container c1: device /dev/xdb"));
  EXPECT_THAT(s.message(), HasSubstr("pcie_root_port"));
  EXPECT_TRUE(agent_.Requests("CreateContainer").empty());
  EXPECT_FALSE(Claimed(a) || Claimed(b));
  ASSERT_TRUE(sandbox_->Shutdown().ok());
}

TEST_F(VmSandboxDeviceTest, BadDevicesAreRefusedBeforeAnythingIsPlugged) {
  const std::string a = NewLoop();
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  EXPECT_CALL(*vm_, HotplugBlockDevice(_)).Times(0);
  // Numbers of no block device on this host.
  oci::LinuxDevice none{"/dev/none", "b", 4095, 1048575, {}, {}, {}, {}};
  absl::Status s = sandbox_->CreateContainer(WithDevices("c1", {none}));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("device /dev/none (b 4095:1048575): no such block device"));
  // A device someone holds (here the test, as another sandbox's shim would).
  UniqueFd held(open(a.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC));
  ASSERT_TRUE(held);
  s = sandbox_->CreateContainer(WithDevices("c2", {DeviceOf(a, "/dev/xda")}));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("device ", a, " is in use")));
  held.reset();
  // The same path twice.
  s = sandbox_->CreateContainer(
      WithDevices("c3", {DeviceOf(a, "/dev/xda"), DeviceOf(a, "/dev/xda")}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(agent_.Requests("CreateContainer").empty());
  EXPECT_TRUE(sandbox_->ContainerIds().empty());
  EXPECT_FALSE(Claimed(a));
  ExpectOnlyTheShareMounted(SandboxDir());
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

TEST_F(VmSandboxDeviceTest, ADeviceTheVmKeepsStaysClaimedUntilShutdown) {
  const std::string a = NewLoop();
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  EXPECT_CALL(*vm_, HotplugBlockDevice(_)).WillOnce(Return(DeviceInfo{"blk0", "10/00"}));
  EXPECT_CALL(*vm_, UnplugDevice("blk0"))
      .WillOnce(Return(absl::DeadlineExceededError("unplug blk0 (the guest did not release it)")));
  ASSERT_TRUE(sandbox_->CreateContainer(WithDevices("c1", {DeviceOf(a, "/dev/xda")})).ok());
  absl::Status s = sandbox_->DeleteContainer("c1");
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(s.message(), HasSubstr("container c1: device /dev/xda"));
  EXPECT_TRUE(sandbox_->ContainerIds().empty());  // the container is gone all the same
  EXPECT_TRUE(Claimed(a)) << "QEMU may still use it: no other sandbox may take it";
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_FALSE(Claimed(a));
  ExpectNothingLeft();
}

TEST_F(VmSandboxDeviceTest, ABindMountedBlockDeviceIsAGuestMountedStorage) {
  const std::string a = NewLoop(), b = NewLoop();
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  EXPECT_CALL(*vm_, HotplugBlockDevice(
                        AllOf(Field(&BlockDevice::path, a), Field(&BlockDevice::read_only, false))))
      .WillOnce(Return(DeviceInfo{"blk0", "10/00"}));
  EXPECT_CALL(*vm_, HotplugBlockDevice(
                        AllOf(Field(&BlockDevice::path, b), Field(&BlockDevice::read_only, true))))
      .WillOnce(Return(DeviceInfo{"blk1", "11/00"}));
  EXPECT_CALL(*vm_, UnplugDevice(_)).Times(2).WillRepeatedly(Return(absl::OkStatus()));
  ContainerConfig c = Config("c1", {"sleep"});
  c.spec.mounts = std::vector<oci::Mount>{
      {"/data", std::string("bind"), a, oci::Strings{"rbind", "rw"}, {}, {}, {}},
      {"/ro", std::nullopt, b, oci::Strings{"bind", "ro"}, {}, {}, {}}};
  ASSERT_TRUE(sandbox_->CreateContainer(c).ok());
  auto reqs = agent_.RequestsAs<::grpc::CreateContainerRequest>("CreateContainer");
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].devices_size(), 0);
  ASSERT_EQ(reqs[0].storages_size(), 2);
  const ::grpc::Storage& rw = reqs[0].storages(0);
  EXPECT_EQ(rw.driver(), "blk");
  EXPECT_EQ(rw.source(), "10/00");
  EXPECT_EQ(rw.fstype(), "ext4");
  EXPECT_TRUE(rw.options().empty());
  EXPECT_EQ(rw.mount_point(), "/run/kata-containers/sandbox/storage/blk0");
  EXPECT_THAT(reqs[0].storages(1).options(), ::testing::ElementsAre("ro"));
  ASSERT_EQ(reqs[0].oci().mounts_size(), 2);
  EXPECT_EQ(reqs[0].oci().mounts(0).source(), "/run/kata-containers/sandbox/storage/blk0");
  EXPECT_EQ(reqs[0].oci().mounts(1).source(), "/run/kata-containers/sandbox/storage/blk1");
  EXPECT_FALSE(fs::exists(SandboxDir() + "/mounts/c1/volumes")) << "not shared over 9p";
  EXPECT_TRUE(Claimed(a) && Claimed(b));
  ASSERT_TRUE(sandbox_->DeleteContainer("c1").ok());
  EXPECT_FALSE(Claimed(a) || Claimed(b));
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

// containerd's devmapper snapshotter gives the rootfs as one ext4 mount of a block device:
// it is hot-plugged and mounted by the agent as the container's root, never on the host.
TEST_F(VmSandboxDeviceTest, ABlockDeviceRootfsIsHotPluggedNotMountedOnTheHost) {
  const std::string root = NewExt4Loop(), vol = NewLoop();
  StartWithBlockHotplug();
  {
    InSequence seq;  // the rootfs first: the agent mounts it before the volumes under it
    EXPECT_CALL(*vm_, HotplugBlockDevice(AllOf(Field(&BlockDevice::path, root),
                                               Field(&BlockDevice::read_only, false))))
        .WillOnce(Return(DeviceInfo{"blk0", "10/00"}));
    EXPECT_CALL(*vm_, HotplugBlockDevice(Field(&BlockDevice::path, vol)))
        .WillOnce(Return(DeviceInfo{"blk1", "11/00"}));
    EXPECT_CALL(*vm_, UnplugDevice("blk1")).WillOnce(Return(absl::OkStatus()));
    EXPECT_CALL(*vm_, UnplugDevice("blk0")).WillOnce(Return(absl::OkStatus()));
  }
  ContainerConfig c = Config("c1", {"sleep"});
  c.rootfs_mounts = {{"ext4", root, {"rw", "noatime"}}};
  c.spec.mounts = std::vector<oci::Mount>{
      {"/data", std::string("bind"), vol, oci::Strings{"rbind", "rw"}, {}, {}, {}}};
  absl::Status created = sandbox_->CreateContainer(c);
  ASSERT_TRUE(created.ok()) << created;
  auto reqs = agent_.RequestsAs<::grpc::CreateContainerRequest>("CreateContainer");
  ASSERT_EQ(reqs.size(), 1u);
  ASSERT_EQ(reqs[0].storages_size(), 2);
  const ::grpc::Storage& rs = reqs[0].storages(0);
  EXPECT_EQ(rs.driver(), "blk");
  EXPECT_EQ(rs.source(), "10/00");
  EXPECT_EQ(rs.fstype(), "ext4");
  EXPECT_THAT(rs.options(), ::testing::ElementsAre("rw", "noatime"));
  EXPECT_EQ(rs.mount_point(), "/run/kata-containers/sandbox/storage/blk0");
  EXPECT_EQ(reqs[0].oci().root().path(), rs.mount_point());
  EXPECT_EQ(reqs[0].storages(1).mount_point(), "/run/kata-containers/sandbox/storage/blk1");
  // Not mounted on the host (O_EXCL would fail on a mounted device, and the share is empty).
  EXPECT_TRUE(Claimed(root));
  absl::StatusOr<std::vector<std::string>> mounts = MountPointsUnder(SandboxDir());
  ASSERT_TRUE(mounts.ok());
  for (const std::string& m : *mounts) EXPECT_EQ(m.find("/c1/rootfs"), std::string::npos) << m;
  ASSERT_TRUE(sandbox_->DeleteContainer("c1").ok());
  EXPECT_FALSE(Claimed(root) || Claimed(vol));
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

// Without hot-plug (disable_block_device_use, microvm) or for a filesystem the guest kernel
// lacks, such a rootfs is mounted on the host and shared, as before.
TEST_F(VmSandboxDeviceTest, ABlockDeviceRootfsIsSharedWhenItCannotBePlugged) {
  const std::string root = NewExt4Loop();
  tune_config_ = [](config::RuntimeConfig& rc) { rc.hypervisor.disable_block_device_use = true; };
  StartWithBlockHotplug();
  EXPECT_CALL(*vm_, HotplugBlockDevice(_)).Times(0);
  ContainerConfig c = Config("c1", {"sleep"});
  c.rootfs_mounts = {{"ext4", root, {}}};
  absl::Status created = sandbox_->CreateContainer(c);
  ASSERT_TRUE(created.ok()) << created;
  auto reqs = agent_.RequestsAs<::grpc::CreateContainerRequest>("CreateContainer");
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].storages_size(), 0);
  EXPECT_EQ(reqs[0].oci().root().path(), "/run/kata-containers/shared/containers/c1/rootfs");
  EXPECT_TRUE(Claimed(root)) << "mounted on the host";
  ASSERT_TRUE(sandbox_->DeleteContainer("c1").ok());
  EXPECT_FALSE(Claimed(root));
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
  // A filesystem the guest kernel does not have is never passed.
  EXPECT_FALSE(HostBlockRootfsOf("xfs", root, {}).has_value());
  EXPECT_FALSE(HostBlockRootfsOf("ext4", tmp_, {}).has_value()) << "not a block device";
  EXPECT_TRUE(HostBlockRootfsOf("ext4", root, {}).has_value());
}

// The pod's root ports are all taken: the block rootfs is shared instead of failing.
TEST_F(VmSandboxDeviceTest, ABlockDeviceRootfsIsSharedWhenNoRootPortIsLeft) {
  const std::string root = NewExt4Loop();
  StartWithBlockHotplug();
  EXPECT_CALL(*vm_, HotplugBlockDevice(Field(&BlockDevice::path, root)))
      .WillOnce(Return(absl::ResourceExhaustedError("qemu: no free pcie root port")));
  EXPECT_CALL(*vm_, UnplugDevice(_)).Times(0);
  ContainerConfig c = Config("c1", {"sleep"});
  c.rootfs_mounts = {{"ext4", root, {}}};
  absl::Status created = sandbox_->CreateContainer(c);
  ASSERT_TRUE(created.ok()) << created;
  auto reqs = agent_.RequestsAs<::grpc::CreateContainerRequest>("CreateContainer");
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].storages_size(), 0);
  EXPECT_EQ(reqs[0].oci().root().path(), "/run/kata-containers/shared/containers/c1/rootfs");
  EXPECT_TRUE(Claimed(root)) << "mounted on the host";
  ASSERT_TRUE(sandbox_->DeleteContainer("c1").ok());
  EXPECT_FALSE(Claimed(root));
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

TEST(HostBlockDevicesTest, FindsTheNodeByItsNumbersAndSkipsCharacterDevices) {
  kata::testing::TempDir tmp;
  const std::string sys = tmp.path() + "/sys", dev = tmp.path() + "/dev";
  fs::create_directories(sys + "/dev/block/250:3");
  fs::create_directories(dev + "/sub");
  ASSERT_TRUE(WriteStringToFile(sys + "/dev/block/250:3/uevent",
                                "MAJOR=250\nMINOR=3\nDEVNAME=sub/disk3\nDEVTYPE=disk\n")
                  .ok());
  ASSERT_EQ(mknod((dev + "/sub/disk3").c_str(), S_IFBLK | 0600, makedev(250, 3)), 0);
  oci::Spec spec = SpecWithArgs({"sleep"});
  spec.linux->devices = std::vector<oci::LinuxDevice>{{"/dev/fuse", "c", 10, 229, {}, {}, {}, {}},
                                                      {"/dev/xda", "b", 250, 3, {}, {}, {}, {}}};
  absl::StatusOr<std::vector<HostBlockDevice>> found =
      HostBlockDevicesOf(spec, {.sys_root = sys, .dev_root = dev});
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].container_path, "/dev/xda");
  EXPECT_EQ((*found)[0].host_path, dev + "/sub/disk3");

  // The node DEVNAME names is another device (or none): refused.
  ASSERT_EQ(unlink((dev + "/sub/disk3").c_str()), 0);
  ASSERT_EQ(mknod((dev + "/sub/disk3").c_str(), S_IFBLK | 0600, makedev(250, 4)), 0);
  EXPECT_EQ(HostBlockDevicesOf(spec, {.sys_root = sys, .dev_root = dev}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(unlink((dev + "/sub/disk3").c_str()), 0);
  ASSERT_TRUE(WriteStringToFile(dev + "/sub/disk3", "a file\n").ok());
  EXPECT_EQ(HostBlockDevicesOf(spec, {.sys_root = sys, .dev_root = dev}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(unlink((dev + "/sub/disk3").c_str()), 0);
  EXPECT_EQ(HostBlockDevicesOf(spec, {.sys_root = sys, .dev_root = dev}).status().code(),
            absl::StatusCode::kNotFound);
}

// A privileged container (device cgroup allow-all, as `ctr run --privileged` writes it) lists
// every host device, mounted disks too: none is passed (privileged_without_host_devices).
TEST(HostBlockDevicesTest, PrivilegedContainersGetNoHostDevices) {
  oci::Spec spec = SpecWithArgs({"sleep"});
  spec.linux->devices = std::vector<oci::LinuxDevice>{{"/dev/vda", "b", 254, 0, {}, {}, {}, {}}};
  oci::LinuxDeviceCgroup all;
  all.allow = true;
  all.access = "rwm";
  if (!spec.linux->resources.has_value()) spec.linux->resources.emplace();
  spec.linux->resources->devices = std::vector<oci::LinuxDeviceCgroup>{all};
  EXPECT_TRUE(AllowsEveryDevice(spec));
  absl::StatusOr<std::vector<HostBlockDevice>> found =
      HostBlockDevicesOf(spec, {.sys_root = "/nonexistent", .dev_root = "/nonexistent"});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(found->empty());
  // Allowing one device is not privileged: the device is looked up (and is not there).
  (*spec.linux->resources->devices)[0].major = 254;
  EXPECT_FALSE(AllowsEveryDevice(spec));
  EXPECT_FALSE(
      HostBlockDevicesOf(spec, {.sys_root = "/nonexistent", .dev_root = "/nonexistent"}).ok());
}

}  // namespace
}  // namespace kata::runtime::vm_sandbox_test
