// TaskService against the sandbox gMock (task_service_test_fixture.h): lifecycles, events,
// illegal transitions, exec/pause/resume/kill/stats, stdin, pods.
#include "src/runtime/shim/task_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/protocols/containerd/events/task.pb.h"
#include "src/runtime/shim/metrics.pb.h"
#include "src/runtime/shim/task_service_test_fixture.h"

namespace kata {
namespace shim {
namespace {

TEST_F(TaskServiceTest, RunToExitThenDeleteAndShutdown) {
  absl::Notification exit_now;
  std::atomic<int> reads{0};
  EXPECT_CALL(*sb_, Start()).WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(*sb_, CreateContainer(_)).WillOnce([](const runtime::ContainerConfig& cc) {
    EXPECT_EQ(cc.id, "c1");
    EXPECT_EQ(cc.rootfs_mounts.size(), 1u);
    EXPECT_EQ(cc.rootfs_mounts[0].type, "overlay");
    EXPECT_EQ(cc.rootfs_mounts[0].options, std::vector<std::string>{"lowerdir=/l"});
    EXPECT_EQ(cc.terminal, std::optional<bool>(false));
    return absl::OkStatus();
  });
  ExitWhen(&exit_now, "c1", "",
           ExitStatus{.exit_code = 3, .exited_at = absl::FromUnixSeconds(1700000000)});
  // The output arrives after the exit: it must still be in the FIFO/file before Wait answers.
  EXPECT_CALL(*sb_, ReadStdout("c1", "", _))
      .WillRepeatedly([&](auto&&...) -> absl::StatusOr<std::string> {
        int n = reads++;
        if (n == 0) {
          exit_now.WaitForNotification();
          absl::SleepFor(absl::Milliseconds(200));
          return std::string("hello\n");
        }
        return std::string();
      });
  {
    absl::Status cs = Create();
    ASSERT_TRUE(cs.ok()) << cs;
  }
  EXPECT_EQ(factory_calls_, 1);
  auto st = State("c1");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->status(), ::containerd::v1::types::CREATED);
  EXPECT_EQ(st->pid(), 4242u);
  ASSERT_TRUE(Start("c1").ok());
  EXPECT_EQ(State("c1")->status(), ::containerd::v1::types::RUNNING);
  exit_now.Notify();
  auto w = Wait("c1");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->exit_status(), 3u);
  EXPECT_EQ(w->exited_at().seconds(), 1700000000);
  EXPECT_EQ(kata::testing::ReadFileOrDie(dir_ + "/c1.out"), "hello\n");
  EXPECT_EQ(State("c1")->status(), ::containerd::v1::types::STOPPED);
  EXPECT_EQ(State("c1")->exit_status(), 3u);

  EXPECT_CALL(*sb_, DeleteContainer("c1")).WillOnce(Return(absl::OkStatus()));
  tpb::DeleteResponse del;
  ASSERT_TRUE(Delete("c1", "", &del).ok());
  EXPECT_EQ(del.exit_status(), 3u);
  EXPECT_EQ(State("c1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(events_.topics(),
              ElementsAre("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"));
  ::containerd::events::TaskExit exit_event;
  ASSERT_TRUE(exit_event.ParseFromString(events_.any(2).value()));
  EXPECT_EQ(events_.any(2).type_url(), "containerd.events.TaskExit");
  EXPECT_EQ(exit_event.container_id(), "c1");
  EXPECT_EQ(exit_event.id(), "c1");
  EXPECT_EQ(exit_event.exit_status(), 3u);

  EXPECT_CALL(*sb_, Shutdown()).WillOnce(Return(absl::OkStatus()));
  tpb::ShutdownRequest sreq;
  google::protobuf::Empty empty;
  ASSERT_TRUE(task_->Shutdown(sreq, &empty).ok());
  EXPECT_EQ(shutdowns_, 1);
}

TEST_F(TaskServiceTest, IllegalTransitionsAndUnknownIds) {
  {
    absl::Status cs = Create();
    ASSERT_TRUE(cs.ok()) << cs;
  }
  EXPECT_EQ(Create().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Start("nope").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(State("c1", "nope").status().code(), absl::StatusCode::kNotFound);
  google::protobuf::Empty empty;
  tpb::PauseRequest pause;
  pause.set_id("c1");
  EXPECT_EQ(task_->Pause(pause, &empty).code(), absl::StatusCode::kFailedPrecondition);
  absl::Notification release;
  ExitWhen(&release, "c1", "", ExitStatus{.exit_code = 0});
  ASSERT_TRUE(Start("c1").ok());
  EXPECT_EQ(Start("c1").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Delete("c1").code(), absl::StatusCode::kFailedPrecondition);
  tpb::CheckpointTaskRequest ck;
  ck.set_id("c1");
  EXPECT_EQ(task_->Checkpoint(ck, &empty).code(), absl::StatusCode::kUnimplemented);
  release.Notify();
  ASSERT_TRUE(Wait("c1").ok());
  tpb::KillRequest kill;
  kill.set_id("c1");
  kill.set_signal(9);
  EXPECT_EQ(task_->Kill(kill, &empty).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Delete("c1").ok());
}

TEST_F(TaskServiceTest, ExecPauseResumeKillStats) {
  absl::Notification init_exit, exec_exit;
  ExitWhen(&init_exit, "c1", "", ExitStatus{.exit_code = 137});
  ExitWhen(&exec_exit, "c1", "e1", ExitStatus{.exit_code = 0});
  std::atomic<bool> paused{false};  // the sandbox's container state, as the shim reads it
  ON_CALL(*sb_, GetContainerState("c1")).WillByDefault([&](auto&&) {
    return absl::StatusOr<runtime::ContainerState>(paused ? runtime::ContainerState::kPaused
                                                          : runtime::ContainerState::kRunning);
  });
  {
    absl::Status cs = Create();
    ASSERT_TRUE(cs.ok()) << cs;
  }
  ASSERT_TRUE(Start("c1").ok());

  ASSERT_NO_FATAL_FAILURE(ExecRunsAndIsDeleted(&exec_exit));
  ASSERT_NO_FATAL_FAILURE(PauseThenResume(&paused));
  ASSERT_NO_FATAL_FAILURE(StatsAreCgroupsV1Metrics());

  google::protobuf::Empty empty;
  tpb::KillRequest kill;
  kill.set_id("c1");
  kill.set_signal(15);
  kill.set_all(true);
  EXPECT_CALL(*sb_, Signal("c1", "", 15, true)).WillOnce([&](auto&&...) {
    init_exit.Notify();
    return absl::OkStatus();
  });
  ASSERT_TRUE(task_->Kill(kill, &empty).ok());
  EXPECT_EQ(Wait("c1")->exit_status(), 137u);
  EXPECT_THAT(events_.topics(), ElementsAre("/tasks/create", "/tasks/start", "/tasks/exec-added",
                                            "/tasks/exec-started", "/tasks/exit", "/tasks/paused",
                                            "/tasks/resumed", "/tasks/exit"));
  ::containerd::events::TaskExit exec_exit_event;
  ASSERT_TRUE(exec_exit_event.ParseFromString(events_.any(4).value()));
  EXPECT_EQ(exec_exit_event.id(), "e1");
  ASSERT_TRUE(Delete("c1").ok());
}

TEST_F(TaskServiceTest, AnExecExitReportedAfterItsTaskWasDeletedIsStillPublished) {
  // After a VM death the sandbox reports every exit from one thread; containerd may delete
  // the task between the init's report and an exec's: the exec's waiter must still return.
  absl::Notification init_exit, exec_exit;
  ExitWhen(&init_exit, "c1", "", ExitStatus{.exit_code = 255});
  ExitWhen(&exec_exit, "c1", "e1", ExitStatus{.exit_code = 255});
  ASSERT_TRUE(Create().ok());
  ASSERT_TRUE(Start("c1").ok());
  tpb::ExecProcessRequest exec;
  exec.set_id("c1");
  exec.set_exec_id("e1");
  exec.mutable_spec()->set_value(R"({"args":["sleep"],"cwd":"/","user":{"uid":0,"gid":0}})");
  google::protobuf::Empty empty;
  ASSERT_TRUE(task_->Exec(exec, &empty).ok());
  ASSERT_TRUE(Start("c1", "e1").ok());
  absl::StatusOr<tpb::WaitResponse> exec_wait;
  std::thread waiter([&] { exec_wait = Wait("c1", "e1"); });
  absl::SleepFor(absl::Milliseconds(100));  // the Wait is in the shim
  init_exit.Notify();
  ASSERT_EQ(Wait("c1")->exit_status(), 255u);
  ASSERT_TRUE(Delete("c1").ok());
  exec_exit.Notify();
  waiter.join();
  ASSERT_TRUE(exec_wait.ok()) << exec_wait.status();
  EXPECT_EQ(exec_wait->exit_status(), 255u);
  EXPECT_THAT(events_.topics(),
              ElementsAre("/tasks/create", "/tasks/start", "/tasks/exec-added",
                          "/tasks/exec-started", "/tasks/exit", "/tasks/delete", "/tasks/exit"));
}

TEST_F(TaskServiceTest, StdinReachesTheProcessThenEof) {
  std::string fifo = dir_ + "/c1.in";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  absl::Mutex mu;
  std::string got;
  absl::Notification closed;
  ON_CALL(*sb_, WriteStdin("c1", "", _)).WillByDefault([&](auto&&, auto&&, absl::string_view d) {
    absl::MutexLock lock(&mu);
    got.append(d.data(), d.size());
    return absl::StatusOr<size_t>(d.size());
  });
  ON_CALL(*sb_, CloseStdin("c1", "")).WillByDefault([&](auto&&...) {
    closed.Notify();
    return absl::OkStatus();
  });
  ExitWhen(&closed, "c1", "", ExitStatus{.exit_code = 0});
  auto req = CreateRequest("c1", bundle_);
  req.set_stdin(fifo);
  tpb::CreateTaskResponse resp;
  ASSERT_TRUE(task_->Create(req, &resp).ok());  // no writer yet: must not block
  ASSERT_TRUE(Start("c1").ok());
  UniqueFd w(open(fifo.c_str(), O_WRONLY));
  ASSERT_TRUE(w.valid());
  ASSERT_EQ(write(w.get(), "abc", 3), 3);
  ASSERT_EQ(write(w.get(), "def", 3), 3);
  w.reset();  // the writer leaves: EOF
  ASSERT_TRUE(closed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(got, "abcdef");
  }
  ASSERT_TRUE(Wait("c1").ok());
  ASSERT_TRUE(Delete("c1").ok());
}

TEST_F(TaskServiceTest, PodContainerJoinsTheSandbox) {
  ASSERT_TRUE(Create("c1").ok());
  std::string b2 = dir_ + "/bundle2";
  ASSERT_EQ(mkdir(b2.c_str(), 0755), 0);
  WriteSpec(b2, R"(,"annotations":{"io.kubernetes.cri.container-type":"container",)"
                R"("io.kubernetes.cri.sandbox-id":"c1"})");
  EXPECT_CALL(*sb_, CreateContainer(::testing::Field(&runtime::ContainerConfig::id, "c2")))
      .WillOnce(Return(absl::OkStatus()));
  tpb::CreateTaskResponse resp;
  ASSERT_TRUE(task_->Create(CreateRequest("c2", b2), &resp).ok());
  EXPECT_EQ(factory_calls_, 1);
  // Tasks remain: Shutdown without `now` keeps serving.
  tpb::ShutdownRequest sreq;
  google::protobuf::Empty empty;
  ASSERT_TRUE(task_->Shutdown(sreq, &empty).ok());
  EXPECT_EQ(shutdowns_, 0);
  ASSERT_TRUE(Delete("c2").ok());
  ASSERT_TRUE(Delete("c1").ok());
}

TEST_F(TaskServiceTest, FailedSandboxStartLeavesNothing) {
  EXPECT_CALL(*sb_, Start()).WillOnce(Return(absl::UnavailableError("sandbox c1: qemu: boom")));
  EXPECT_CALL(*sb_, Shutdown()).WillOnce(Return(absl::OkStatus()));
  absl::Status s = Create();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("boom"));
  EXPECT_EQ(State("c1").status().code(), absl::StatusCode::kNotFound);
}

// containerd's CRI marks a container OOMKilled from /tasks/oom: each OOM kill the sandbox
// reports is published as TaskOOM for that container.
TEST_F(TaskServiceTest, OomKillsArePublishedAsTaskOom) {
  runtime::OomObserver oom;
  EXPECT_CALL(*sb_, SetOomObserver(_)).WillOnce([&oom](runtime::OomObserver o) {
    oom = std::move(o);
  });
  ASSERT_TRUE(Create().ok());
  ASSERT_TRUE(oom) << "the shim set no OOM observer";
  oom("c1");
  const std::vector<std::string> topics = events_.topics();
  ASSERT_EQ(topics.back(), "/tasks/oom");
  ::containerd::events::TaskOOM event;
  EXPECT_EQ(events_.any(topics.size() - 1).type_url(), "containerd.events.TaskOOM");
  ASSERT_TRUE(event.ParseFromString(events_.any(topics.size() - 1).value()));
  EXPECT_EQ(event.container_id(), "c1");
}

TEST(SandboxIdFor, AnnotationsNameThePod) {
  oci::Spec spec;
  EXPECT_EQ(SandboxIdFor("c1", spec), "c1");
  spec.annotations = oci::StringMap{{kSandboxIdAnnotation, "pod"}};
  EXPECT_EQ(SandboxIdFor("c1", spec), "c1");  // no container type: it is the sandbox itself
  (*spec.annotations)[kContainerTypeAnnotation] = "container";
  EXPECT_EQ(SandboxIdFor("c1", spec), "pod");
  // CRI-O's names.
  spec.annotations = oci::StringMap{{"io.kubernetes.cri-o.ContainerType", "container"},
                                    {"io.kubernetes.cri-o.SandboxID", "infra"}};
  EXPECT_EQ(SandboxIdFor("c1", spec), "infra");
  spec.annotations = oci::StringMap{{"io.kubernetes.cri-o.ContainerType", "sandbox"},
                                    {"io.kubernetes.cri-o.SandboxID", "c1"}};
  EXPECT_EQ(SandboxIdFor("c1", spec), "c1");
}

}  // namespace
}  // namespace shim
}  // namespace kata
