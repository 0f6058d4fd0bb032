// What Container asks of its cgroup, with a MockCgroupManager in place of the real one (a
// real init process in real namespaces on a busybox rootfs; only the cgroup is fake): the
// cgroup is created from the spec before the init runs and the init is put into it, a failure
// there undoes everything, a failed freeze keeps the container running, and Remove retries a
// cgroup the kernel still reports busy. Needs root (namespaces, mounts), outside Bazel's
// sandbox.
#include <sys/types.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/cgroups/mock_cgroups.h"
#include "src/agent/container/container.h"
#include "src/agent/container/test_util.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/oci/spec_proto.h"

namespace kata {
namespace agent {
namespace {

using cgroups::MockCgroupManager;
using ::testing::_;
using ::testing::Return;

class ContainerCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test needs root (namespaces, mounts)";
    absl::StatusOr<std::string> rootfs = testing::MakeBusyboxRootfs(tmp_.path());
    ASSERT_TRUE(rootfs.ok()) << rootfs.status();
    rootfs_ = *rootfs;
    // Nothing but the test touches the mock; the container takes it over at Create.
    options_.new_cgroup_manager = [this](const cgroups::CgroupOptions&)
        -> absl::StatusOr<std::unique_ptr<cgroups::CgroupManager>> {
      if (mock_owner_ == nullptr) return absl::InternalError("the mock was handed out already");
      return std::unique_ptr<cgroups::CgroupManager>(std::move(mock_owner_));
    };
  }

  // The busybox spec of container `id` running `script`, in cgroup "kata-mock/<id>".
  oci::Spec Spec(const std::string& id, const std::string& script) {
    absl::StatusOr<oci::Spec> spec = oci::SpecFromProto(
        testing::BusyboxContainerRequest(id, rootfs_, "kata-mock/" + id, {"sh", "-c", script})
            .oci());
    EXPECT_TRUE(spec.ok()) << spec.status();
    return *spec;
  }

  // Remove's calls on a cgroup that empties at once but is busy for one more moment.
  void ExpectRemove() {
    EXPECT_CALL(mock_, Pids()).WillRepeatedly(Return(std::vector<pid_t>{}));
    EXPECT_CALL(mock_, Destroy())
        .WillOnce(Return(absl::FailedPreconditionError("cgroup busy")))
        .WillOnce(Return(absl::OkStatus()));
  }

  kata::testing::TempDir tmp_;
  std::string rootfs_;
  std::unique_ptr<MockCgroupManager> mock_owner_ = std::make_unique<MockCgroupManager>();
  MockCgroupManager& mock_ = *mock_owner_;  // valid until the container (or Create) drops it
  ContainerOptions options_;
};

TEST_F(ContainerCgroupTest, CgroupFromTheSpecHoldsTheInitBeforeItRuns) {
  oci::Spec spec = Spec("c1", "exit 3");
  EXPECT_CALL(mock_, Create(absl::string_view("kata-mock/c1"), _))
      .WillOnce([](absl::string_view, const oci::LinuxResources& r) {
        EXPECT_EQ(r.memory->limit.value_or(0), 64 << 20);
        return absl::OkStatus();
      });
  pid_t added = -1;
  EXPECT_CALL(mock_, AddProcess(_)).WillOnce([&added](pid_t pid) {
    added = pid;
    return absl::OkStatus();
  });
  absl::StatusOr<std::unique_ptr<Container>> c = Container::Create("c1", "c1", spec, options_);
  ASSERT_TRUE(c.ok()) << c.status();
  std::shared_ptr<Process> init = (*c)->GetProcess("c1").value();
  EXPECT_EQ(added, init->pid());
  ASSERT_TRUE((*c)->Start().ok());
  EXPECT_EQ((*c)->Wait("c1").value(), 3);

  ExpectRemove();
  absl::Status removed = (*c)->Remove(absl::Seconds(10));
  EXPECT_TRUE(removed.ok()) << removed;
  EXPECT_EQ((*c)->state(), Container::State::kRemoved);
}

TEST_F(ContainerCgroupTest, FailingToEnterTheCgroupUndoesCreate) {
  EXPECT_CALL(mock_, Create(absl::string_view("kata-mock/c2"), _))
      .WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(mock_, AddProcess(_)).WillOnce(Return(absl::InternalError("cgroup.procs: EIO")));
  EXPECT_CALL(mock_, Destroy()).WillOnce(Return(absl::OkStatus()));
  absl::StatusOr<std::unique_ptr<Container>> c =
      Container::Create("c2", "c2", Spec("c2", "exit 0"), options_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(c.status().message(), "container c2")) << c.status();
  EXPECT_TRUE(absl::StrContains(c.status().message(), "cgroup.procs: EIO")) << c.status();
}

TEST_F(ContainerCgroupTest, FailingToCreateTheCgroupStartsNothing) {
  EXPECT_CALL(mock_, Create(_, _)).WillOnce(Return(absl::FailedPreconditionError("no memory")));
  EXPECT_CALL(mock_, AddProcess(_)).Times(0);
  EXPECT_CALL(mock_, Destroy()).Times(0);  // Create removes what it made itself
  absl::StatusOr<std::unique_ptr<Container>> c =
      Container::Create("c3", "c3", Spec("c3", "exit 0"), options_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(c.status().message(), "container c3: no memory")) << c.status();
}

TEST_F(ContainerCgroupTest, FailedFreezeKeepsTheContainerRunning) {
  EXPECT_CALL(mock_, Create(_, _)).WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(mock_, AddProcess(_)).WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(mock_, Freeze(absl::Seconds(2)))
      .WillOnce(Return(absl::DeadlineExceededError("not frozen within 2s")));
  absl::StatusOr<std::unique_ptr<Container>> c =
      Container::Create("c4", "c4", Spec("c4", "exec sleep 1000"), options_);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Start().ok());
  absl::Status paused = (*c)->Pause(absl::Seconds(2));
  EXPECT_EQ(paused.code(), absl::StatusCode::kDeadlineExceeded) << paused;
  EXPECT_TRUE(absl::StrContains(paused.message(), "container c4: pause")) << paused;
  EXPECT_EQ((*c)->state(), Container::State::kRunning);

  ExpectRemove();  // SIGKILLs the init itself; the (fake) cgroup lists nothing
  absl::Status removed = (*c)->Remove(absl::Seconds(10));
  EXPECT_TRUE(removed.ok()) << removed;
}

}  // namespace
}  // namespace agent
}  // namespace kata
