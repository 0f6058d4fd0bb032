// kata-runtime check/env/version against this host's real QEMU, with configurations written
// by the test (guest kernel files are stand-ins, so the boot probe must fail here).
#include "src/runtime/cli/cli.h"

#include <unistd.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata::runtime::cli {
namespace {

using ::testing::HasSubstr;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = dir_ + "/vmlinux";
    initrd_ = dir_ + "/initrd.img";
    ASSERT_TRUE(WriteStringToFile(kernel_, "not a kernel").ok());
    ASSERT_TRUE(WriteStringToFile(initrd_, "not an initrd").ok());
    config_ = WriteConfig("config.toml", kernel_);
    ctx_.env = config::MapEnvironment({});
    ctx_.search = {dir_ + "/etc.toml", dir_ + "/default.toml"};  // absent
    ctx_.boot_probe_timeout = absl::Seconds(20);
  }
  std::string WriteConfig(const std::string& name, const std::string& kernel,
                          const std::string& extra = "") {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(WriteStringToFile(
                    path, absl::StrCat(
                              "[hypervisor.qemu]\n", "path = \"/usr/bin/qemu-system-x86_64\"\n",
                              "kernel = \"", kernel, "\"\n", "initrd = \"", initrd_, "\"\n",
                              "accelerator = \"tcg\"\n", "shared_fs = \"virtio-9p\"\n",
                              "default_memory = 512\n", "[agent.kata]\ndial_timeout = 30\n", extra))
                    .ok())
        << path;
    return path;
  }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return RunKataRuntime(args, out_, err_, ctx_);
  }

  kata::testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
  std::string kernel_, initrd_, config_;
  CliContext ctx_;
  std::ostringstream out_, err_;
};

TEST_F(CliTest, Version) {
  EXPECT_EQ(Run({"version"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("kata-runtime (kata-cpp) : "));
  EXPECT_THAT(out_.str(), HasSubstr("OCI specs"));
}

TEST_F(CliTest, UsageErrors) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_EQ(Run({"frobnicate"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("unknown command \"frobnicate\""));
  EXPECT_EQ(Run({"env", "--yaml"}), 2);
  EXPECT_EQ(Run({"--config"}), 2);
}

TEST_F(CliTest, EnvJsonShowsTheResolvedConfiguration) {
  ASSERT_EQ(Run({"--config", config_, "env", "--json"}), 0) << err_.str();
  rapidjson::Document d;
  ASSERT_FALSE(d.Parse(out_.str().c_str()).HasParseError()) << out_.str();
  EXPECT_EQ(std::string(d["Runtime"]["Config"].GetString()), config_);
  EXPECT_EQ(std::string(d["Hypervisor"]["Kernel"].GetString()), kernel_);
  EXPECT_EQ(std::string(d["Hypervisor"]["Accelerator"].GetString()), "tcg");
  EXPECT_EQ(d["Hypervisor"]["MemoryMiB"].GetUint(), 512u);
  EXPECT_THAT(d["Hypervisor"]["Version"].GetString(), HasSubstr("QEMU emulator version"));
  EXPECT_EQ(d["Agent"]["DialTimeout"].GetUint(), 30u);
  EXPECT_EQ(d["Host"]["KVMDevice"].GetBool(), access("/dev/kvm", F_OK) == 0);
  EXPECT_EQ(std::string(d["Runtime"]["InterNetworkModel"].GetString()), "tcfilter");
  EXPECT_FALSE(d["Runtime"]["DisableNewNetNs"].GetBool());
}

// The network model as configured, in both forms; a model kata-cpp cannot wire fails `env`
// (and `check`) at load, naming the key.
TEST_F(CliTest, EnvShowsTheNetworkModelAndRejectsMacvtap) {
  std::string none = WriteConfig("none.toml", kernel_,
                                 "[runtime]\ninternetworking_model = \"none\"\n"
                                 "disable_new_netns = true\n");
  ASSERT_EQ(Run({"--config", none, "env"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("InterNetworkModel = \"none\"\n  DisableNewNetNs = true"));
  ASSERT_EQ(Run({"--config", none, "env", "--json"}), 0) << err_.str();
  rapidjson::Document d;
  ASSERT_FALSE(d.Parse(out_.str().c_str()).HasParseError()) << out_.str();
  EXPECT_EQ(std::string(d["Runtime"]["InterNetworkModel"].GetString()), "none");
  EXPECT_TRUE(d["Runtime"]["DisableNewNetNs"].GetBool());

  std::string macvtap =
      WriteConfig("macvtap.toml", kernel_, "[runtime]\ninternetworking_model = \"macvtap\"\n");
  EXPECT_EQ(Run({"--config", macvtap, "env"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("runtime.internetworking_model: \"macvtap\" is not supported"));
}

TEST_F(CliTest, EnvTextFromKataConfFile) {
  ctx_.env = config::MapEnvironment({{"KATA_CONF_FILE", config_}});
  ASSERT_EQ(Run({"env"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("[Hypervisor]"));
  EXPECT_THAT(out_.str(), HasSubstr("Config = \"" + config_ + "\""));
  EXPECT_THAT(out_.str(), HasSubstr("ConfigSource = \"KATA_CONF_FILE\""));
}

TEST_F(CliTest, MissingConfigurationFails) {
  EXPECT_EQ(Run({"env"}), 1);
  EXPECT_EQ(Run({"--config", dir_ + "/nope.toml", "check"}), 1);
  EXPECT_THAT(out_.str(), HasSubstr("[FAIL] configuration:"));
}

// virtio-fs: check probes QEMU's vhost-user-fs-pci and the configured virtiofsd (Debian's is
// installed here); a missing daemon fails the check.
TEST_F(CliTest, CheckProbesVirtioFs) {
  const std::string daemon = "/usr/lib/qemu/virtiofsd";
  ASSERT_EQ(access(daemon.c_str(), X_OK), 0) << daemon << ": tools/setup installs qemu";
  ASSERT_EQ(Run({"--config", config_, "check"}), 0) << out_.str();
  EXPECT_THAT(out_.str(), HasSubstr("[ok  ] shared_fs: virtio-9p"));
  const std::string vfs = dir_ + "/vfs.toml";
  const std::string with = absl::StrCat(
      "[hypervisor.qemu]\npath = \"/usr/bin/qemu-system-x86_64\"\nkernel = \"", kernel_,
      "\"\ninitrd = \"", initrd_, "\"\naccelerator = \"tcg\"\nshared_fs = \"virtio-fs\"\n",
      "virtio_fs_daemon = \"DAEMON\"\ndefault_memory = 512\n");
  ASSERT_TRUE(WriteStringToFile(vfs, absl::StrReplaceAll(with, {{"DAEMON", daemon}})).ok());
  ASSERT_EQ(Run({"--config", vfs, "check"}), 0) << out_.str();
  EXPECT_THAT(out_.str(),
              HasSubstr("[ok  ] shared_fs: virtio-fs: vhost-user-fs-pci and " + daemon));
  ASSERT_TRUE(
      WriteStringToFile(vfs, absl::StrReplaceAll(with, {{"DAEMON", dir_ + "/no-virtiofsd"}})).ok());
  EXPECT_EQ(Run({"--config", vfs, "check"}), 1);
  EXPECT_THAT(out_.str(),
              HasSubstr("[FAIL] shared_fs: virtio-fs: " + dir_ + "/no-virtiofsd: not executable"));
}

TEST_F(CliTest, CheckReportsQemuAcceleratorVsockAndAssets) {
  ASSERT_EQ(Run({"--config", config_, "check"}), 0) << out_.str();
  const std::string o = out_.str();
  EXPECT_THAT(o, HasSubstr("[ok  ] qemu: /usr/bin/qemu-system-x86_64: QEMU emulator version"));
  EXPECT_THAT(o, HasSubstr("[ok  ] qemu 9p device: virtio-9p-pci available"));
  if (access("/dev/kvm", F_OK) != 0) {
    EXPECT_THAT(o, HasSubstr("[ok  ] kvm: /dev/kvm absent: TCG only"));
  } else {
    EXPECT_THAT(o, HasSubstr("not verified"));
  }
  if (access("/dev/vhost-vsock", F_OK) != 0) {
    EXPECT_THAT(o, HasSubstr("/dev/vhost-vsock absent: the agent channel is virtio-serial"));
  }
  EXPECT_THAT(o, HasSubstr("[ok  ] guest kernel: " + kernel_));
  EXPECT_THAT(o, HasSubstr("[ok  ] guest initrd: " + initrd_));
  EXPECT_THAT(o, HasSubstr("System is capable"));
}

TEST_F(CliTest, CheckFailsOnMissingKernel) {
  std::string cfg = WriteConfig("nokernel.toml", dir_ + "/missing-vmlinux");
  EXPECT_EQ(Run({"--config", cfg, "check"}), 1);
  EXPECT_THAT(out_.str(), HasSubstr("[FAIL] guest kernel: " + dir_ + "/missing-vmlinux: missing"));
  EXPECT_THAT(out_.str(), HasSubstr("NOT capable"));
}

// A key of Kata's that kata-cpp does not act on is a warning: `check` passes, `check --strict`
// fails; a typo is an error either way.
TEST_F(CliTest, CheckStrictTurnsConfigurationWarningsIntoErrors) {
  ASSERT_EQ(Run({"--config", config_, "check", "--strict"}), 0) << out_.str();
  EXPECT_THAT(out_.str(), ::testing::Not(HasSubstr("[warn]")));

  std::string kata = WriteConfig("kata.toml", kernel_, "[factory]\nenable_template = false\n");
  ASSERT_EQ(Run({"--config", kata, "check"}), 0) << out_.str();
  const std::string warn =
      "[warn] configuration: factory.enable_template: Kata's key, not implemented by kata-cpp: "
      "ignored (every VM boots on its own) (line 11, column 1)\n";
  EXPECT_THAT(out_.str(), HasSubstr(warn));
  EXPECT_THAT(out_.str(), HasSubstr("System is capable"));
  EXPECT_EQ(Run({"--config", kata, "check", "--strict"}), 1) << out_.str();
  EXPECT_THAT(out_.str(), HasSubstr(warn));
  EXPECT_THAT(out_.str(), HasSubstr("System is NOT capable"));

  std::string typo = WriteConfig("typo.toml", kernel_, "[factory]\nenable_templat = false\n");
  EXPECT_EQ(Run({"--config", typo, "check"}), 1);
  EXPECT_THAT(out_.str(), HasSubstr("[FAIL] configuration: " + typo +
                                    ": factory.enable_templat: unknown key (line 11, column 1)"));
}

// Kata's stock configuration-qemu.toml loads: `env` shows it; `check` lists its warnings and
// fails on what kata-cpp cannot boot (Kata's rootfs image, virtio-fs).
TEST_F(CliTest, KatasStockConfigurationLoads) {
  const std::string stock = "src/runtime/config/testdata/kata-configuration-qemu.toml";
  ASSERT_EQ(Run({"--config", stock, "env"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Config = \"" + stock + "\""));
  EXPECT_EQ(Run({"--config", stock, "check"}), 1);
  EXPECT_THAT(out_.str(),
              HasSubstr("[warn] configuration: hypervisor.qemu.rootfs_type: Kata's key"));
  EXPECT_THAT(out_.str(), HasSubstr("[FAIL] guest image"));
}

TEST_F(CliTest, BootProbeOfANonKernelFails) {
  // A real QEMU is started with the stand-in kernel: it cannot boot it.
  EXPECT_EQ(Run({"--config", config_, "check", "--boot-probe"}), 1);
  EXPECT_THAT(out_.str(), HasSubstr("[FAIL] tcg boot: qemu exited before the kernel finished"));
}

}  // namespace
}  // namespace kata::runtime::cli
