// The QEMU driver's reading of the Kata configuration (what the sandbox gets from the
// factory the shim injects).
#include "src/runtime/hypervisor/qemu/factory.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

VmLayout Layout() { return {"s1", "/r/shared/s1/shared", "kataShared", "/r/vm/s1"}; }

TEST(QemuVmConfigTest, MapsTheConfiguration) {
  config::RuntimeConfig c;
  c.hypervisor.accelerator = "tcg";
  c.hypervisor.shared_fs = "virtio-9p";
  c.hypervisor.initrd = "/i.img";
  c.hypervisor.default_memory = 512;
  c.hypervisor.default_vcpus = 2;
  c.hypervisor.kernel_params = "quiet";
  c.agent.enable_debug = true;
  absl::StatusOr<VmConfig> vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->accelerator, Accelerator::kTcg);
  EXPECT_EQ(vm->memory_mib, 512u);
  EXPECT_EQ(vm->vcpus, 2u);
  EXPECT_EQ(vm->initrd_path, "/i.img");
  EXPECT_EQ(vm->shared_dir, "/r/shared/s1/shared");
  EXPECT_EQ(vm->shared_mount_tag, "kataShared");
  EXPECT_EQ(vm->work_dir, "/r/vm/s1");
  EXPECT_THAT(vm->kernel_params, HasSubstr("panic=1"));
  if (vm->agent_channel == AgentChannelKind::kVirtioSerial) {  // no usable vhost-vsock here
    EXPECT_THAT(vm->kernel_params, HasSubstr("agent.server_addr=serial://agent.channel.0"));
  }
  EXPECT_THAT(vm->kernel_params, HasSubstr("agent.log=debug"));
  EXPECT_THAT(vm->kernel_params, ::testing::EndsWith(" quiet"));
  EXPECT_EQ(vm->tcg_tb_size_mib, 32u);  // config.h's default
  EXPECT_FALSE(vm->reclaim_guest_freed_memory);

  c.hypervisor.tcg_tb_size = 0;
  c.hypervisor.reclaim_guest_freed_memory = true;
  vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->tcg_tb_size_mib, 0u);
  EXPECT_TRUE(vm->reclaim_guest_freed_memory);
}

TEST(QemuVmConfigTest, DebugConsoleOnlyWhenEnabled) {
  config::RuntimeConfig c;
  c.hypervisor.accelerator = "tcg";
  c.hypervisor.shared_fs = "virtio-9p";
  absl::StatusOr<VmConfig> vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_FALSE(vm->debug_console);  // Kata's default: off, and no trace of it
  EXPECT_THAT(vm->kernel_params, Not(HasSubstr("debug_console")));
  c.agent.debug_console_enabled = true;
  vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_TRUE(vm->debug_console);
  EXPECT_THAT(vm->kernel_params, HasSubstr(" agent.debug_console agent.debug_console_vport=1026"));
}

TEST(QemuVmConfigTest, AgentTraceOnlyWhenEnabled) {
  config::RuntimeConfig c;
  c.hypervisor.accelerator = "tcg";
  c.hypervisor.shared_fs = "virtio-9p";
  c.runtime.enable_tracing = true;  // the shim's tracing alone does not make the agent trace
  absl::StatusOr<VmConfig> vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_FALSE(vm->agent_trace);
  EXPECT_THAT(vm->kernel_params, Not(HasSubstr("agent.trace")));
  c.agent.enable_tracing = true;
  vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_TRUE(vm->agent_trace);
  EXPECT_THAT(vm->kernel_params, HasSubstr(" agent.trace=true"));
}

TEST(QemuVmConfigTest, RootPortsAreTheHotplugSlots) {
  config::RuntimeConfig c;
  c.hypervisor.accelerator = "tcg";
  c.hypervisor.shared_fs = "virtio-9p";
  absl::StatusOr<VmConfig> vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->hotplug_slots, 0u);  // Kata's default: no root port
  c.hypervisor.pcie_root_port = 4;
  vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->hotplug_slots, 4u);
  c.hypervisor.disable_block_device_use = true;
  vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->hotplug_slots, 0u);
  c.hypervisor.disable_block_device_use = false;
  c.hypervisor.machine_type = "microvm";  // cannot hotplug
  vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->hotplug_slots, 0u);
}

TEST(QemuVmConfigTest, MapsVirtioFs) {
  config::RuntimeConfig c;
  c.hypervisor.accelerator = "tcg";
  c.hypervisor.shared_fs = "virtio-fs";
  c.hypervisor.virtio_fs_daemon = "/usr/lib/qemu/virtiofsd";
  c.hypervisor.virtio_fs_cache = "never";
  c.hypervisor.virtio_fs_extra_args = {"-o", "posix_lock"};
  absl::StatusOr<VmConfig> vm = QemuVmConfig(c, Layout());
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->shared_fs, SharedFsKind::kVirtioFs);
  EXPECT_EQ(vm->virtiofsd_path, "/usr/lib/qemu/virtiofsd");
  EXPECT_EQ(vm->virtio_fs_cache, "none");  // Kata's "never" is virtiofsd's "none"
  EXPECT_EQ(vm->virtiofsd_extra_args, (std::vector<std::string>{"-o", "posix_lock"}));
  c.hypervisor.virtio_fs_cache = "auto";
  EXPECT_EQ(QemuVmConfig(c, Layout())->virtio_fs_cache, "auto");
}

TEST(QemuVmConfigTest, RefusesWhatTheDriverCannotDo) {
  config::RuntimeConfig c;
  c.hypervisor.accelerator = "tcg";
  c.hypervisor.shared_fs = "none";
  absl::Status s = QemuVmConfig(c, Layout()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("sandbox s1: hypervisor.qemu.shared_fs"));
  c.hypervisor.shared_fs = "virtio-fs";
  c.hypervisor.virtio_fs_cache = "metadata";
  s = QemuVmConfig(c, Layout()).status();
  EXPECT_THAT(s.message(), HasSubstr("virtio_fs_cache \"metadata\""));
  c.hypervisor.virtio_fs_cache = "auto";
  c.hypervisor.virtio_fs_cache_size = 1024;
  s = QemuVmConfig(c, Layout()).status();
  EXPECT_THAT(s.message(), HasSubstr("virtio_fs_cache_size"));
  c.hypervisor.shared_fs = "virtio-9p";
  c.hypervisor.machine_type = "pseries";
  EXPECT_EQ(QemuVmConfig(c, Layout()).status().code(), absl::StatusCode::kInvalidArgument);
  c.hypervisor.machine_type = "q35";
  c.hypervisor.accelerator = "hvf";
  EXPECT_EQ(QemuVmConfig(c, Layout()).status().code(), absl::StatusCode::kInvalidArgument);
  c.hypervisor.accelerator = "tcg";
  c.hypervisor.image = "/rootfs.img";
  EXPECT_EQ(QemuVmConfig(c, Layout()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(QemuFactoryTest, MakesAnUncreatedDriverWithTheBinaryAndTuning) {
  config::RuntimeConfig c;
  c.hypervisor.path = "/usr/bin/qemu-system-x86_64";
  c.hypervisor.accelerator = "tcg";
  c.hypervisor.shared_fs = "virtio-9p";
  bool tuned = false;
  c.hypervisor.console_log_max_bytes = 65536;
  HypervisorFactory make = QemuFactory([&](QemuDriverOptions* o) {
    EXPECT_EQ(o->binary, "/usr/bin/qemu-system-x86_64");
    EXPECT_EQ(o->seccomp_sandbox, config::kDefaultSeccompSandbox);
    EXPECT_EQ(o->console_log_max_bytes, 65536u);
    EXPECT_EQ(o->features_cache_file, kQemuFeaturesCacheFile);
    tuned = true;
  });
  absl::StatusOr<VmPlan> plan = make(c, Layout());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(tuned);
  ASSERT_NE(plan->vm, nullptr);
  EXPECT_EQ(plan->vm->State(), VmState::kInitial);
  EXPECT_EQ(plan->config.work_dir, "/r/vm/s1");
  c.hypervisor.machine_type = "pseries";
  EXPECT_EQ(make(c, Layout()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(QemuFactoryTest, TheConfigurationsDefaultSandboxIsTheDriversStrictOne) {
  EXPECT_STREQ(config::kDefaultSeccompSandbox, kStrictSandbox);
  EXPECT_EQ(QemuDriverOptions().seccomp_sandbox, kStrictSandbox);
  EXPECT_EQ(QemuDriverOptions().console_log_max_bytes,
            config::RuntimeConfig().hypervisor.console_log_max_bytes);
}

}  // namespace
}  // namespace kata::hypervisor::qemu
