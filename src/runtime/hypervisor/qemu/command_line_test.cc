#include "src/runtime/hypervisor/qemu/command_line.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;

VmConfig Q35Config() {
  VmConfig c;
  c.kernel_path = "/img/vmlinux";
  c.initrd_path = "/img/initrd.gz";
  c.kernel_params = "quiet panic=-1";
  c.memory_mib = 512;
  c.vcpus = 2;
  c.shared_dir = "/run/kata/sb1/shared";
  c.hotplug_slots = 2;
  c.work_dir = "/run/kata/sb1";
  return c;
}

constexpr char kSandbox[] =
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

TEST(CommandLineTest, Q35FullArgv) {
  absl::StatusOr<std::vector<std::string>> argv = BuildCommandLine(
      Q35Config(), {.console_fd = 5, .sandbox = kSandbox, .fsdev_multidevs_remap = true});
  ASSERT_TRUE(argv.ok()) << argv.status();
  // One QEMU option (and its value) per line.
  // clang-format off
  const std::vector<std::string> want = {
      "qemu-system-x86_64", "-name", "kata",
      "-machine", "q35",
      "-cpu", "max", "-m", "512M", "-smp", "2",
      "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
      "-accel", "tcg",
      "-sandbox", kSandbox,
      "-kernel", "/img/vmlinux", "-initrd", "/img/initrd.gz",
      "-append", "console=hvc0 quiet panic=-1",
      "-chardev", "socket,id=console0,fd=5,mux=on", "-serial", "chardev:console0",
      "-qmp", "unix:/run/kata/sb1/qmp.sock,server=on,wait=off",
      "-device", "virtio-serial-pci,id=serial0,bus=pcie.0,addr=0x2",
      "-device", "virtconsole,bus=serial0.0,chardev=console0,id=console1",
      "-chardev", "socket,id=agentch,path=/run/kata/sb1/agent.sock,server=on,wait=off",
      "-device", "virtserialport,bus=serial0.0,chardev=agentch,id=channel0,name=agent.channel.0",
      "-fsdev", "local,id=fsdev0,path=/run/kata/sb1/shared,security_model=none,multidevs=remap",
      "-device", "virtio-9p-pci,bus=pcie.0,addr=0x3,id=fs0,fsdev=fsdev0,mount_tag=kataShared",
      "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
      "-device", "pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1,addr=0x10",
      "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=2,slot=2,addr=0x11",
  };
  // clang-format on
  EXPECT_THAT(*argv, ElementsAreArray(want)) << absl::StrJoin(*argv, " ");
}

TEST(CommandLineTest, MicrovmWithVsockAndKvm) {
  VmConfig c = Q35Config();
  c.machine = MachineType::kMicrovm;
  c.accelerator = Accelerator::kKvm;
  c.hotplug_slots = 0;
  c.initrd_path.clear();
  c.kernel_params.clear();
  c.agent_channel = AgentChannelKind::kVsock;
  c.vsock_guest_cid = 7;
  absl::StatusOr<std::vector<std::string>> argv =
      BuildCommandLine(c, {.binary = "/usr/bin/qemu-system-x86_64", .start_paused = true});
  ASSERT_TRUE(argv.ok()) << argv.status();
  // One QEMU option (and its value) per line.
  // clang-format off
  const std::vector<std::string> want = {
      "/usr/bin/qemu-system-x86_64", "-name", "kata",
      "-machine", "microvm,x-option-roms=off",
      "-cpu", "host", "-m", "512M", "-smp", "2",
      "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
      "-accel", "kvm", "-S",
      "-kernel", "/img/vmlinux", "-append", "console=hvc0",
      "-serial", "null",
      "-qmp", "unix:/run/kata/sb1/qmp.sock,server=on,wait=off",
      "-device", "vhost-vsock-device,id=vsock0,guest-cid=7",
      "-fsdev", "local,id=fsdev0,path=/run/kata/sb1/shared,security_model=none",
      "-device", "virtio-9p-device,id=fs0,fsdev=fsdev0,mount_tag=kataShared",
  };
  // clang-format on
  EXPECT_THAT(*argv, ElementsAreArray(want)) << absl::StrJoin(*argv, " ");
}

// The TCG translation cache is sized when asked (QEMU's default is 1 GiB, filled with RSS a
// small guest never gives back); KVM has none. The balloon with free page reporting only with
// reclaim_guest_freed_memory.
TEST(CommandLineTest, TranslationCacheSizeAndFreePageReporting) {
  VmConfig c = Q35Config();
  absl::StatusOr<std::vector<std::string>> argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  std::string line = absl::StrJoin(*argv, " ");
  EXPECT_THAT(line, HasSubstr(" -accel tcg "));
  EXPECT_THAT(line, Not(HasSubstr("balloon")));

  c.tcg_tb_size_mib = 32;
  c.reclaim_guest_freed_memory = true;
  argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  line = absl::StrJoin(*argv, " ");
  EXPECT_THAT(line, HasSubstr(" -accel tcg,tb-size=32 "));
  EXPECT_THAT(line, HasSubstr("-device virtio-balloon-pci,id=balloon0,free-page-reporting=on,"
                              "bus=pcie.0,addr=0x1e"));

  c.accelerator = Accelerator::kKvm;
  c.machine = MachineType::kMicrovm;
  c.hotplug_slots = 0;
  argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  line = absl::StrJoin(*argv, " ");
  EXPECT_THAT(line, HasSubstr(" -accel kvm "));
  EXPECT_THAT(line, Not(HasSubstr("tb-size")));
  EXPECT_THAT(line, HasSubstr("-device virtio-balloon-device,id=balloon0,free-page-reporting=on"));
}

// entropy_source: a virtio-rng device reading the host file (q35: its own pcie.0 slot;
// microvm: virtio-mmio); none when empty; a relative path is refused.
TEST(CommandLineTest, EntropySourceIsAVirtioRngDevice) {
  VmConfig c = Q35Config();
  absl::StatusOr<std::vector<std::string>> argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_THAT(absl::StrJoin(*argv, " "), Not(HasSubstr("rng")));

  c.entropy_source = "/dev/urandom";
  argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  std::string line = absl::StrJoin(*argv, " ");
  EXPECT_THAT(line, HasSubstr("-object rng-random,id=rng0,filename=/dev/urandom "
                              "-device virtio-rng-pci,rng=rng0,bus=pcie.0,addr=0x1d"));

  c.entropy_source = "/dev/odd,name";  // a comma cannot end the option early
  argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_THAT(absl::StrJoin(*argv, " "), HasSubstr("filename=/dev/odd,,name "));

  c.entropy_source = "/dev/random";
  c.machine = MachineType::kMicrovm;
  c.hotplug_slots = 0;
  argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_THAT(absl::StrJoin(*argv, " "),
              HasSubstr("-object rng-random,id=rng0,filename=/dev/random "
                        "-device virtio-rng-device,rng=rng0"));

  c.entropy_source = "dev/urandom";
  argv = BuildCommandLine(c, {});
  ASSERT_FALSE(argv.ok());
  EXPECT_THAT(std::string(argv.status().message()),
              HasSubstr("entropy_source must be an absolute path"));
}

TEST(CommandLineTest, DebugConsoleIsASecondSerialPortOnlyWhenEnabled) {
  VmConfig c = Q35Config();
  absl::StatusOr<std::vector<std::string>> off = BuildCommandLine(c, {});
  ASSERT_TRUE(off.ok()) << off.status();
  const std::string off_line = absl::StrJoin(*off, " ");
  EXPECT_THAT(off_line, Not(HasSubstr("dbgcon")));
  EXPECT_THAT(off_line, Not(HasSubstr("debug-console")));
  EXPECT_THAT(off_line, Not(HasSubstr("agent.debug_console")));

  c.debug_console = true;
  absl::StatusOr<std::vector<std::string>> on = BuildCommandLine(c, {});
  ASSERT_TRUE(on.ok()) << on.status();
  const std::vector<std::string> want = {
      "-chardev", "socket,id=dbgcon,path=/run/kata/sb1/debug-console.sock,server=on,wait=off",
      "-device",
      "virtserialport,bus=serial0.0,chardev=dbgcon,id=channel1,name=agent.debug_console"};
  auto at = std::search(on->begin(), on->end(), want.begin(), want.end());
  EXPECT_NE(at, on->end()) << absl::StrJoin(*on, " ");
  // The agent channel's port comes first: the agent finds each by name anyway.
  EXPECT_THAT(absl::StrJoin(*on, " "), HasSubstr("name=agent.channel.0"));
  EXPECT_EQ(PathsFor(c).debug_console_socket, "/run/kata/sb1/debug-console.sock");

  // vsock: the agent listens on its port 1026; QEMU needs nothing more.
  c.agent_channel = AgentChannelKind::kVsock;
  c.vsock_guest_cid = 5;
  on = BuildCommandLine(c, {});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_THAT(absl::StrJoin(*on, " "), Not(HasSubstr("dbgcon")));
  EXPECT_THAT(absl::StrJoin(*on, " "), Not(HasSubstr("virtio-serial")));
}

TEST(CommandLineTest, AgentTraceIsASerialPortOnlyWhenEnabled) {
  VmConfig c = Q35Config();
  absl::StatusOr<std::vector<std::string>> off = BuildCommandLine(c, {});
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_THAT(absl::StrJoin(*off, " "), Not(HasSubstr("agtrace")));
  EXPECT_THAT(absl::StrJoin(*off, " "), Not(HasSubstr("agent.trace")));

  c.agent_trace = true;
  absl::StatusOr<std::vector<std::string>> on = BuildCommandLine(c, {});
  ASSERT_TRUE(on.ok()) << on.status();
  const std::vector<std::string> want = {
      "-chardev", "socket,id=agtrace,path=/run/kata/sb1/agent-trace.sock,server=on,wait=off",
      "-device", "virtserialport,bus=serial0.0,chardev=agtrace,id=channel2,name=agent.trace"};
  EXPECT_NE(std::search(on->begin(), on->end(), want.begin(), want.end()), on->end())
      << absl::StrJoin(*on, " ");
  EXPECT_EQ(PathsFor(c).agent_trace_socket, "/run/kata/sb1/agent-trace.sock");
  // With the debug console too: both ports, distinct ids.
  c.debug_console = true;
  on = BuildCommandLine(c, {});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_THAT(absl::StrJoin(*on, " "), HasSubstr("id=channel1,name=agent.debug_console"));
  EXPECT_THAT(absl::StrJoin(*on, " "), HasSubstr("id=channel2,name=agent.trace"));

  // vsock: the agent sends to the host's port 10240; QEMU needs nothing more.
  c.agent_channel = AgentChannelKind::kVsock;
  c.vsock_guest_cid = 5;
  on = BuildCommandLine(c, {});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_THAT(absl::StrJoin(*on, " "), Not(HasSubstr("agtrace")));
}

TEST(CommandLineTest, VsockWithTheAllocatedCidsFdAsVhostfd) {
  VmConfig c = Q35Config();
  c.agent_channel = AgentChannelKind::kVsock;
  c.vsock_guest_cid = 12;
  absl::StatusOr<std::vector<std::string>> argv = BuildCommandLine(c, {.vhost_vsock_fd = 9});
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_THAT(*argv, ::testing::Contains("vhost-vsock-pci,bus=pcie.0,addr=0x4,id=vsock0,"
                                         "guest-cid=12,vhostfd=9"));
}

TEST(CommandLineTest, NicsOnTapFdsWithTheirMacs) {
  VmConfig c = Q35Config();
  c.net_devices = {{.tap_fd = 7, .vhost_fd = 8, .mac = "02:aa:bb:cc:dd:01"},
                   {.tap_fd = 11, .mac = "02:aa:bb:cc:dd:02"}};
  absl::StatusOr<std::vector<std::string>> argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  // TCG: no vhost (it needs KVM), QEMU's own backend on the tap.
  EXPECT_THAT(*argv, ::testing::Contains("tap,id=net0,fd=7"));
  EXPECT_THAT(*argv, ::testing::Contains("virtio-net-pci,netdev=net0,id=nic0,"
                                         "mac=02:aa:bb:cc:dd:01,bus=pcie.0,addr=0x5"));
  EXPECT_THAT(*argv, ::testing::Contains("tap,id=net1,fd=11"));
  EXPECT_THAT(*argv, ::testing::Contains("virtio-net-pci,netdev=net1,id=nic1,"
                                         "mac=02:aa:bb:cc:dd:02,bus=pcie.0,addr=0x6"));
  c.accelerator = Accelerator::kKvm;
  argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_THAT(*argv, ::testing::Contains("tap,id=net0,fd=7,vhost=on,vhostfd=8"));
  EXPECT_THAT(*argv, ::testing::Contains("tap,id=net1,fd=11"));

  c.net_devices[1].mac = "02:aa:bb:cc:dd";
  EXPECT_THAT(BuildCommandLine(c, {}).status().message(),
              ::testing::HasSubstr("net_devices[1].mac"));
  c.net_devices[1] = {.tap_fd = -1, .mac = "02:aa:bb:cc:dd:02"};
  EXPECT_THAT(BuildCommandLine(c, {}).status().message(),
              ::testing::HasSubstr("net_devices[1].tap_fd"));
}

TEST(CommandLineTest, MicrovmVirtioSerialAndNoSharing) {
  VmConfig c = Q35Config();
  c.machine = MachineType::kMicrovm;
  c.hotplug_slots = 0;
  c.shared_dir.clear();
  absl::StatusOr<std::vector<std::string>> argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  const std::string joined = absl::StrJoin(*argv, " ");
  EXPECT_THAT(joined, HasSubstr("-device virtio-serial-device,id=serial0 -chardev socket,"));
  EXPECT_THAT(joined, Not(HasSubstr("9p")));
  EXPECT_THAT(joined, Not(HasSubstr("pcie")));
}

TEST(CommandLineTest, KernelLessPausedVmForControlPlaneTests) {
  VmConfig c;
  c.work_dir = "/tmp/x";
  c.hotplug_slots = 1;
  absl::StatusOr<std::vector<std::string>> argv =
      BuildCommandLine(c, {.start_paused = true, .require_kernel = false});
  ASSERT_TRUE(argv.ok()) << argv.status();
  const std::string joined = absl::StrJoin(*argv, " ");
  EXPECT_THAT(joined, HasSubstr(" -S "));
  EXPECT_THAT(joined, Not(HasSubstr("-kernel")));
  EXPECT_THAT(joined, Not(HasSubstr("-append")));
}

TEST(CommandLineTest, CommasInPathsAreEscaped) {
  VmConfig c = Q35Config();
  c.shared_dir = "/data/a,b";
  c.work_dir = "/run/x,y";
  absl::StatusOr<std::vector<std::string>> argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  const std::string joined = absl::StrJoin(*argv, " ");
  EXPECT_THAT(joined, HasSubstr("path=/data/a,,b,security_model=none"));
  EXPECT_THAT(joined, HasSubstr("unix:/run/x,,y/qmp.sock,server=on"));
}

struct BadCase {
  const char* name;
  void (*mutate)(VmConfig&);
  const char* message;
};

TEST(CommandLineTest, InvalidConfigsAreRejectedWithAReason) {
  const BadCase cases[] = {
      {"no kernel", [](VmConfig& c) { c.kernel_path.clear(); }, "kernel_path is required"},
      {"microvm hotplug", [](VmConfig& c) { c.machine = MachineType::kMicrovm; },
       "microvm cannot hotplug"},
      {"zero vcpus", [](VmConfig& c) { c.vcpus = 0; }, "vcpus"},
      {"tiny memory", [](VmConfig& c) { c.memory_mib = 1; }, "memory_mib"},
      {"no work dir", [](VmConfig& c) { c.work_dir.clear(); }, "work_dir"},
      {"relative work dir", [](VmConfig& c) { c.work_dir = "run/x"; }, "work_dir"},
      {"long work dir", [](VmConfig& c) { c.work_dir = "/" + std::string(100, 'd'); },
       "socket path"},
      {"too many slots", [](VmConfig& c) { c.hotplug_slots = 9; }, "hotplug_slots"},
      {"relative shared dir", [](VmConfig& c) { c.shared_dir = "shared"; }, "shared_dir"},
      {"long tag", [](VmConfig& c) { c.shared_mount_tag = std::string(32, 't'); },
       "shared_mount_tag"},
      {"bad cid",
       [](VmConfig& c) {
         c.agent_channel = AgentChannelKind::kVsock;
         c.vsock_guest_cid = 2;
       },
       "vsock_guest_cid"},
      {"virtio-fs without a daemon", [](VmConfig& c) { c.shared_fs = SharedFsKind::kVirtioFs; },
       "virtiofsd_path"},
      {"virtio-fs with a relative daemon",
       [](VmConfig& c) {
         c.shared_fs = SharedFsKind::kVirtioFs;
         c.virtiofsd_path = "virtiofsd";
       },
       "virtiofsd_path"},
      {"virtio-fs with a bad cache mode",
       [](VmConfig& c) {
         c.shared_fs = SharedFsKind::kVirtioFs;
         c.virtiofsd_path = "/usr/lib/qemu/virtiofsd";
         c.virtio_fs_cache = "metadata";
       },
       "virtio_fs_cache"},
      {"virtio-fs without a shared dir",
       [](VmConfig& c) {
         c.shared_fs = SharedFsKind::kVirtioFs;
         c.virtiofsd_path = "/usr/lib/qemu/virtiofsd";
         c.shared_dir.clear();
       },
       "virtio-fs needs a shared_dir"},
  };
  for (const BadCase& bc : cases) {
    VmConfig c = Q35Config();
    bc.mutate(c);
    absl::StatusOr<std::vector<std::string>> argv = BuildCommandLine(c, {});
    EXPECT_EQ(argv.status().code(), absl::StatusCode::kInvalidArgument) << bc.name;
    EXPECT_THAT(std::string(argv.status().message()), HasSubstr(bc.message)) << bc.name;
  }
}

// virtio-fs: guest RAM is a shared memfd the machine uses, and vhost-user-fs replaces 9p at the
// same slot, connected to virtiofsd's socket in the work dir.
TEST(CommandLineTest, VirtioFsSharesMemoryAndConnectsToTheDaemon) {
  VmConfig c = Q35Config();
  c.shared_fs = SharedFsKind::kVirtioFs;
  c.virtiofsd_path = "/usr/lib/qemu/virtiofsd";
  absl::StatusOr<std::vector<std::string>> argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  const std::string joined = absl::StrJoin(*argv, " ");
  EXPECT_THAT(joined, HasSubstr("-machine q35,memory-backend=mem0 "));
  EXPECT_THAT(joined, HasSubstr("-m 512M "));
  EXPECT_THAT(joined, HasSubstr("-object memory-backend-memfd,id=mem0,size=512M,share=on "));
  EXPECT_THAT(joined, HasSubstr("-chardev socket,id=vfs0,path=/run/kata/sb1/vfs.sock "));
  EXPECT_THAT(joined, HasSubstr("-device vhost-user-fs-pci,bus=pcie.0,addr=0x3,id=fs0,"
                                "chardev=vfs0,queue-size=1024,tag=kataShared"));
  EXPECT_THAT(joined, Not(HasSubstr("9p")));
  EXPECT_THAT(joined, Not(HasSubstr("-fsdev")));

  c.machine = MachineType::kMicrovm;
  c.hotplug_slots = 0;
  argv = BuildCommandLine(c, {});
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_THAT(absl::StrJoin(*argv, " "),
              HasSubstr("-device vhost-user-fs-device,id=fs0,chardev=vfs0,queue-size=1024,"
                        "tag=kataShared"));
  EXPECT_THAT(absl::StrJoin(*argv, " "),
              HasSubstr("microvm,x-option-roms=off,memory-backend=mem0"));
}

TEST(CommandLineTest, ConsoleSocketSandboxAndRemapOptionsAreChecked) {
  const VmConfig c = Q35Config();
  for (const char* bad : {"yes", "on;reboot", "on,spawn=deny -device x", "ON", "onion"}) {
    absl::StatusOr<std::vector<std::string>> argv = BuildCommandLine(c, {.sandbox = bad});
    EXPECT_EQ(argv.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(argv.status().message()), HasSubstr("sandbox")) << bad;
  }
  EXPECT_EQ(BuildCommandLine(c, {.console_fd = 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<std::string>> off = BuildCommandLine(c, {.sandbox = "off"});
  ASSERT_TRUE(off.ok()) << off.status();
  const std::string joined = absl::StrJoin(*off, " ");
  EXPECT_THAT(joined, HasSubstr("-sandbox off "));
  EXPECT_THAT(joined, HasSubstr("-serial null "));
  EXPECT_THAT(joined, Not(HasSubstr("multidevs")));
  EXPECT_THAT(joined, Not(HasSubstr("console.log"))) << "QEMU never writes the log itself";
}

TEST(CommandLineTest, PathsAndRootPorts) {
  VmConfig c;
  c.work_dir = "/w";
  QemuPaths p = PathsFor(c);
  EXPECT_EQ(p.qmp_socket, "/w/qmp.sock");
  EXPECT_EQ(p.agent_socket, "/w/agent.sock");
  EXPECT_EQ(p.console_log, "/w/console.log");
  EXPECT_EQ(p.qemu_log, "/w/qemu.log");
  EXPECT_EQ(RootPortId(3), "rp3");
  EXPECT_EQ(RootPortSlot(3), 0x13);
}

}  // namespace
}  // namespace kata::hypervisor::qemu
