#include "src/agent/init/init.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace agent {
namespace init {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records every call; files come from a map; mounts already in `mounted` give ALREADY_EXISTS.
class FakeSystem : public System {
 public:
  absl::Status MkdirAll(const std::string& path) override {
    calls.push_back("mkdir " + path);
    return absl::OkStatus();
  }
  absl::Status Mount(const std::string& source, const std::string& target,
                     const std::string& fstype, unsigned long flags,
                     const std::string& data) override {
    calls.push_back(absl::StrCat("mount ", fstype, " ", target, " ", data));
    if (mounted.count(target)) return absl::AlreadyExistsError("mount " + target + ": busy");
    if (target == fail_mount) return absl::PermissionDeniedError("mount " + target + ": EPERM");
    mounted[target] = fstype;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return absl::NotFoundError("read " + path + ": ENOENT");
    return it->second;
  }
  absl::Status LoadModule(const std::string& path, const std::string& params) override {
    calls.push_back(absl::StrCat("insmod ", path, params.empty() ? "" : " ", params));
    if (loaded.count(path)) return absl::AlreadyExistsError("module " + path + ": EEXIST");
    if (path == fail_module) return absl::InvalidArgumentError("module " + path + ": ENOEXEC");
    loaded[path] = true;
    if (absl::StrContains(path, "virtio_console")) consoles_present.insert("/dev/console");
    return absl::OkStatus();
  }
  absl::Status AttachConsole(const std::string& console, bool replace) override {
    calls.push_back(absl::StrCat(replace ? "console! " : "console ", console));
    if (!consoles_present.count(console)) return absl::NotFoundError("open " + console);
    return absl::OkStatus();
  }
  absl::StatusOr<bool> SwitchRootFromInitramfs() override {
    calls.push_back("switch_root");
    return true;
  }
  absl::Status PowerOff() override {
    calls.push_back("poweroff");
    return absl::OkStatus();
  }

  std::vector<std::string> calls;
  std::map<std::string, std::string> files;
  std::map<std::string, std::string> mounted;
  std::map<std::string, bool> loaded;
  std::string fail_mount;
  std::string fail_module;
  std::set<std::string> consoles_present = {"/dev/console"};
};

constexpr char kFilesystemsV2[] =
    "nodev\tsysfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\n\text4\n";
constexpr char kFilesystemsV1[] = "nodev\tsysfs\nnodev\tproc\nnodev\tcgroup\n\text4\n";

TEST(EssentialMountsTest, ProcSysDevPtsShmRunInOrder) {
  std::vector<std::string> targets;
  for (const MountPoint& m : EssentialMounts()) targets.push_back(m.target + ":" + m.fstype);
  EXPECT_THAT(targets, ElementsAre("/proc:proc", "/sys:sysfs", "/dev:devtmpfs", "/dev/pts:devpts",
                                   "/dev/shm:tmpfs", "/run:tmpfs"));
}

TEST(MountEssentialsTest, CreatesAndMountsUnderRoot) {
  FakeSystem sys;
  InitOptions opts;
  opts.root = "/tmp/r";
  ASSERT_TRUE(MountEssentials(sys, opts).ok());
  EXPECT_EQ(sys.mounted.size(), 6u);
  EXPECT_EQ(sys.mounted["/tmp/r/dev"], "devtmpfs");
  EXPECT_EQ(sys.calls[0], "mkdir /tmp/r/proc");
  EXPECT_EQ(sys.calls[1], "mount proc /tmp/r/proc ");
}

TEST(MountEssentialsTest, AlreadyMountedIsFine) {
  FakeSystem sys;
  sys.mounted["/proc"] = "proc";
  sys.mounted["/dev"] = "devtmpfs";
  EXPECT_TRUE(MountEssentials(sys, InitOptions{}).ok());
}

TEST(MountEssentialsTest, FailureNamesTheMountAndStops) {
  FakeSystem sys;
  sys.fail_mount = "/dev/pts";
  absl::Status s = MountEssentials(sys, InitOptions{});
  EXPECT_TRUE(absl::IsPermissionDenied(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("/dev/pts"));
  EXPECT_EQ(sys.mounted.count("/run"), 0u);
}

TEST(MountCgroupsTest, Cgroup2WhenTheKernelHasIt) {
  FakeSystem sys;
  sys.files["/proc/filesystems"] = kFilesystemsV2;
  ASSERT_TRUE(MountCgroups(sys, InitOptions{}).ok());
  EXPECT_EQ(sys.mounted.size(), 1u);
  EXPECT_EQ(sys.mounted["/sys/fs/cgroup"], "cgroup2");
}

TEST(MountCgroupsTest, V1HierarchyPerEnabledControllerOtherwise) {
  FakeSystem sys;
  sys.files["/proc/filesystems"] = kFilesystemsV1;
  sys.files["/proc/cgroups"] =
      "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\ncpu\t0\t1\t1\n"
      "memory\t0\t1\t0\npids\t0\t1\t1\n";
  ASSERT_TRUE(MountCgroups(sys, InitOptions{}).ok());
  EXPECT_EQ(sys.mounted["/sys/fs/cgroup"], "tmpfs");
  EXPECT_EQ(sys.mounted["/sys/fs/cgroup/cpuset"], "cgroup");
  EXPECT_EQ(sys.mounted["/sys/fs/cgroup/cpu"], "cgroup");
  EXPECT_EQ(sys.mounted["/sys/fs/cgroup/pids"], "cgroup");
  EXPECT_EQ(sys.mounted.count("/sys/fs/cgroup/memory"), 0u);  // disabled
  EXPECT_THAT(sys.calls, ::testing::Contains("mount cgroup /sys/fs/cgroup/cpuset cpuset"));
}

TEST(MountCgroupsTest, NoProcFilesystemsIsAnError) {
  FakeSystem sys;
  absl::Status s = MountCgroups(sys, InitOptions{});
  EXPECT_TRUE(absl::IsNotFound(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("/proc/filesystems"));
}

TEST(ParseModulesListTest, PathsParamsCommentsBlankLines) {
  absl::StatusOr<std::vector<ModuleEntry>> m = ParseModulesList(
      "# in dependency order\n\n/lib/modules/v/a.ko\n  /lib/modules/v/b.ko  x=1 y=2 \n");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].path, "/lib/modules/v/a.ko");
  EXPECT_EQ((*m)[0].params, "");
  EXPECT_EQ((*m)[1].path, "/lib/modules/v/b.ko");
  EXPECT_EQ((*m)[1].params, "x=1 y=2");
}

TEST(ParseModulesListTest, RelativeOrNonKoIsAnErrorWithTheLine) {
  absl::StatusOr<std::vector<ModuleEntry>> m = ParseModulesList("/a.ko\nb.ko\n");
  EXPECT_TRUE(absl::IsInvalidArgument(m.status()));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("line 2"));
  EXPECT_FALSE(ParseModulesList("/lib/modules/9p\n").ok());
}

TEST(LoadModulesTest, LoadsInListedOrderUnderRoot) {
  FakeSystem sys;
  InitOptions opts;
  opts.root = "/r/";
  sys.files["/r/etc/kata-cpp/modules"] = "/m/netfs.ko\n/m/9pnet.ko\n/m/9p.ko debug=0\n";
  ASSERT_TRUE(LoadModules(sys, opts).ok());
  EXPECT_THAT(sys.calls, ElementsAre("insmod /r/m/netfs.ko", "insmod /r/m/9pnet.ko",
                                     "insmod /r/m/9p.ko debug=0"));
}

TEST(LoadModulesTest, AlreadyLoadedIsFineMissingListIsFine) {
  FakeSystem sys;
  EXPECT_TRUE(LoadModules(sys, InitOptions{}).ok());
  sys.files["/etc/kata-cpp/modules"] = "/m/a.ko\n";
  sys.loaded["/m/a.ko"] = true;
  EXPECT_TRUE(LoadModules(sys, InitOptions{}).ok());
}

TEST(LoadModulesTest, FailureNamesTheModuleAndStops) {
  FakeSystem sys;
  sys.files["/etc/kata-cpp/modules"] = "/m/a.ko\n/m/b.ko\n/m/c.ko\n";
  sys.fail_module = "/m/b.ko";
  absl::Status s = LoadModules(sys, InitOptions{});
  EXPECT_THAT(std::string(s.message()), HasSubstr("/m/b.ko"));
  EXPECT_EQ(sys.loaded.count("/m/c.ko"), 0u);
}

TEST(LoadModulesTest, BadListNamesTheFile) {
  FakeSystem sys;
  sys.files["/etc/kata-cpp/modules"] = "nope\n";
  absl::Status s = LoadModules(sys, InitOptions{});
  EXPECT_THAT(std::string(s.message()), HasSubstr("/etc/kata-cpp/modules: modules list line 1"));
}

TEST(SetUpTest, ConsoleMountsCgroupsModulesInOrder) {
  FakeSystem sys;
  sys.files["/proc/filesystems"] = kFilesystemsV2;
  sys.files["/etc/kata-cpp/modules"] = "/m/a.ko\n";
  ASSERT_TRUE(init::SetUp(sys, InitOptions{}).ok());
  EXPECT_EQ(sys.calls[0], "console /dev/console");
  EXPECT_EQ(sys.calls[1], "switch_root");
  EXPECT_EQ(sys.calls.back(), "insmod /m/a.ko");
  EXPECT_EQ(sys.mounted["/sys/fs/cgroup"], "cgroup2");
  EXPECT_THAT(sys.calls, ::testing::Not(::testing::Contains("poweroff")));
}

// console=hvc0: /dev/console opens only once virtio_console is loaded. Stdio goes to the
// UART once /dev is mounted, then to the console after the modules.
TEST(SetUpTest, ConsoleFromAModuleStartsOnTheUartThenMoves) {
  FakeSystem sys;
  sys.files["/proc/filesystems"] = kFilesystemsV2;
  sys.files["/etc/kata-cpp/modules"] = "/m/virtio_console.ko\n";
  sys.consoles_present = {"/dev/ttyS0"};
  ASSERT_TRUE(init::SetUp(sys, InitOptions{}).ok());
  auto at = [&](const std::string& prefix) {  // index of the first call starting with it
    return std::find_if(sys.calls.begin(), sys.calls.end(),
                        [&](const std::string& c) { return absl::StartsWith(c, prefix); }) -
           sys.calls.begin();
  };
  EXPECT_EQ(sys.calls[0], "console /dev/console");
  EXPECT_LT(at("mount devtmpfs /dev"), at("console /dev/ttyS0"));
  EXPECT_LT(at("console /dev/ttyS0"), at("insmod /m/virtio_console.ko"));
  EXPECT_LT(at("console /dev/ttyS0"), static_cast<long>(sys.calls.size()));
  EXPECT_THAT(sys.calls, ::testing::Not(::testing::Contains("console /dev/ttyAMA0")));
  EXPECT_EQ(sys.calls.back(), "console! /dev/console");
}

TEST(SetUpTest, AConsoleThatOpensAtOnceIsNotReplaced) {
  FakeSystem sys;
  sys.files["/proc/filesystems"] = kFilesystemsV2;
  ASSERT_TRUE(init::SetUp(sys, InitOptions{}).ok());
  EXPECT_THAT(sys.calls, ::testing::Not(::testing::Contains("console /dev/ttyS0")));
  EXPECT_THAT(sys.calls, ::testing::Not(::testing::Contains("console! /dev/console")));
}

TEST(SetUpTest, NoSwitchRootUnderAnotherRoot) {
  FakeSystem sys;
  InitOptions opts;
  opts.root = "/tmp/r";
  sys.files["/tmp/r/proc/filesystems"] = kFilesystemsV2;
  ASSERT_TRUE(init::SetUp(sys, opts).ok());
  EXPECT_THAT(sys.calls, ::testing::Not(::testing::Contains("switch_root")));
}

// The real implementation on a temporary directory (no root needed for these calls).
TEST(RealSystemTest, MkdirAllAndReadFile) {
  kata::testing::TempDir tmp;
  const std::string& dir = tmp.path();
  System& sys = RealSystem();
  ASSERT_TRUE(sys.MkdirAll(dir + "/a/b/c").ok());
  ASSERT_TRUE(sys.MkdirAll(dir + "/a/b/c").ok());
  ASSERT_TRUE(WriteStringToFile(dir + "/a/f", "hello\n").ok());
  absl::StatusOr<std::string> text = sys.ReadFile(dir + "/a/f");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "hello\n");
  EXPECT_TRUE(absl::IsNotFound(sys.ReadFile(dir + "/nope").status()));
  absl::Status mod = sys.LoadModule(dir + "/nope.ko", "");
  EXPECT_TRUE(absl::IsNotFound(mod));
  EXPECT_THAT(std::string(mod.message()), HasSubstr("nope.ko"));
}

}  // namespace
}  // namespace init
}  // namespace agent
}  // namespace kata
