// TaskService makes no guest call under its lock (issue 11 item 12): while a sandbox call
// hangs (a guest that does not answer), the other rpcs still answer; and the races this
// allows keep the state consistent (a Start and a Delete of the same process exclude each
// other, an exit reported while its Start is in flight is published after the start).
#include <atomic>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/runtime/shim/task_service_test_fixture.h"

namespace kata {
namespace shim {
namespace {

using ::testing::HasSubstr;

class TaskServiceLockTest : public TaskServiceTest {
 protected:
  // Adds exec c1/`exec_id` (CREATED).
  void AddExec(const std::string& exec_id) {
    tpb::ExecProcessRequest exec;
    exec.set_id("c1");
    exec.set_exec_id(exec_id);
    exec.mutable_spec()->set_value(R"({"args":["sleep"],"cwd":"/","user":{"uid":0,"gid":0}})");
    google::protobuf::Empty empty;
    ASSERT_TRUE(task_->Exec(exec, &empty).ok());
  }
  absl::Status Kill(const std::string& id, const std::string& exec_id, int signal) {
    tpb::KillRequest kill;
    kill.set_id(id);
    kill.set_exec_id(exec_id);
    kill.set_signal(static_cast<uint32_t>(signal));
    google::protobuf::Empty empty;
    return task_->Kill(kill, &empty);
  }
  // The exit observer, as the sandbox's threads call it.
  void ReportExit(const std::string& cid, const std::string& exec_id, ExitStatus status) {
    runtime::ExitObserver observer;
    {
      absl::MutexLock lock(&observer_mu_);
      observer = observer_;
    }
    ASSERT_TRUE(observer);
    observer(cid, exec_id, status);
  }
};

// The guest does not answer an exec's start: State, Kill, Wait, Exec and Delete of others
// still answer at once; the process itself can be neither started again nor deleted.
TEST_F(TaskServiceLockTest, AHangingGuestCallHoldsUpNothingElse) {
  ASSERT_TRUE(Create().ok());
  ASSERT_TRUE(Start("c1").ok());
  AddExec("e1");
  AddExec("e2");
  absl::Notification in_guest, answer;
  EXPECT_CALL(*sb_, Exec("c1", "e1", _, false)).WillOnce([&](auto&&...) {
    in_guest.Notify();
    answer.WaitForNotification();
    return absl::OkStatus();
  });
  absl::Status started = absl::UnknownError("not run");
  std::thread starter([&] { started = Start("c1", "e1"); });
  ASSERT_TRUE(in_guest.WaitForNotificationWithTimeout(absl::Seconds(10)));

  const absl::Time t0 = absl::Now();
  EXPECT_EQ(State("c1")->status(), ::containerd::v1::types::RUNNING);
  EXPECT_EQ(State("c1", "e1")->status(), ::containerd::v1::types::CREATED);
  EXPECT_CALL(*sb_, Signal("c1", "", 9, false)).WillOnce(Return(absl::OkStatus()));
  EXPECT_TRUE(Kill("c1", "", 9).ok());
  AddExec("e3");
  EXPECT_TRUE(Delete("c1", "e2").ok());  // a created exec: no guest call
  absl::Status again = Start("c1", "e1");
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
  EXPECT_THAT(again.message(), HasSubstr("is being started"));
  absl::Status del = Delete("c1", "e1");
  EXPECT_EQ(del.code(), absl::StatusCode::kFailedPrecondition) << del;
  EXPECT_THAT(del.message(), HasSubstr("being started"));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));

  answer.Notify();
  starter.join();
  EXPECT_TRUE(started.ok()) << started;
  EXPECT_EQ(State("c1", "e1")->status(), ::containerd::v1::types::RUNNING);
  ReportExit("c1", "e1", ExitStatus{.exit_code = 3});
  EXPECT_EQ(Wait("c1", "e1")->exit_status(), 3u);
}

// An exit the sandbox reports while the Start is still in flight (a process that ends at
// once) is not lost: it is published after /tasks/exec-started, and Wait returns it.
TEST_F(TaskServiceLockTest, AnExitReportedDuringItsStartIsPublishedAfterTheStart) {
  ASSERT_TRUE(Create().ok());
  ASSERT_TRUE(Start("c1").ok());
  AddExec("e1");
  EXPECT_CALL(*sb_, Exec("c1", "e1", _, false)).WillOnce([&](auto&&...) {
    // From another thread, as the sandbox's waiter does; it must not wait for the Start.
    std::thread waiter([&] { ReportExit("c1", "e1", ExitStatus{.exit_code = 7}); });
    waiter.join();
    return absl::OkStatus();
  });
  ASSERT_TRUE(Start("c1", "e1").ok());
  absl::StatusOr<tpb::WaitResponse> w = Wait("c1", "e1");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->exit_status(), 7u);
  EXPECT_THAT(events_.topics(), ElementsAre("/tasks/create", "/tasks/start", "/tasks/exec-added",
                                            "/tasks/exec-started", "/tasks/exit"));
}

// A start that fails leaves the exec CREATED (and deletable); an exit reported meanwhile for
// a process that never started is dropped.
TEST_F(TaskServiceLockTest, AFailedStartLeavesTheExecCreated) {
  ASSERT_TRUE(Create().ok());
  ASSERT_TRUE(Start("c1").ok());
  AddExec("e1");
  EXPECT_CALL(*sb_, Exec("c1", "e1", _, false)).WillOnce([&](auto&&...) {
    std::thread waiter([&] { ReportExit("c1", "e1", ExitStatus{.exit_code = 255}); });
    waiter.join();
    return absl::UnavailableError("agent ExecProcess: connection closed");
  });
  EXPECT_EQ(Start("c1", "e1").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(State("c1", "e1")->status(), ::containerd::v1::types::CREATED);
  EXPECT_TRUE(Delete("c1", "e1").ok());
  EXPECT_THAT(events_.topics(), ElementsAre("/tasks/create", "/tasks/start", "/tasks/exec-added"));
}

// While the guest removes a container (Delete in flight), its task cannot be started or get
// a new exec; State answers; a failed removal leaves the task as it was.
TEST_F(TaskServiceLockTest, ADeleteInFlightKeepsStartAndExecAway) {
  ASSERT_TRUE(Create().ok());  // CREATED: deletable
  absl::Notification in_guest, answer;
  EXPECT_CALL(*sb_, DeleteContainer("c1"))
      .WillOnce([&](auto&&) {
        in_guest.Notify();
        answer.WaitForNotification();
        return absl::InternalError("guest: remove failed");
      })
      .WillOnce(Return(absl::OkStatus()));
  absl::Status deleted = absl::UnknownError("not run");
  std::thread deleter([&] { deleted = Delete("c1"); });
  ASSERT_TRUE(in_guest.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::Status start = Start("c1");
  EXPECT_EQ(start.code(), absl::StatusCode::kFailedPrecondition) << start;
  EXPECT_THAT(start.message(), HasSubstr("being deleted"));
  EXPECT_EQ(State("c1")->status(), ::containerd::v1::types::CREATED);
  EXPECT_EQ(Delete("c1").code(), absl::StatusCode::kFailedPrecondition);
  answer.Notify();
  deleter.join();
  EXPECT_EQ(deleted.code(), absl::StatusCode::kInternal) << deleted;
  // Nothing changed: it can be deleted again.
  EXPECT_TRUE(Delete("c1").ok());
  EXPECT_EQ(State("c1").status().code(), absl::StatusCode::kNotFound);
}

// Pause waiting for the guest does not hold up State.
TEST_F(TaskServiceLockTest, APauseInFlightHoldsUpNothingElse) {
  ASSERT_TRUE(Create().ok());
  ASSERT_TRUE(Start("c1").ok());
  absl::Notification in_guest, answer;
  EXPECT_CALL(*sb_, Pause("c1")).WillOnce([&](auto&&) {
    in_guest.Notify();
    answer.WaitForNotification();
    return absl::OkStatus();
  });
  std::thread pauser([&] {
    tpb::PauseRequest pause;
    pause.set_id("c1");
    google::protobuf::Empty empty;
    EXPECT_TRUE(task_->Pause(pause, &empty).ok());
  });
  ASSERT_TRUE(in_guest.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(State("c1").ok());
  answer.Notify();
  pauser.join();
  EXPECT_THAT(events_.topics(), ElementsAre("/tasks/create", "/tasks/start", "/tasks/paused"));
}

}  // namespace
}  // namespace shim
}  // namespace kata
