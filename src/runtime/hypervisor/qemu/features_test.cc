// The feature probe against the real qemu-system-x86_64 (7.2 here: seccomp and multidevs) and
// stand-in binaries that refuse, fail or do not exist (issue 11 item 7).
#include "src/runtime/hypervisor/qemu/features.h"

#include <sys/stat.h>

#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::HasSubstr;

constexpr char kQemu[] = "/usr/bin/qemu-system-x86_64";

TEST(QemuFeaturesTest, ThisQemuTakesTheStrictSandboxAndRemap) {
  ASSERT_EQ(access(kQemu, X_OK), 0) << "qemu-system-x86 missing (tools/setup)";
  const absl::Time start = absl::Now();
  QemuFeatures f = ProbeQemuFeatures(kQemu, kStrictSandbox);
  std::cerr << "probe: " << absl::Now() - start << "\n";
  EXPECT_TRUE(f.sandbox) << f.sandbox_error;
  EXPECT_TRUE(f.multidevs_remap);
  EXPECT_EQ(f.sandbox_error, "");
}

TEST(QemuFeaturesTest, ARefusedSandboxValueIsReportedInQemusWords) {
  QemuFeatures f = ProbeQemuFeatures(kQemu, "on,bogus=deny");
  EXPECT_FALSE(f.sandbox);
  EXPECT_THAT(f.sandbox_error, HasSubstr("Invalid parameter 'bogus'"));
  EXPECT_TRUE(f.multidevs_remap) << "probed on its own";
}

TEST(QemuFeaturesTest, NoSandboxAskedIsNoSandboxProbed) {
  QemuFeatures f = ProbeQemuFeatures(kQemu, "");
  EXPECT_FALSE(f.sandbox);
  EXPECT_EQ(f.sandbox_error, "");
  EXPECT_TRUE(f.multidevs_remap);
}

TEST(QemuFeaturesTest, ABinaryThatRefusesOrIsMissingSupportsNothing) {
  kata::testing::TempDir tmp;
  // An old QEMU: no -sandbox option group, no multidevs; counts its runs.
  const std::string old = tmp.Join("old-qemu");
  ASSERT_TRUE(WriteStringToFile(old,
                                "#!/bin/sh\necho run >> \"$0.runs\"\n"
                                "echo \"$0: -sandbox: invalid option\" >&2\nexit 1\n")
                  .ok());
  ASSERT_EQ(chmod(old.c_str(), 0755), 0);
  QemuFeatures f = CachedQemuFeatures(old, kStrictSandbox);
  EXPECT_FALSE(f.sandbox);
  EXPECT_FALSE(f.multidevs_remap);
  EXPECT_THAT(f.sandbox_error, HasSubstr("exited with status 1"));
  EXPECT_THAT(f.sandbox_error, HasSubstr("-sandbox: invalid option"));
  const std::string runs = ReadFileToString(old + ".runs").value_or("");
  // Cached: the same answer again without running it.
  EXPECT_FALSE(CachedQemuFeatures(old, kStrictSandbox).sandbox);
  EXPECT_EQ(ReadFileToString(old + ".runs").value_or(""), runs);
  EXPECT_EQ(runs, "run\nrun\nrun\n") << "both, the sandbox alone, remap alone";

  QemuFeatures missing = ProbeQemuFeatures(tmp.Join("no-such-qemu"), kStrictSandbox);
  EXPECT_FALSE(missing.sandbox);
}

// Across processes (one shim per pod): the answer is kept in a file with the binary's identity;
// a changed binary, another sandbox value or a damaged file is probed again.
TEST(QemuFeaturesTest, TheFileCacheAnswersUntilTheBinaryChanges) {
  kata::testing::TempDir tmp;
  const std::string qemu = tmp.Join("qemu");
  // Accepts everything (quits at once), counts its runs.
  ASSERT_TRUE(WriteStringToFile(qemu, "#!/bin/sh\necho run >> \"$0.runs\"\nexit 0\n").ok());
  ASSERT_EQ(chmod(qemu.c_str(), 0755), 0);
  const std::string cache = tmp.Join("features");
  auto runs = [&] { return ReadFileToString(qemu + ".runs").value_or(""); };

  QemuFeatures f = FileCachedQemuFeatures(qemu, kStrictSandbox, cache);
  EXPECT_TRUE(f.sandbox);
  EXPECT_TRUE(f.multidevs_remap);
  EXPECT_EQ(runs(), "run\n");
  struct stat st;
  ASSERT_EQ(stat(cache.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  f = FileCachedQemuFeatures(qemu, kStrictSandbox, cache);  // from the file
  EXPECT_TRUE(f.sandbox);
  EXPECT_TRUE(f.multidevs_remap);
  EXPECT_EQ(runs(), "run\n");

  FileCachedQemuFeatures(qemu, "on", cache);  // another sandbox value
  EXPECT_EQ(runs(), "run\nrun\n");

  // The binary replaced by one that refuses everything (a new inode and size).
  ASSERT_EQ(unlink(qemu.c_str()), 0);
  ASSERT_TRUE(WriteStringToFile(qemu, "#!/bin/sh\necho run >> \"$0.runs\"\nexit 1\n\n").ok());
  ASSERT_EQ(chmod(qemu.c_str(), 0755), 0);
  f = FileCachedQemuFeatures(qemu, "on", cache);
  EXPECT_FALSE(f.sandbox);
  EXPECT_FALSE(f.multidevs_remap);

  // A damaged file is not trusted: probed again.
  const std::string before = runs();
  ASSERT_TRUE(WriteStringToFile(cache, "kata-cpp qemu features v1\ngarbage\n").ok());
  f = FileCachedQemuFeatures(qemu, "on", cache);
  EXPECT_FALSE(f.sandbox);
  EXPECT_GT(runs().size(), before.size());

  // A binary that does not exist is probed (and supports nothing), never cached.
  QemuFeatures missing = FileCachedQemuFeatures(tmp.Join("no-such-qemu"), "on", cache);
  EXPECT_FALSE(missing.sandbox);
  EXPECT_FALSE(missing.multidevs_remap);
  EXPECT_THAT(missing.sandbox_error, HasSubstr("no-such-qemu"));
}

}  // namespace
}  // namespace kata::hypervisor::qemu
