// cgroup v1 manager against THIS host's real v1 hierarchies (/sys/fs/cgroup/<controller>);
// needs root and a v1 (or hybrid) host: on any other host the fixture FAILS, it does not skip.
// Every test works in /sys/fs/cgroup/<controller>/kata-test-<random>/c1 and TearDown kills
// whatever is left there and removes the directories.
#include "src/agent/cgroups/v1.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/cgroups/detect.h"
#include "src/agent/cgroups/internal/test_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using testing::KillAndRemove;
using ::testing::Not;
using testing::ReadTrimmed;

constexpr char kRoot[] = "/sys/fs/cgroup";
constexpr const char* kAll[] = {"memory",  "cpu",   "cpuacct", "cpuset", "pids",
                                "freezer", "blkio", "hugetlb", "devices"};
constexpr int64_t kMiB = 1 << 20;

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

class V1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<CgroupVersion> v = Detect(kRoot);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_EQ(*v, CgroupVersion::kV1)
        << kRoot << " is a cgroup2 mount: these tests need a v1/hybrid host (see v2_test)";
    ASSERT_EQ(::geteuid(), 0u) << "these tests need root (they create real cgroups)";
    for (const char* c : {"memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices"}) {
      ASSERT_TRUE(Exists(absl::StrCat(kRoot, "/", c, "/cgroup.procs")))
          << "cgroup v1 controller " << c << " is not mounted at " << kRoot << "/" << c;
    }
    testing::BecomeSubreaper();
    name_ = testing::RandomName();
    path_ = name_ + "/c1";
    mgr_ = NewV1Manager(kRoot);
  }

  void TearDown() override {
    for (const char* c : kAll) {
      std::string base = absl::StrCat(kRoot, "/", c, "/", name_);
      EXPECT_TRUE(KillAndRemove(base + "/c1")) << "left behind: " << base << "/c1";
      EXPECT_TRUE(KillAndRemove(base)) << "left behind: " << base;
    }
  }

  std::string Dir(const char* controller) const {
    return absl::StrCat(kRoot, "/", controller, "/", path_);
  }
  std::string File(const char* controller, const char* file) const {
    return ReadTrimmed(absl::StrCat(Dir(controller), "/", file));
  }
  bool AnyLeft() const {
    for (const char* c : kAll) {
      if (Exists(absl::StrCat(kRoot, "/", c, "/", name_))) return true;
    }
    return false;
  }

  static oci::LinuxResources Limits() {
    oci::LinuxResources r;
    r.memory.emplace();
    r.memory->limit = 64 * kMiB;
    r.memory->swap = 128 * kMiB;
    r.memory->reservation = 32 * kMiB;
    r.cpu.emplace();
    r.cpu->shares = 512;
    r.cpu->quota = 50000;
    r.cpu->period = 100000;
    r.cpu->cpus = "0";
    r.pids.emplace();
    r.pids->limit = 10;
    return r;
  }

  void KillAndReap(pid_t pid) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }

  std::string name_;
  std::string path_;
  std::unique_ptr<CgroupManager> mgr_;
};

TEST(DetectTest, HybridHostIsV1AndUnifiedIsV2) {
  absl::StatusOr<CgroupVersion> root = Detect(kRoot);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, CgroupVersion::kV1) << "this host is documented as v1 hybrid";
  absl::StatusOr<CgroupVersion> unified = Detect("/sys/fs/cgroup/unified");
  ASSERT_TRUE(unified.ok()) << unified.status();
  EXPECT_EQ(*unified, CgroupVersion::kV2);
  absl::StatusOr<std::unique_ptr<CgroupManager>> m = NewCgroupManager({});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->version(), CgroupVersion::kV1);
  EXPECT_THAT(Detect("/nonexistent-cgroup-root").status().message(),
              HasSubstr("/nonexistent-cgroup-root"));
}

TEST_F(V1Test, CallsBeforeCreateAreRefused) {
  EXPECT_EQ(mgr_->AddProcess(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(mgr_->Destroy().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(mgr_->Create("../x", {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mgr_->Create("/abs", {}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(V1Test, CreateApplyReadBackUpdateDestroy) {
  ASSERT_TRUE(mgr_->Create(path_, Limits()).ok());
  EXPECT_EQ(File("memory", "memory.limit_in_bytes"), absl::StrCat(64 * kMiB));
  EXPECT_EQ(File("memory", "memory.memsw.limit_in_bytes"), absl::StrCat(128 * kMiB));
  EXPECT_EQ(File("memory", "memory.soft_limit_in_bytes"), absl::StrCat(32 * kMiB));
  EXPECT_EQ(File("cpu", "cpu.shares"), "512");
  EXPECT_EQ(File("cpu", "cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(File("cpu", "cpu.cfs_period_us"), "100000");
  EXPECT_EQ(File("cpuset", "cpuset.cpus"), "0");
  EXPECT_EQ(File("pids", "pids.max"), "10");
  EXPECT_TRUE(Exists(Dir("freezer")));

  // Shrinking memory+swap below the old plain limit needs the limit lowered first.
  oci::LinuxResources update;
  update.memory.emplace();
  update.memory->limit = 16 * kMiB;
  update.memory->swap = 16 * kMiB;
  update.pids.emplace();
  update.pids->limit = -1;
  absl::Status s = mgr_->Apply(update);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(File("memory", "memory.limit_in_bytes"), absl::StrCat(16 * kMiB));
  EXPECT_EQ(File("memory", "memory.memsw.limit_in_bytes"), absl::StrCat(16 * kMiB));
  EXPECT_EQ(File("pids", "pids.max"), "max");
  // ... and growing it again needs memsw raised first.
  update.memory->limit = 96 * kMiB;
  update.memory->swap = 200 * kMiB;
  s = mgr_->Apply(update);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(File("memory", "memory.limit_in_bytes"), absl::StrCat(96 * kMiB));

  s = mgr_->Destroy();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(AnyLeft()) << "Destroy left a directory of " << name_;
}

TEST_F(V1Test, PidsStatsAndDestroyRefusesPopulated) {
  ASSERT_TRUE(mgr_->Create(path_, Limits()).ok());
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  UniqueFd ready_read(ready[0]);
  UniqueFd ready_write(ready[1]);
  pid_t pid = testing::SpawnIn(*mgr_, [&] {
    const size_t n = 24 * kMiB;
    char* p = static_cast<char*>(::malloc(n));
    std::memset(p, 1, n);
    (void)!::write(ready_write.get(), "r", 1);
    for (;;) ::pause();
  });
  ASSERT_GT(pid, 0);
  ready_write.reset();
  char c;
  ASSERT_EQ(::read(ready_read.get(), &c, 1), 1) << "child did not touch its memory";

  absl::StatusOr<std::vector<pid_t>> pids = mgr_->Pids();
  ASSERT_TRUE(pids.ok()) << pids.status();
  EXPECT_THAT(*pids, Contains(pid));

  absl::StatusOr<CgroupStats> st = mgr_->Stats();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_GE(st->memory_usage, static_cast<uint64_t>(20 * kMiB));
  EXPECT_GE(st->memory_max_usage, st->memory_usage);
  EXPECT_EQ(st->memory_limit, static_cast<uint64_t>(64 * kMiB));
  EXPECT_GT(st->cpu_usage_ns, 0u);
  EXPECT_EQ(st->pids_current, 1u);
  EXPECT_EQ(st->pids_limit, 10u);
  EXPECT_EQ(st->oom_kill_count, 0u);

  absl::Status s = mgr_->Destroy();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat(pid)));
  EXPECT_THAT(std::string(s.message()), HasSubstr(name_));
  EXPECT_TRUE(Exists(Dir("memory")));

  KillAndReap(pid);
  s = mgr_->Destroy();
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_FALSE(AnyLeft());
}

TEST_F(V1Test, ForkLoopStopsAtPidsLimit) {
  oci::LinuxResources r;
  r.pids.emplace();
  r.pids->limit = 5;
  ASSERT_TRUE(mgr_->Create(path_, r).ok());
  std::string count = absl::StrCat(::testing::TempDir(), "/", name_, ".count");
  // The shell (1) plus its sleeps may not exceed 5 tasks; the loop is bounded at 20 anyway.
  pid_t sh = testing::SpawnShellIn(
      *mgr_, absl::StrCat("n=0; while [ $n -lt 20 ]; do sleep 60 & n=$((n+1)); echo $n > ", count,
                          "; done; exit 0"));
  ASSERT_GT(sh, 0);
  int status = testing::WaitWithTimeout(sh, 10000);
  ASSERT_NE(status, -1) << "the fork loop did not end";
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the shell forked 20 times: the pids limit did not stop it";
  EXPECT_EQ(ReadTrimmed(count), "4") << "forks that succeeded";
  absl::StatusOr<CgroupStats> st = mgr_->Stats();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_LE(st->pids_current, 5u);
  EXPECT_EQ(st->pids_limit, 5u);
  EXPECT_EQ(File("pids", "pids.events"), "max 1") << "the kernel counted the refused fork";
  ::unlink(count.c_str());
}

TEST_F(V1Test, FreezeThaw) {
  ASSERT_TRUE(mgr_->Create(path_, {}).ok());
  pid_t pid = testing::SpawnShellIn(*mgr_, "while :; do :; done");
  ASSERT_GT(pid, 0);
  absl::Status s = mgr_->Freeze(absl::Seconds(5));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(File("freezer", "freezer.state"), "FROZEN");
  absl::StatusOr<CgroupStats> a = mgr_->Stats();
  ::usleep(100 * 1000);
  absl::StatusOr<CgroupStats> b = mgr_->Stats();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->cpu_usage_ns, b->cpu_usage_ns) << "a frozen busy loop used cpu";
  s = mgr_->Thaw(absl::Seconds(5));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(File("freezer", "freezer.state"), "THAWED");
  ::usleep(100 * 1000);
  absl::StatusOr<CgroupStats> c = mgr_->Stats();
  ASSERT_TRUE(c.ok());
  EXPECT_GT(c->cpu_usage_ns, b->cpu_usage_ns) << "the thawed busy loop did not run";
  KillAndReap(pid);
}

TEST_F(V1Test, DeviceRules) {
  oci::LinuxResources r;
  r.devices.emplace(2);
  (*r.devices)[0].allow = false;  // deny all
  (*r.devices)[1].allow = true;
  (*r.devices)[1].type = "c";
  (*r.devices)[1].major = 1;
  (*r.devices)[1].minor = 3;
  (*r.devices)[1].access = "rwm";
  ASSERT_TRUE(mgr_->Create(path_, r).ok());
  // Deny all, runc's defaults, then the spec's rules (deny all again, /dev/null).
  EXPECT_EQ(File("devices", "devices.list"), "c 1:3 rwm");

  // Without rules in the spec: the defaults only; an Apply without devices keeps them.
  ASSERT_TRUE(mgr_->Apply(oci::LinuxResources{}).ok());
  EXPECT_EQ(File("devices", "devices.list"), "c 1:3 rwm");
  r.devices->erase(r.devices->begin());  // only "allow c 1:3"
  ASSERT_TRUE(mgr_->Apply(r).ok());
  EXPECT_EQ(File("devices", "devices.list"),
            "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\n"
            "c 5:0 rwm\nc 5:1 rwm\nc 5:2 rwm\nc 136:* rwm");
}

TEST_F(V1Test, DevicesDenyByDefault) {
  ASSERT_TRUE(mgr_->Create(path_, {}).ok());
  const std::string list = File("devices", "devices.list");
  EXPECT_THAT(list, HasSubstr("c 1:3 rwm"));
  EXPECT_THAT(list, HasSubstr("c 136:* rwm"));
  EXPECT_THAT(list, Not(HasSubstr("a *:* rwm")));
  EXPECT_THAT(list, Not(HasSubstr("c 1:11")));
}

TEST_F(V1Test, OomKillIsCountedAndSignalled) {
  oci::LinuxResources r;
  r.memory.emplace();
  r.memory->limit = 16 * kMiB;
  r.memory->swap = 16 * kMiB;  // no swap: the OOM killer must act
  ASSERT_TRUE(mgr_->Create(path_, r).ok());
  absl::StatusOr<UniqueFd> efd = mgr_->OpenOomEventFd();
  ASSERT_TRUE(efd.ok()) << efd.status();
  pid_t pid = testing::SpawnIn(*mgr_, [] {
    const size_t n = 64 * kMiB;  // bounded: the cgroup allows 16 MiB
    char* p = static_cast<char*>(::malloc(n));
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    ::_exit(0);
  });
  ASSERT_GT(pid, 0);
  int status = testing::WaitWithTimeout(pid, 10000);
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  struct pollfd pfd = {efd->get(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 5000), 1) << "no OOM event on the eventfd";
  efd->reset();
  absl::StatusOr<uint64_t> kills = mgr_->OomKillCount();
  ASSERT_TRUE(kills.ok()) << kills.status();
  EXPECT_GE(*kills, 1u);
}

TEST_F(V1Test, InvalidValuesChangeNothing) {
  oci::LinuxResources bad = Limits();
  bad.memory->swap = 1 * kMiB;  // below the limit
  absl::Status s = mgr_->Create(path_, bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_FALSE(AnyLeft()) << "a refused Create made directories";

  oci::LinuxResources v2only;
  v2only.unified.emplace();
  (*v2only.unified)["memory.high"] = "1000000";
  EXPECT_EQ(mgr_->Create(path_, v2only).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(AnyLeft());
}

TEST_F(V1Test, KernelRefusalRemovesWhatCreateMade) {
  oci::LinuxResources r = Limits();
  r.cpu->cpus = "4095";  // valid syntax, no such cpu: the kernel refuses it
  absl::Status s = mgr_->Create(path_, r);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(absl::StrCat("cgroup ", Dir("cpuset"), ": write cpuset.cpus: E")));
  EXPECT_FALSE(AnyLeft()) << "a failed Create left directories of " << name_;
}

TEST_F(V1Test, FailedApplyRestoresWrittenValues) {
  ASSERT_TRUE(mgr_->Create(path_, Limits()).ok());
  oci::LinuxResources r;
  r.memory.emplace();
  r.memory->limit = 32 * kMiB;  // written first ...
  r.cpu.emplace();
  r.cpu->cpus = "4095";  // ... then this fails
  absl::Status s = mgr_->Apply(r);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("cpuset.cpus"));
  EXPECT_EQ(File("memory", "memory.limit_in_bytes"), absl::StrCat(64 * kMiB))
      << "the memory limit was not restored";
  EXPECT_EQ(File("cpuset", "cpuset.cpus"), "0");
}

}  // namespace
}  // namespace cgroups
}  // namespace agent
}  // namespace kata
