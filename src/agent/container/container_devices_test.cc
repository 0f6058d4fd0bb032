// The device cgroup of a container (Kata's CVE-2020-2023), as root on this host with real
// namespaces, mounts and cgroups: a container that can mknod (the default: all capabilities)
// makes nodes for /dev/ttyS0 (4:64) and /dev/kmsg (1:11) and must not open them (EPERM),
// while /dev/null and /dev/zero work and a device the spec allows opens. Once with the
// cgroup v1 hierarchies of /sys/fs/cgroup (devices.deny/allow) and once with the cgroup2
// mount /sys/fs/cgroup/unified (the eBPF device program), the guest's hierarchy. Needs root
// outside Bazel's sandbox.
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/container/container.h"
#include "src/agent/container/test_util.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/oci/spec_proto.h"

namespace kata {
namespace agent {
namespace {

namespace kt = testing;
using ::testing::HasSubstr;
using ::testing::Not;

// Makes nodes in the container's /dev (a tmpfs) and tries them: "<name>=ok" or the shell's
// error, one line each.
// Each open runs under a 5-second timeout: where it is (wrongly) allowed, a serial port or
// kmsg may block.
constexpr char kScript[] =
    "exec 2>&1; T='busybox timeout 5 sh -c'; "
    "busybox mknod /dev/ttyS0x c 4 64 && echo mknod=ok; "
    "busybox mknod /dev/kmsgx c 1 11; busybox mknod /dev/nullx c 1 3; "
    "busybox mknod /dev/zerox c 1 5; busybox mknod /dev/fusex c 10 229; "
    "$T 'echo x > /dev/ttyS0x' && echo ttyS0=ok; "
    "$T 'echo x > /dev/kmsgx' && echo kmsg=ok; "
    "$T 'busybox dd if=/dev/kmsgx of=/dev/null count=1' && echo kmsg-read=ok; "
    "$T 'echo x > /dev/nullx' && echo null=ok; "
    "test \"$(busybox head -c 3 /dev/zerox | busybox wc -c)\" = 3 && echo zero=ok; "
    "$T 'exec 3<>/dev/fusex' && echo fuse=ok; "
    "echo END";

class ContainerDevicesTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test needs root (namespaces, mounts, cgroups)";
    absl::StatusOr<std::string> rootfs = kt::MakeBusyboxRootfs(tmp_.path());
    ASSERT_TRUE(rootfs.ok()) << rootfs.status();
    rootfs_ = *rootfs;
    cg_ = absl::StrCat("kata-devices-test-", getpid());
    options_.cgroups.root = GetParam();
    options_.cgroups.enable_v2_controllers = false;
  }
  void TearDown() override { EXPECT_FALSE(kt::CgroupParentExists(cg_)) << "cgroup left behind"; }

  // Runs kScript in container `id` with `spec_rules` as linux.resources.devices; its output.
  std::string RunScript(const std::string& id,
                        std::optional<std::vector<oci::LinuxDeviceCgroup>> spec_rules) {
    absl::StatusOr<oci::Spec> spec = oci::SpecFromProto(
        kt::BusyboxContainerRequest(id, rootfs_, cg_ + "/" + id, {"sh", "-c", kScript}).oci());
    EXPECT_TRUE(spec.ok()) << spec.status();
    spec->linux->resources->memory.reset();  // no memory controller in the unified mount here
    spec->linux->resources->devices = std::move(spec_rules);
    absl::StatusOr<std::unique_ptr<Container>> c = Container::Create(id, id, *spec, options_);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return "";
    EXPECT_TRUE((*c)->Start().ok());
    std::shared_ptr<Process> init = (*c)->GetProcess(id).value();
    std::string out;
    for (;;) {
      absl::StatusOr<std::string> chunk = init->ReadStdout(4096);
      if (!chunk.ok() || chunk->empty()) break;
      out += *chunk;
    }
    EXPECT_EQ((*c)->Wait(id).value(), 0);
    absl::Status removed = (*c)->Remove(absl::Seconds(10));
    EXPECT_TRUE(removed.ok()) << removed;
    return out;
  }

  kata::testing::TempDir tmp_{"/tmp"};  // TEST_TMPDIR may be mounted nodev
  std::string rootfs_, cg_;
  ContainerOptions options_;
};

TEST_P(ContainerDevicesTest, MknodDoesNotOpenOtherDevices) {
  const std::string out = RunScript("d1", std::nullopt);
  EXPECT_THAT(out, HasSubstr("mknod=ok"));
  EXPECT_THAT(out, HasSubstr("/dev/ttyS0x: Operation not permitted"));
  EXPECT_THAT(out, HasSubstr("/dev/kmsgx: Operation not permitted"));
  EXPECT_THAT(out, Not(HasSubstr("ttyS0=ok")));
  EXPECT_THAT(out, Not(HasSubstr("kmsg=ok")));
  EXPECT_THAT(out, Not(HasSubstr("kmsg-read=ok")));
  EXPECT_THAT(out, Not(HasSubstr("fuse=ok")));
  EXPECT_THAT(out, HasSubstr("null=ok"));
  EXPECT_THAT(out, HasSubstr("zero=ok"));
  EXPECT_THAT(out, HasSubstr("END"));
}

TEST_P(ContainerDevicesTest, SpecRulesApplyOnTopOfTheDefaults) {
  oci::LinuxDeviceCgroup fuse;
  fuse.allow = true;
  fuse.type = "c";
  fuse.major = 10;
  fuse.minor = 229;
  fuse.access = "rwm";
  oci::LinuxDeviceCgroup no_null = fuse;
  no_null.allow = false;
  no_null.major = 1;
  no_null.minor = 3;
  no_null.access = "w";
  const std::string out = RunScript("d2", std::vector<oci::LinuxDeviceCgroup>{fuse, no_null});
  EXPECT_THAT(out, HasSubstr("fuse=ok"));
  EXPECT_THAT(out, HasSubstr("/dev/nullx: Operation not permitted"));
  EXPECT_THAT(out, Not(HasSubstr("null=ok")));
  EXPECT_THAT(out, HasSubstr("zero=ok"));
  EXPECT_THAT(out, Not(HasSubstr("kmsg=ok")));
  EXPECT_THAT(out, HasSubstr("END"));
}

INSTANTIATE_TEST_SUITE_P(Hierarchies, ContainerDevicesTest,
                         ::testing::Values("/sys/fs/cgroup", "/sys/fs/cgroup/unified"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.index == 0 ? "V1" : "V2");
                         });

}  // namespace
}  // namespace agent
}  // namespace kata
