// `kata-runtime check --boot-probe` with the real guest kernel (argv: the guest image files):
// the configured accelerator (TCG) really boots it, and the installed-asset checks pass.
#include <filesystem>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/cli/cli.h"

namespace kata::runtime::cli {
namespace {

using ::testing::HasSubstr;

std::string g_kernel, g_initrd;

TEST(KataRuntimeCheckTest, TcgBootsTheGuestKernel) {
  ASSERT_FALSE(g_kernel.empty()) << "usage: kata_runtime_check_test VMLINUX INITRD";
  kata::testing::TempDir dir;
  const std::string config = dir.Join("configuration.toml");
  const std::string toml =
      absl::StrCat("[hypervisor.qemu]\n", "kernel = \"", g_kernel, "\"\n", "initrd = \"", g_initrd,
                   "\"\n", "accelerator = \"tcg\"\n", "shared_fs = \"virtio-9p\"\n");
  ASSERT_TRUE(WriteStringToFile(config, toml).ok());
  CliContext ctx;
  ctx.env = config::MapEnvironment({});
  ctx.boot_probe_timeout = absl::Seconds(60);  // TCG on shared cores
  std::ostringstream out, err;
  int rc = RunKataRuntime({"--config", config, "check", "--boot-probe"}, out, err, ctx);
  std::cerr << out.str();
  EXPECT_EQ(rc, 0) << out.str() << err.str();
  EXPECT_THAT(out.str(), HasSubstr("[ok  ] tcg boot: a guest kernel booted in "));
  EXPECT_THAT(out.str(), HasSubstr("[ok  ] guest kernel: " + g_kernel));
  EXPECT_THAT(out.str(), HasSubstr("[ok  ] guest initrd: " + g_initrd));
  EXPECT_THAT(out.str(), HasSubstr("System is capable of running kata-cpp containers"));
}

}  // namespace
}  // namespace kata::runtime::cli

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (absl::EndsWith(a, "vmlinux.container"))
      kata::runtime::cli::g_kernel = std::filesystem::absolute(a);
    if (absl::EndsWith(a, ".img")) kata::runtime::cli::g_initrd = std::filesystem::absolute(a);
  }
  return RUN_ALL_TESTS();
}
