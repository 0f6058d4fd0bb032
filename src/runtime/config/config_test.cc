#include "src/runtime/config/config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata::config {
namespace {

using ::testing::HasSubstr;

constexpr char kMinimal[] = R"(
[hypervisor.qemu]
initrd = "/opt/kata/initrd.img"
)";

std::string WithQemu(const std::string& lines) { return std::string(kMinimal) + lines + "\n"; }

void ExpectInvalid(const std::string& text, const std::string& message) {
  absl::StatusOr<RuntimeConfig> c = Parse(text, "test.toml");
  ASSERT_FALSE(c.ok()) << text;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(message)) << text;
}

TEST(ConfigTest, LoadsTheShippedDefault) {
  absl::StatusOr<RuntimeConfig> c = Load("src/runtime/config/default_configuration.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hypervisor.accelerator, "tcg");
  EXPECT_EQ(c->hypervisor.kernel, kDefaultKernelPath);
  EXPECT_EQ(c->hypervisor.initrd, kDefaultInitrdPath);
  EXPECT_EQ(c->hypervisor.shared_fs, "virtio-fs");
  EXPECT_EQ(c->hypervisor.virtio_fs_daemon, "/usr/lib/qemu/virtiofsd");
  EXPECT_EQ(c->hypervisor.machine_type, "q35");
  EXPECT_THAT(c->hypervisor.enable_annotations,
              ::testing::ElementsAre("enable_iommu", "kernel_params"));
  EXPECT_EQ(c->agent.dial_timeout, 45u);
  EXPECT_EQ(c->runtime.internetworking_model, "tcfilter");
  EXPECT_EQ(c->hypervisor.seccompsandbox, kDefaultSeccompSandbox);
  EXPECT_EQ(c->hypervisor.console_log_max_bytes, 1048576u);
  EXPECT_EQ(c->hypervisor.pcie_root_port, 4u);  // ctr run --device works out of the box
  EXPECT_FALSE(c->hypervisor.disable_block_device_use);
  // The footprint under TCG (issue 14): a small base, freed pages back to the host, a small
  // translation cache.
  EXPECT_EQ(c->hypervisor.default_memory, 256u);
  EXPECT_TRUE(c->hypervisor.reclaim_guest_freed_memory);
  EXPECT_EQ(c->hypervisor.tcg_tb_size, 32u);
}

TEST(ConfigTest, AbsentKeysTakeDefaults) {
  absl::StatusOr<RuntimeConfig> c = Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.status();
  RuntimeConfig d;
  EXPECT_EQ(c->hypervisor.path, d.hypervisor.path);
  EXPECT_EQ(c->hypervisor.kernel, kDefaultKernelPath);
  EXPECT_EQ(c->hypervisor.default_memory, 2048u);
  EXPECT_EQ(c->hypervisor.default_vcpus, 1u);
  EXPECT_EQ(c->hypervisor.accelerator, "kvm");
  EXPECT_EQ(c->hypervisor.shared_fs, "virtio-fs");
  EXPECT_TRUE(c->hypervisor.enable_annotations.empty());
  EXPECT_EQ(c->agent.dial_timeout, 45u);
  EXPECT_TRUE(c->runtime.disable_guest_seccomp);
  EXPECT_EQ(c->hypervisor.seccompsandbox,
            "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
  EXPECT_EQ(c->hypervisor.console_log_max_bytes, 1u << 20);
  EXPECT_EQ(c->hypervisor.tcg_tb_size, 32u);
  EXPECT_FALSE(c->hypervisor.reclaim_guest_freed_memory);  // Kata's default
  EXPECT_EQ(c->hypervisor.default_maxmemory, 0u);          // the host's memory
  EXPECT_TRUE(c->runtime.static_sandbox_resource_mgmt);
  EXPECT_EQ(c->hypervisor.pcie_root_port, 0u);  // Kata's: no hot-plug root port
}

// entropy_source: /dev/urandom by default (Kata's); "" turns the virtio-rng device off; a
// relative path is refused.
TEST(ConfigTest, EntropySourceDefaultsToUrandomAndMayBeEmpty) {
  absl::StatusOr<RuntimeConfig> c = Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hypervisor.entropy_source, "/dev/urandom");
  c = Parse(WithQemu("entropy_source = \"\""));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hypervisor.entropy_source, "");
  ExpectInvalid(WithQemu("entropy_source = \"dev/random\""), "hypervisor.qemu.entropy_source");
}

TEST(ConfigTest, ReadsEveryKind) {
  absl::StatusOr<RuntimeConfig> c = Parse(WithQemu(R"(
default_memory = 512
default_vcpus = 2
default_maxvcpus = 4
default_maxmemory = 4096
kernel_params = "quiet"
disable_block_device_use = true
enable_annotations = ["default_.*"]
seccompsandbox = ""
console_log_max_bytes = 65536
pcie_root_port = 3
[agent.kata]
kernel_modules = ["e1000e InterruptThrottleRate=3000"]
dial_timeout = 10
[runtime]
internetworking_model = "none"
disable_new_netns = true
sandbox_cgroup_only = false
static_sandbox_resource_mgmt = false
)"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->hypervisor.default_memory, 512u);
  EXPECT_EQ(c->hypervisor.default_vcpus, 2u);
  EXPECT_EQ(c->hypervisor.default_maxvcpus, 4u);
  EXPECT_EQ(c->hypervisor.default_maxmemory, 4096u);
  EXPECT_EQ(c->hypervisor.kernel_params, "quiet");
  EXPECT_TRUE(c->hypervisor.disable_block_device_use);
  EXPECT_EQ(c->hypervisor.seccompsandbox, "");
  EXPECT_EQ(c->hypervisor.console_log_max_bytes, 65536u);
  EXPECT_EQ(c->hypervisor.pcie_root_port, 3u);
  EXPECT_THAT(c->agent.kernel_modules, ::testing::ElementsAre("e1000e InterruptThrottleRate=3000"));
  EXPECT_EQ(c->agent.dial_timeout, 10u);
  EXPECT_TRUE(c->runtime.disable_new_netns);
  EXPECT_FALSE(c->runtime.sandbox_cgroup_only);  // read (it acts as true: config.h)
  EXPECT_FALSE(c->runtime.static_sandbox_resource_mgmt);
}

TEST(ConfigTest, UnknownKeyNamesItsPathAndLine) {
  ExpectInvalid(WithQemu("defualt_memory = 512"),
                "hypervisor.qemu.defualt_memory: unknown key (line 4, column 1)");
  ExpectInvalid("[agent.kata]\nfoo = 1\n", "agent.kata.foo: unknown key");
  ExpectInvalid("[runtime]\nenable_debugg = true\n", "runtime.enable_debugg: unknown key");
  ExpectInvalid("top = 1\n", "top: unknown key");
}

TEST(ConfigTest, UnknownSectionNamesItsPath) {
  // Kata's other hypervisors are refused by name; [factory] is Kata's (kata_keys_test.cc).
  ExpectInvalid("[hypervisor.clh]\npath = \"/x\"\n",
                "hypervisor.clh: Kata's hypervisor, not supported by kata-cpp");
  ExpectInvalid("[hypervisor.qemuu]\n", "hypervisor.qemuu: unknown section");
  ExpectInvalid("[agent.other]\n", "agent.other: unknown section");
  ExpectInvalid("[factori]\n", "factori: unknown section");
}

TEST(ConfigTest, WrongTypesNameTheKey) {
  ExpectInvalid(WithQemu("default_memory = \"2048\""),
                "hypervisor.qemu.default_memory: expected an integer, got string (line 4");
  ExpectInvalid(WithQemu("enable_debug = 1"),
                "hypervisor.qemu.enable_debug: expected a boolean, got integer");
  ExpectInvalid(WithQemu("enable_annotations = \"kernel_params\""),
                "hypervisor.qemu.enable_annotations: expected an array of strings, got string");
  ExpectInvalid(WithQemu("enable_annotations = [\"a\", 2]"),
                "hypervisor.qemu.enable_annotations[1]: expected a string, got integer");
  ExpectInvalid("hypervisor = 1\n", "hypervisor: expected a table, got integer");
  ExpectInvalid("[agent]\nkata = 3\n", "agent.kata: expected a table, got integer");
}

TEST(ConfigTest, BadValuesNameTheKey) {
  ExpectInvalid(WithQemu("default_memory = -1"),
                "hypervisor.qemu.default_memory: must be between 0 and 4294967295, got -1");
  ExpectInvalid(WithQemu("default_memory = 0"),
                "hypervisor.qemu.default_memory: must be at least 1, got 0 (line 4, column 18)");
  ExpectInvalid(WithQemu("default_vcpus = 0"),
                "hypervisor.qemu.default_vcpus: must be at least 1, got 0");
  ExpectInvalid(WithQemu("default_vcpus = 4\ndefault_maxvcpus = 2"),
                "hypervisor.qemu.default_vcpus: must be at most 2, got 4");
  ExpectInvalid(WithQemu("default_memory = 4096\ndefault_maxmemory = 2048"),
                "hypervisor.qemu.default_memory: must be at most 2048, got 4096");
  ExpectInvalid(WithQemu("machine_type = \"q36\""),
                "hypervisor.qemu.machine_type: unknown value \"q36\" (expected one of: q35");
  ExpectInvalid(WithQemu("accelerator = \"hvf\""),
                "hypervisor.qemu.accelerator: unknown value \"hvf\"");
  ExpectInvalid(WithQemu("kernel = \"vmlinux\""),
                "hypervisor.qemu.kernel: must be an absolute path, got \"vmlinux\"");
  ExpectInvalid(WithQemu("image = \"/img\""),
                "hypervisor.qemu.initrd: image and initrd are mutually exclusive");
  ExpectInvalid("[hypervisor.qemu]\n", "hypervisor.qemu.initrd: one of image and initrd");
  ExpectInvalid(WithQemu("shared_fs = \"nfs\""), "hypervisor.qemu.shared_fs: unknown value");
  ExpectInvalid(WithQemu("default_bridges = 6"),
                "hypervisor.qemu.default_bridges: must be at most 5");
  ExpectInvalid(WithQemu("pcie_root_port = 9"),
                "hypervisor.qemu.pcie_root_port: must be at most 8");
  ExpectInvalid(WithQemu("tcg_tb_size = 5000"),
                "hypervisor.qemu.tcg_tb_size: must be at most 4096");
  ExpectInvalid(WithQemu("msize_9p = 100"), "hypervisor.qemu.msize_9p: must be at least 4096");
  ExpectInvalid(WithQemu("console_log_max_bytes = 100"),
                "hypervisor.qemu.console_log_max_bytes: must be at least 4096, got 100");
  ExpectInvalid(WithQemu("console_log_max_bytes = 2147483648"),
                "hypervisor.qemu.console_log_max_bytes: must be at most 1073741824");
  ExpectInvalid(WithQemu("seccompsandbox = \"on -device x\""),
                "hypervisor.qemu.seccompsandbox: must be \"on\" or \"off\"");
  ExpectInvalid(WithQemu("seccompsandbox = \"enable,spawn=deny\""),
                "hypervisor.qemu.seccompsandbox: must be \"on\" or \"off\"");
  ExpectInvalid(WithQemu("block_device_driver = \"ide\""),
                "hypervisor.qemu.block_device_driver: unknown value \"ide\"");
  ExpectInvalid(WithQemu("enable_annotations = [\"ok\", \"(\"]"),
                "hypervisor.qemu.enable_annotations[1]: bad regular expression \"(\"");
  ExpectInvalid(std::string(kMinimal) + "[agent.kata]\ndial_timeout = 0\n",
                "agent.kata.dial_timeout: must be at least 1, got 0");
  ExpectInvalid(std::string(kMinimal) + "[runtime]\ninternetworking_model = \"bridge\"\n",
                "runtime.internetworking_model: unknown value \"bridge\"");
  ExpectInvalid(std::string(kMinimal) + "[runtime]\ndisable_new_netns = true\n",
                "runtime.disable_new_netns: requires internetworking_model = \"none\"");
}

// The network keys: "tcfilter" and "none" load; Kata's "macvtap" fails at load, naming the
// key, its line and what is supported; disable_new_netns only goes with "none".
TEST(ConfigTest, NetworkKeysAreHonouredOrRejectedAtLoad) {
  absl::StatusOr<RuntimeConfig> c =
      Parse(std::string(kMinimal) + "[runtime]\ninternetworking_model = \"tcfilter\"\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->runtime.internetworking_model, "tcfilter");
  EXPECT_FALSE(c->runtime.disable_new_netns);
  c = Parse(std::string(kMinimal) + "[runtime]\ninternetworking_model = \"none\"\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->runtime.internetworking_model, "none");

  ExpectInvalid(std::string(kMinimal) + "[runtime]\ninternetworking_model = \"macvtap\"\n",
                "runtime.internetworking_model: \"macvtap\" is not supported by kata-cpp "
                "(supported: \"tcfilter\", \"none\") (line 5, column 25)");
  ExpectInvalid(std::string(kMinimal) + "[runtime]\ninternetworking_model = \"\"\n",
                "runtime.internetworking_model: unknown value \"\" (expected one of: tcfilter, "
                "none)");
  ExpectInvalid(std::string(kMinimal) +
                    "[runtime]\ninternetworking_model = \"tcfilter\"\ndisable_new_netns = true\n",
                "runtime.disable_new_netns: requires internetworking_model = \"none\"");

  kata::testing::TempDir dir;
  std::string path = dir.Join("macvtap.toml");
  ASSERT_TRUE(WriteStringToFile(
                  path, std::string(kMinimal) + "[runtime]\ninternetworking_model = \"macvtap\"\n")
                  .ok());
  c = Load(path);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()),
              ::testing::StartsWith(path + ": runtime.internetworking_model: \"macvtap\""));

  RuntimeConfig by_hand = *Parse(kMinimal);
  by_hand.runtime.internetworking_model = "macvtap";
  EXPECT_EQ(Validate(by_hand).code(), absl::StatusCode::kInvalidArgument);
  by_hand.runtime.internetworking_model = "none";
  by_hand.runtime.disable_new_netns = true;
  EXPECT_TRUE(Validate(by_hand).ok());
}

TEST(ConfigTest, SyntaxErrorsCarryLineAndColumn) {
  ExpectInvalid("[hypervisor.qemu]\ndefault_memory = = 3\n", "test.toml:2:");
  absl::StatusOr<RuntimeConfig> c = Parse("a = \"unterminated\n", "x.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), ::testing::StartsWith("x.toml:1:"));
}

TEST(ConfigTest, LoadReportsMissingFileAndNamesFileInErrors) {
  kata::testing::TempDir dir;
  absl::StatusOr<RuntimeConfig> c = Load(dir.Join("does-not-exist.toml"));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("does-not-exist.toml"));

  std::string path = dir.Join("bad.toml");
  ASSERT_TRUE(WriteStringToFile(path, WithQemu("default_vcpus = 0")).ok());
  c = Load(path);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()),
              ::testing::StartsWith(path + ": hypervisor.qemu.default_vcpus: must be at least 1"));
}

}  // namespace
}  // namespace kata::config
