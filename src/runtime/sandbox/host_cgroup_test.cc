// PodCgroup on this host's real cgroup hierarchies (root; v1 here, with the hybrid unified
// v2 mount treated as a v2 hierarchy).
#include "src/runtime/sandbox/host_cgroup.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"

namespace kata::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;

std::vector<std::string> Lines(const std::string& path) {
  absl::StatusOr<std::string> s = ReadFileToString(path);
  if (!s.ok()) return {};
  return absl::StrSplit(*s, '\n', absl::SkipEmpty());
}

class PodCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test makes cgroups: run it as root";
    absl::StatusOr<std::vector<CgroupHierarchy>> h = HostCgroupHierarchies();
    ASSERT_TRUE(h.ok()) << h.status();
    hierarchies_ = *h;
    base_ = absl::StrCat("kata-cg-test-", getpid());
    child_ = fork();
    ASSERT_GE(child_, 0);
    if (child_ == 0) {
      pause();
      _exit(0);
    }
  }
  void TearDown() override {
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
  }
  // The directory `rel` (relative to this process's cgroup) in every hierarchy.
  std::vector<std::string> DirsOf(const std::string& rel) const {
    std::vector<std::string> out;
    for (const CgroupHierarchy& h : hierarchies_) {
      out.push_back(absl::StrCat(h.mount, h.self_path == "/" ? "" : h.self_path, "/", rel));
    }
    return out;
  }
  void KillChild() {
    kill(child_, SIGKILL);
    waitpid(child_, nullptr, 0);
    child_ = -1;
  }

  std::vector<CgroupHierarchy> hierarchies_;
  std::string base_;
  pid_t child_ = -1;
};

TEST_F(PodCgroupTest, HoldsTheProcessAndIsGoneAfterRemove) {
  absl::StatusOr<std::unique_ptr<PodCgroup>> cg = PodCgroup::Create(base_ + "/pod", hierarchies_);
  ASSERT_TRUE(cg.ok()) << cg.status();
  EXPECT_EQ((*cg)->dirs(), DirsOf(base_ + "/pod"));
  ASSERT_TRUE((*cg)->Add(child_).ok());
  for (size_t i = 0; i < hierarchies_.size(); ++i) {
    const std::string& dir = (*cg)->dirs()[i];
    EXPECT_THAT(Lines(dir + (hierarchies_[i].v2 ? "/cgroup.procs" : "/tasks")),
                Contains(absl::StrCat(child_)))
        << dir;
  }
  // A pod cgroup with a process in it is never removed.
  absl::Status busy = (*cg)->Remove();
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(busy.message(), HasSubstr(absl::StrCat("still has processes: ", child_)));
  for (const std::string& d : DirsOf(base_ + "/pod")) EXPECT_TRUE(fs::exists(d)) << d;
  KillChild();
  ASSERT_TRUE((*cg)->Remove().ok());
  for (const std::string& d : DirsOf(base_)) EXPECT_FALSE(fs::exists(d)) << d;
  EXPECT_TRUE((*cg)->Remove().ok());  // idempotent
}

TEST_F(PodCgroupTest, EnterMovesThisProcessAndRemoveMovesItBack) {
  const std::string before = *ReadFileToString("/proc/self/cgroup");
  absl::StatusOr<std::unique_ptr<PodCgroup>> cg = PodCgroup::Create(base_, hierarchies_);
  ASSERT_TRUE(cg.ok()) << cg.status();
  ASSERT_TRUE((*cg)->Enter().ok());
  EXPECT_THAT(*ReadFileToString("/proc/self/cgroup"), HasSubstr("/" + base_ + "\n"));
  // A child started now (as QEMU by the shim) is in the pod cgroup too.
  pid_t kid = fork();
  if (kid == 0) {
    pause();
    _exit(0);
  }
  EXPECT_THAT(Lines((*cg)->dirs()[0] + "/cgroup.procs"), Contains(absl::StrCat(kid)));
  kill(kid, SIGKILL);
  waitpid(kid, nullptr, 0);
  ASSERT_TRUE((*cg)->Remove().ok());
  EXPECT_EQ(*ReadFileToString("/proc/self/cgroup"), before);
  for (const std::string& d : DirsOf(base_)) EXPECT_FALSE(fs::exists(d)) << d;
}

TEST_F(PodCgroupTest, OnlyWhatItMadeIsRemoved) {
  for (const std::string& d : DirsOf(base_)) ASSERT_EQ(mkdir(d.c_str(), 0755), 0) << d;
  {
    absl::StatusOr<std::unique_ptr<PodCgroup>> cg = PodCgroup::Create(base_ + "/a/b", hierarchies_);
    ASSERT_TRUE(cg.ok()) << cg.status();
    ASSERT_TRUE((*cg)->Remove().ok());
  }
  for (const std::string& d : DirsOf(base_)) {
    EXPECT_TRUE(fs::exists(d)) << d;  // the kubelet's (here: the test's) parent stays
    EXPECT_FALSE(fs::exists(d + "/a")) << d;
    rmdir(d.c_str());
  }
}

TEST_F(PodCgroupTest, ALevelAnotherPodUsesStays) {
  absl::StatusOr<std::unique_ptr<PodCgroup>> a = PodCgroup::Create(base_ + "/a", hierarchies_);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::unique_ptr<PodCgroup>> b = PodCgroup::Create(base_ + "/b", hierarchies_);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*a)->Remove().ok());  // made base_, but b is below it
  for (const std::string& d : DirsOf(base_)) {
    EXPECT_FALSE(fs::exists(d + "/a")) << d;
    EXPECT_TRUE(fs::exists(d + "/b")) << d;
  }
  ASSERT_TRUE((*b)->Remove().ok());
  for (const std::string& d : DirsOf(base_)) {
    rmdir(d.c_str());  // b did not make base_: it stays for its maker
  }
}

TEST_F(PodCgroupTest, BadPathsAreRejectedAndNothingIsMade) {
  for (const std::string& bad : {std::string("../../x"), base_ + "/../../x", "/" + base_ + "/../x",
                                 base_ + "/./x", std::string("/"), std::string(""),
                                 "kubepods-burstable-pod1.slice:cri-containerd:" + base_}) {
    absl::StatusOr<std::unique_ptr<PodCgroup>> cg = PodCgroup::Create(bad, hierarchies_);
    EXPECT_EQ(cg.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(cg.status().message(), HasSubstr("linux.cgroupsPath")) << bad;
  }
  EXPECT_THAT(PodCgroup::Create("a:b:c", hierarchies_).status().message(),
              HasSubstr("SystemdCgroup = false"));
  for (const std::string& d : DirsOf(base_)) EXPECT_FALSE(fs::exists(d)) << d;
  for (const CgroupHierarchy& h : hierarchies_) EXPECT_FALSE(fs::exists(h.mount + "/x"));
}

// The shim's `delete` after its daemon died: the leaf goes, its parents stay (not known to be
// the pod's), a missing one is fine, a busy one is named with its processes.
TEST_F(PodCgroupTest, RemoveLeftPodCgroupRemovesTheLeafOnly) {
  absl::StatusOr<std::unique_ptr<PodCgroup>> cg = PodCgroup::Create(base_ + "/pod", hierarchies_);
  ASSERT_TRUE(cg.ok()) << cg.status();
  ASSERT_TRUE((*cg)->Add(child_).ok());
  absl::Status busy = RemoveLeftPodCgroup(base_ + "/pod", hierarchies_);
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(busy.message(), HasSubstr(absl::StrCat("still has processes: ", child_)));
  for (const std::string& d : DirsOf(base_ + "/pod")) EXPECT_TRUE(fs::exists(d)) << d;
  KillChild();
  ASSERT_TRUE(RemoveLeftPodCgroup(base_ + "/pod", hierarchies_).ok());
  for (const std::string& d : DirsOf(base_)) {
    EXPECT_FALSE(fs::exists(d + "/pod")) << d;
    EXPECT_TRUE(fs::exists(d)) << d;
  }
  EXPECT_TRUE(RemoveLeftPodCgroup(base_ + "/pod", hierarchies_).ok());  // nothing left: OK
  ASSERT_TRUE((*cg)->Remove().ok());  // the first Remove: only base_ is left to go
  for (const std::string& d : DirsOf(base_)) EXPECT_FALSE(fs::exists(d)) << d;
  EXPECT_EQ(RemoveLeftPodCgroup("../x", hierarchies_).code(), absl::StatusCode::kInvalidArgument);
}

TEST(HostCgroupHierarchies, FindsThisHostsMounts) {
  absl::StatusOr<std::vector<CgroupHierarchy>> h = HostCgroupHierarchies();
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_FALSE(h->empty());
  for (const CgroupHierarchy& c : *h) {
    EXPECT_TRUE(fs::exists(c.mount + "/cgroup.procs")) << c.mount;
    EXPECT_TRUE(fs::exists(c.mount + c.self_path)) << c.mount << " " << c.self_path;
  }
}

}  // namespace
}  // namespace kata::runtime
