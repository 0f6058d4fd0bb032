// cgroup v2 manager, in two parts:
// - V2RealTest: THIS host's real cgroup2 mount (/sys/fs/cgroup/unified on the v1 hybrid
//   host; root needed). Here its root enables no controller for children (cgroup.controllers
//   lists only hugetlb, cgroup.subtree_control is empty, and the tests do not change the
//   host's root), so the real tests cover what core cgroup2 offers without controllers:
//   create, cgroup.procs, cgroup.freeze/cgroup.events, cpu.stat, unified core keys, destroy,
//   and the "controller not available" error path (a pids limit fails cleanly).
// - V2FakeTest: the memory/cpu/pids/io/hugetlb file writes and the stats parsing, against a
//   fake directory tree under TEST_TMPDIR, because those controllers are absent here.
#include "src/agent/cgroups/v2.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/cgroups/detect.h"
#include "src/agent/cgroups/internal/test_util.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using testing::KillAndRemove;
using testing::ReadTrimmed;

constexpr char kUnified[] = "/sys/fs/cgroup/unified";
constexpr int64_t kMiB = 1 << 20;

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

class V2RealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "these tests need root (they create real cgroups)";
    absl::StatusOr<CgroupVersion> v = Detect(kUnified);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_EQ(*v, CgroupVersion::kV2) << kUnified << " is not a cgroup2 mount on this host";
    testing::BecomeSubreaper();
    name_ = testing::RandomName();
    path_ = name_ + "/c1";
    dir_ = absl::StrCat(kUnified, "/", path_);
    mgr_ = NewV2Manager(kUnified, /*enable_controllers=*/false);
  }
  void TearDown() override {
    EXPECT_TRUE(KillAndRemove(dir_)) << "left behind: " << dir_;
    EXPECT_TRUE(KillAndRemove(absl::StrCat(kUnified, "/", name_))) << "left behind: " << name_;
  }
  std::string File(const char* f) const { return ReadTrimmed(absl::StrCat(dir_, "/", f)); }
  bool AnyLeft() const { return Exists(absl::StrCat(kUnified, "/", name_)); }

  std::string name_, path_, dir_;
  std::unique_ptr<CgroupManager> mgr_;
};

TEST_F(V2RealTest, ControllersOfThisHostAndTheMissingControllerPath) {
  std::string avail = ReadTrimmed(absl::StrCat(kUnified, "/cgroup.controllers"));
  std::string enabled = ReadTrimmed(absl::StrCat(kUnified, "/cgroup.subtree_control"));
  std::cout << "cgroup2 at " << kUnified << ": cgroup.controllers='" << avail
            << "' cgroup.subtree_control='" << enabled
            << "'; limits of absent controllers are tested in V2FakeTest\n";
  RecordProperty("v2_subtree_control", enabled);
  oci::LinuxResources r;
  r.pids.emplace();
  r.pids->limit = 7;
  absl::Status s = mgr_->Create(path_, r);
  if (absl::StrContains(enabled, "pids")) {
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(File("pids.max"), "7");
  } else {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat("cgroup ", dir_, ": pids.max")));
    EXPECT_FALSE(AnyLeft()) << "a failed Create left " << name_;
  }
}

TEST_F(V2RealTest, PidsFreezeThawStatsDestroy) {
  ASSERT_TRUE(mgr_->Create(path_, {}).ok());
  EXPECT_THAT(mgr_->Dirs(), Contains(dir_));
  pid_t pid = testing::SpawnShellIn(*mgr_, "while :; do :; done");
  ASSERT_GT(pid, 0);
  absl::StatusOr<std::vector<pid_t>> pids = mgr_->Pids();
  ASSERT_TRUE(pids.ok()) << pids.status();
  EXPECT_THAT(*pids, Contains(pid));

  ::usleep(100 * 1000);
  absl::StatusOr<CgroupStats> st = mgr_->Stats();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_GT(st->cpu_usage_ns, 0u);

  absl::Status s = mgr_->Freeze(absl::Seconds(5));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(File("cgroup.freeze"), "1");
  EXPECT_THAT(File("cgroup.events"), HasSubstr("frozen 1"));
  absl::StatusOr<CgroupStats> a = mgr_->Stats();
  ::usleep(100 * 1000);
  absl::StatusOr<CgroupStats> b = mgr_->Stats();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LT(b->cpu_usage_ns - a->cpu_usage_ns, 5000000u) << "a frozen busy loop ran";
  s = mgr_->Thaw(absl::Seconds(5));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(File("cgroup.events"), HasSubstr("frozen 0"));

  s = mgr_->Destroy();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat(pid)));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  s = mgr_->Destroy();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_FALSE(AnyLeft());
}

TEST_F(V2RealTest, UnifiedKeysAreWrittenVerbatim) {
  oci::LinuxResources r;
  r.unified.emplace();
  (*r.unified)["cgroup.max.descendants"] = "3";
  (*r.unified)["cgroup.max.depth"] = "2";
  absl::Status s = mgr_->Create(path_, r);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(File("cgroup.max.descendants"), "3");
  EXPECT_EQ(File("cgroup.max.depth"), "2");
  // A bad value is the kernel's refusal, named by file; the earlier key is restored.
  (*r.unified)["cgroup.max.descendants"] = "5";
  (*r.unified)["cgroup.max.depth"] = "-7";
  s = mgr_->Apply(r);
  EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat(dir_, ": write cgroup.max.depth")));
  EXPECT_EQ(File("cgroup.max.descendants"), "3");
}

// --- fake tree ---

class V2FakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Put(root_, "cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
    Put(root_, "cgroup.subtree_control", "");
    parent_ = root_ + "/pod";
    dir_ = parent_ + "/c1";
    ASSERT_EQ(::mkdir(parent_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
    Put(parent_, "cgroup.controllers", "cpu memory pids\n");
    Put(parent_, "cgroup.subtree_control", "");
    for (const char* f :
         {"memory.max", "memory.low", "memory.swap.max", "memory.high", "cpu.weight", "cpuset.cpus",
          "cpuset.mems", "pids.max", "io.max", "io.weight", "hugetlb.2MB.max", "cgroup.procs"}) {
      Put(dir_, f, "");
    }
    Put(dir_, "cpu.max", "max 100000\n");
    Put(dir_, "memory.current", "123456\n");
    Put(dir_, "memory.peak", "234567\n");
    Put(dir_, "memory.events", "low 0\nhigh 0\nmax 4\noom 3\noom_kill 2\n");
    Put(dir_, "cpu.stat", "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\n");
    Put(dir_, "pids.current", "3\n");
    Put(dir_, "cgroup.freeze", "0\n");
    Put(dir_, "cgroup.events", "populated 1\nfrozen 0\n");
    // No eBPF on a fake tree: record what would be installed.
    mgr_ = NewV2Manager(
        root_, /*enable_controllers=*/true,
        [this](const std::string& dir, const std::vector<oci::LinuxDeviceCgroup>& rules,
               const UniqueFd&) -> absl::StatusOr<UniqueFd> {
          if (!install_error_.ok()) return install_error_;
          installed_.push_back({dir, rules.size()});
          return UniqueFd(::dup(0));
        });
  }
  static void Put(const std::string& dir, const char* f, const std::string& v) {
    ASSERT_TRUE(WriteStringToFile(absl::StrCat(dir, "/", f), v).ok()) << dir << "/" << f;
  }
  std::string File(const char* f) const { return ReadTrimmed(absl::StrCat(dir_, "/", f)); }

  kata::testing::TempDir tmp_;
  const std::string root_ = tmp_.path();
  std::string parent_, dir_;
  std::unique_ptr<CgroupManager> mgr_;
  absl::Status install_error_;
  std::vector<std::pair<std::string, size_t>> installed_;  // dir, number of rules
};

TEST_F(V2FakeTest, DeviceFilterIsInstalledByCreateAndReplacedByDeviceRules) {
  ASSERT_TRUE(mgr_->Create("pod/c1", {}).ok());
  const size_t defaults = 12;  // deny all + 11 defaults
  ASSERT_EQ(installed_.size(), 1u);
  EXPECT_EQ(installed_[0], std::make_pair(dir_, defaults));
  oci::LinuxResources r;
  r.pids.emplace();
  r.pids->limit = 5;
  ASSERT_TRUE(mgr_->Apply(r).ok());
  EXPECT_EQ(installed_.size(), 1u) << "an Apply without devices keeps the filter";
  r.devices.emplace(1);
  (*r.devices)[0].allow = true;
  ASSERT_TRUE(mgr_->Apply(r).ok());
  ASSERT_EQ(installed_.size(), 2u);
  EXPECT_EQ(installed_[1].second, defaults + 1);
  // A failed write after the new filter: the previous rules go back.
  r.pids->limit = 6;
  ::unlink((dir_ + "/pids.max").c_str());
  r.devices->resize(3);
  EXPECT_EQ(mgr_->Apply(r).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(installed_.size(), 4u);
  EXPECT_EQ(installed_[2].second, defaults + 3);
  EXPECT_EQ(installed_[3].second, defaults + 1) << "the previous rules are not back";
  ASSERT_TRUE(WriteStringToFile(dir_ + "/pids.max", "").ok());
}

// Controllers already on at a level are not written again; the missing ones go in one write.
TEST_F(V2FakeTest, CreateWritesOnlyTheMissingControllers) {
  Put(root_, "cgroup.subtree_control", "cpuset cpu io memory hugetlb pids\n");
  Put(parent_, "cgroup.subtree_control", "memory\n");
  ASSERT_TRUE(mgr_->Create("pod/c1", {}).ok());
  EXPECT_EQ(ReadTrimmed(root_ + "/cgroup.subtree_control"), "cpuset cpu io memory hugetlb pids")
      << "all on: nothing written";
  EXPECT_EQ(ReadTrimmed(parent_ + "/cgroup.subtree_control"), "+cpu +pids");
}

TEST_F(V2FakeTest, NoDeviceFilterNoCgroup) {
  install_error_ = absl::PermissionDeniedError("bpf: EPERM");
  absl::Status s = mgr_->Create("pod/c2", {});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_FALSE(Exists(parent_ + "/c2")) << "a failed Create left its directory";
}

TEST_F(V2FakeTest, ApplyWritesV2FilesAndEnablesControllers) {
  oci::LinuxResources r;
  r.memory.emplace();
  r.memory->limit = 64 * kMiB;
  r.memory->swap = 128 * kMiB;
  r.memory->reservation = 32 * kMiB;
  r.cpu.emplace();
  r.cpu->shares = 1024;
  r.cpu->quota = 50000;
  r.cpu->period = 200000;
  r.cpu->cpus = "0-1";
  r.cpu->mems = "0";
  r.pids.emplace();
  r.pids->limit = 10;
  r.block_io.emplace();
  r.block_io->weight = 1000;
  r.block_io->throttle_read_bps_device.emplace(1);
  (*r.block_io->throttle_read_bps_device)[0].major = 8;
  (*r.block_io->throttle_read_bps_device)[0].minor = 0;
  (*r.block_io->throttle_read_bps_device)[0].rate = 1048576;
  r.hugepage_limits.emplace(1);
  (*r.hugepage_limits)[0].page_size = "2MB";
  (*r.hugepage_limits)[0].limit = 4 * kMiB;
  r.unified.emplace();
  (*r.unified)["memory.high"] = "50000000";
  absl::Status s = mgr_->Create("pod/c1", r);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(File("memory.max"), absl::StrCat(64 * kMiB));
  EXPECT_EQ(File("memory.swap.max"), absl::StrCat(64 * kMiB)) << "OCI swap is memory+swap";
  EXPECT_EQ(File("memory.low"), absl::StrCat(32 * kMiB));
  EXPECT_EQ(File("cpu.weight"), "39");
  EXPECT_EQ(File("cpu.max"), "50000 200000");
  EXPECT_EQ(File("cpuset.cpus"), "0-1");
  EXPECT_EQ(File("cpuset.mems"), "0");
  EXPECT_EQ(File("pids.max"), "10");
  EXPECT_EQ(File("io.weight"), "default 10000");
  EXPECT_EQ(File("io.max"), "8:0 rbps=1048576");
  EXPECT_EQ(File("hugetlb.2MB.max"), absl::StrCat(4 * kMiB));
  EXPECT_EQ(File("memory.high"), "50000000");
  // Each level got its controllers in one write.
  EXPECT_EQ(ReadTrimmed(root_ + "/cgroup.subtree_control"),
            "+cpuset +cpu +io +memory +hugetlb +pids");
  EXPECT_EQ(ReadTrimmed(parent_ + "/cgroup.subtree_control"), "+cpu +memory +pids");

  // Only the period: the quota is kept. Unlimited values are "max".
  oci::LinuxResources u;
  u.cpu.emplace();
  u.cpu->period = 100000;
  u.memory.emplace();
  u.memory->limit = -1;
  u.memory->swap = -1;
  u.pids.emplace();
  u.pids->limit = -1;
  s = mgr_->Apply(u);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(File("cpu.max"), "50000 100000");
  EXPECT_EQ(File("memory.max"), "max");
  EXPECT_EQ(File("memory.swap.max"), "max");
  EXPECT_EQ(File("pids.max"), "max");
}

TEST_F(V2FakeTest, MissingFileFailsBeforeAnyWrite) {
  ASSERT_TRUE(mgr_->Create("pod/c1", {}).ok());
  oci::LinuxResources r;
  r.memory.emplace();
  r.memory->limit = 64 * kMiB;
  r.unified.emplace();
  (*r.unified)["rdma.max"] = "mlx 1";
  absl::Status s = mgr_->Apply(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat("cgroup ", dir_, ": rdma.max")));
  EXPECT_EQ(File("memory.max"), "") << "written although the plan could not complete";
}

TEST_F(V2FakeTest, StatsParseV2Files) {
  ASSERT_TRUE(mgr_->Create("pod/c1", {}).ok());
  Put(dir_, "memory.max", "max\n");
  Put(dir_, "pids.max", "20\n");
  absl::StatusOr<CgroupStats> st = mgr_->Stats();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->memory_usage, 123456u);
  EXPECT_EQ(st->memory_max_usage, 234567u);
  EXPECT_EQ(st->memory_limit, kUnlimited);
  EXPECT_EQ(st->cpu_usage_ns, 5000000u);
  EXPECT_EQ(st->cpu_user_ns, 3000000u);
  EXPECT_EQ(st->cpu_system_ns, 2000000u);
  EXPECT_EQ(st->pids_current, 3u);
  EXPECT_EQ(st->pids_limit, 20u);
  EXPECT_EQ(st->oom_kill_count, 2u);
}

TEST_F(V2FakeTest, FreezeTimesOutAndThaws) {
  ASSERT_TRUE(mgr_->Create("pod/c1", {}).ok());
  // Nothing updates cgroup.events in a fake tree: the wait must give up and undo.
  absl::Status s = mgr_->Freeze(absl::Milliseconds(50));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(dir_));
  EXPECT_EQ(File("cgroup.freeze"), "0");
}

TEST_F(V2FakeTest, RootWithoutCgroupControllersIsRefused) {
  auto m = NewV2Manager(parent_ + "/c1", true);
  ::unlink((parent_ + "/c1/cgroup.controllers").c_str());
  EXPECT_EQ(m->Create("x", {}).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace cgroups
}  // namespace agent
}  // namespace kata
