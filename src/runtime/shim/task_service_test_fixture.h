// The fixture of the TaskService tests (task_service_test.cc, task_service_lock_test.cc):
// TaskService against the sandbox gMock, driven through a real ttRPC server and client (as
// containerd drives it), with an in-process event sink. Test-only, for //src/runtime/shim.
#ifndef KATA_SRC_RUNTIME_SHIM_TASK_SERVICE_TEST_FIXTURE_H_
#define KATA_SRC_RUNTIME_SHIM_TASK_SERVICE_TEST_FIXTURE_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/protocols/containerd/events/task.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"
#include "src/runtime/sandbox/testing/mock_sandbox.h"
#include "src/runtime/shim/metrics.pb.h"
#include "src/runtime/shim/task_service.h"

namespace kata {
namespace shim {

namespace tpb = ::containerd::task::v2;
using runtime::ExitStatus;
using runtime::testing::MockSandbox;
using ::testing::_;
using ::testing::ElementsAre;
using ::testing::NiceMock;
using ::testing::Return;

class FakeEvents : public EventPublisher {
 public:
  void Publish(absl::string_view topic, const google::protobuf::Message& event) override {
    absl::MutexLock lock(&mu_);
    topics_.emplace_back(topic);
    // The forwarder packs each event under its topic's EventTypeUrl: every event a test
    // publishes checks that table against the message's own name.
    EXPECT_EQ(EventTypeUrl(topic), event.GetDescriptor()->full_name()) << topic;
    anys_.push_back(PackAny(event));
  }
  std::vector<std::string> topics() {
    absl::MutexLock lock(&mu_);
    return topics_;
  }
  google::protobuf::Any any(size_t i) {
    absl::MutexLock lock(&mu_);
    return anys_.at(i);
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> topics_;
  std::vector<google::protobuf::Any> anys_;
};

class TaskServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bundle_ = dir_ + "/bundle";
    ASSERT_EQ(mkdir(bundle_.c_str(), 0755), 0);
    WriteSpec(bundle_, "");
    auto mock = std::make_unique<NiceMock<MockSandbox>>();
    sb_ = mock.get();
    pending_ = std::move(mock);
    ON_CALL(*sb_, Start()).WillByDefault(Return(absl::OkStatus()));
    ON_CALL(*sb_, Shutdown()).WillByDefault(Return(absl::OkStatus()));
    ON_CALL(*sb_, VmPids()).WillByDefault(Return(std::vector<pid_t>{4242}));
    ON_CALL(*sb_, CreateContainer(_)).WillByDefault(Return(absl::OkStatus()));
    ON_CALL(*sb_, StartContainer(_)).WillByDefault(Return(absl::OkStatus()));
    ON_CALL(*sb_, DeleteContainer(_)).WillByDefault(Return(absl::OkStatus()));
    ON_CALL(*sb_, CloseStdin(_, _)).WillByDefault(Return(absl::OkStatus()));
    ON_CALL(*sb_, ReadStdout(_, _, _)).WillByDefault(Return(std::string()));
    ON_CALL(*sb_, ReadStderr(_, _, _)).WillByDefault(Return(std::string()));
    // The sandbox reports exits to the shim's observer, from a thread of its own.
    ON_CALL(*sb_, SetExitObserver(_)).WillByDefault([this](runtime::ExitObserver o) {
      absl::MutexLock lock(&observer_mu_);
      observer_ = std::move(o);
    });
    static const std::string kSandboxId = "c1";
    ON_CALL(*sb_, id()).WillByDefault(::testing::ReturnRef(kSandboxId));
    service_ = std::make_unique<TaskService>(TaskService::Options{
        .ns = "default",
        .factory = [this](const std::string& id, const oci::Spec&, const std::string& config)
            -> absl::StatusOr<std::unique_ptr<runtime::Sandbox>> {
          factory_calls_++;
          config_path_ = config;
          if (pending_ == nullptr) return absl::InternalError("factory called twice");
          return std::move(pending_);
        },
        .events = &events_,
        .on_shutdown = [this] { shutdowns_++; },
    });
    ASSERT_TRUE(server_.Register(service_.get()).ok());
    address_ = "unix://" + dir_ + "/shim.sock";
    ASSERT_TRUE(server_.Listen(address_).ok());
    auto client = ttrpc::Client::Dial(address_);
    ASSERT_TRUE(client.ok()) << client.status();
    conn_ = std::move(*client);
    task_ = std::make_unique<tpb::TaskTtrpc::Client>(conn_.get());
  }

  void TearDown() override {
    for (auto& t : exits_) t.join();
    task_.reset();
    conn_.reset();
    server_.Shutdown(absl::Seconds(2));
    service_.reset();
  }

  static void WriteSpec(const std::string& bundle, const std::string& annotations) {
    ASSERT_TRUE(
        WriteStringToFile(
            bundle + "/config.json",
            absl::StrCat("{\"ociVersion\":\"1.0.2\",\"process\":{\"cwd\":\"/\",\"args\":[\"sh\"],"
                         "\"user\":{\"uid\":0,\"gid\":0}},\"root\":{\"path\":\"rootfs\"}",
                         annotations, "}"))
            .ok());
  }

  tpb::CreateTaskRequest CreateRequest(const std::string& id, const std::string& bundle) {
    tpb::CreateTaskRequest req;
    req.set_id(id);
    req.set_bundle(bundle);
    auto* m = req.add_rootfs();
    m->set_type("overlay");
    m->set_source("overlay");
    m->add_options("lowerdir=/l");
    req.set_stdout("file://" + dir_ + "/" + id + ".out");
    req.set_stderr("file://" + dir_ + "/" + id + ".err");
    return req;
  }

  // As the sandbox does when a process ends: once `when` is notified, tell the observer.
  void ExitWhen(absl::Notification* when, const std::string& cid, const std::string& exec_id,
                ExitStatus status) {
    exits_.emplace_back([this, when, cid, exec_id, status] {
      when->WaitForNotification();
      runtime::ExitObserver observer;
      {
        absl::MutexLock lock(&observer_mu_);
        observer = observer_;
      }
      ASSERT_TRUE(observer) << "the shim set no exit observer";
      observer(cid, exec_id, status);
    });
  }

  absl::Status Create(const std::string& id = "c1") {
    tpb::CreateTaskResponse resp;
    return task_->Create(CreateRequest(id, bundle_), &resp);
  }
  absl::Status Start(const std::string& id, const std::string& exec_id = "") {
    tpb::StartRequest req;
    req.set_id(id);
    req.set_exec_id(exec_id);
    tpb::StartResponse resp;
    return task_->Start(req, &resp);
  }
  absl::StatusOr<tpb::WaitResponse> Wait(const std::string& id, const std::string& exec_id = "") {
    tpb::WaitRequest req;
    req.set_id(id);
    req.set_exec_id(exec_id);
    tpb::WaitResponse resp;
    absl::Status s = task_->Wait(req, &resp, {.timeout = absl::Seconds(20)});
    if (!s.ok()) return s;
    return resp;
  }
  absl::StatusOr<tpb::StateResponse> State(const std::string& id, const std::string& exec_id = "") {
    tpb::StateRequest req;
    req.set_id(id);
    req.set_exec_id(exec_id);
    tpb::StateResponse resp;
    absl::Status s = task_->State(req, &resp);
    if (!s.ok()) return s;
    return resp;
  }
  absl::Status Delete(const std::string& id, const std::string& exec_id = "",
                      tpb::DeleteResponse* out = nullptr) {
    tpb::DeleteRequest req;
    req.set_id(id);
    req.set_exec_id(exec_id);
    tpb::DeleteResponse resp;
    absl::Status s = task_->Delete(req, &resp);
    if (out) *out = resp;
    return s;
  }

  // c1/e1 ("ps") is exec'd, started, ends once *exec_exit is notified, and is deleted.
  void ExecRunsAndIsDeleted(absl::Notification* exec_exit) {
    tpb::ExecProcessRequest exec;
    exec.set_id("c1");
    exec.set_exec_id("e1");
    exec.mutable_spec()->set_type_url("types.containerd.io/opencontainers/runtime-spec/1/Process");
    exec.mutable_spec()->set_value(
        R"({"args":["ps"],"cwd":"/","user":{"uid":0,"gid":0},"terminal":false})");
    google::protobuf::Empty empty;
    ASSERT_TRUE(task_->Exec(exec, &empty).ok());
    EXPECT_EQ(task_->Exec(exec, &empty).code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(State("c1", "e1")->status(), ::containerd::v1::types::CREATED);
    EXPECT_CALL(*sb_, Exec("c1", "e1", _, false))
        .WillOnce([](auto&&, auto&&, const oci::Process& p, bool) {
          EXPECT_EQ(p.args.value_or(std::vector<std::string>{}), std::vector<std::string>{"ps"});
          return absl::OkStatus();
        });
    ASSERT_TRUE(Start("c1", "e1").ok());
    exec_exit->Notify();
    auto w = Wait("c1", "e1");
    ASSERT_TRUE(w.ok());
    EXPECT_CALL(*sb_, DeleteProcess("c1", "e1")).WillOnce(Return(absl::OkStatus()));
    ASSERT_TRUE(Delete("c1", "e1").ok());
  }

  // Pause and Resume of c1, whose sandbox state is *paused.
  void PauseThenResume(std::atomic<bool>* paused) {
    google::protobuf::Empty empty;
    tpb::PauseRequest pause;
    pause.set_id("c1");
    EXPECT_CALL(*sb_, Pause("c1")).WillOnce([paused](auto&&) {
      *paused = true;
      return absl::OkStatus();
    });
    ASSERT_TRUE(task_->Pause(pause, &empty).ok());
    EXPECT_EQ(State("c1")->status(), ::containerd::v1::types::PAUSED);
    tpb::ResumeRequest resume;
    resume.set_id("c1");
    EXPECT_CALL(*sb_, Resume("c1")).WillOnce([paused](auto&&) {
      *paused = false;
      return absl::OkStatus();
    });
    ASSERT_TRUE(task_->Resume(resume, &empty).ok());
    EXPECT_EQ(State("c1")->status(), ::containerd::v1::types::RUNNING);
  }

  // Stats of c1: the runtime's ContainerStats as containerd's cgroups v1 Metrics.
  void StatsAreCgroupsV1Metrics() {
    runtime::ContainerStats stats;
    stats.cpu.emplace().total_ns = 123;
    stats.memory.emplace().usage.usage = 4096;
    stats.memory->stat["pgfault"] = 7;
    stats.pids = runtime::PidsStats{2, 0};
    EXPECT_CALL(*sb_, Stats("c1")).WillOnce(Return(stats));
    tpb::StatsRequest sreq;
    sreq.set_id("c1");
    tpb::StatsResponse sresp;
    ASSERT_TRUE(task_->Stats(sreq, &sresp).ok());
    EXPECT_EQ(sresp.stats().type_url(), "io.containerd.cgroups.v1.Metrics");
    EXPECT_EQ(kMetricsTypeUrl, ::io::containerd::cgroups::v1::Metrics::descriptor()->full_name());
    ::io::containerd::cgroups::v1::Metrics metrics;
    ASSERT_TRUE(metrics.ParseFromString(sresp.stats().value()));
    EXPECT_EQ(metrics.cpu().usage().total(), 123u);
    EXPECT_EQ(metrics.memory().usage().usage(), 4096u);
    EXPECT_EQ(metrics.pids().current(), 2u);
    EXPECT_EQ(metrics.memory().pg_fault(), 7u);
  }

  kata::testing::TempDir tmp_{"/tmp"};  // /tmp: the shim's socket path must stay short
  const std::string dir_ = tmp_.path();
  std::string bundle_, address_;
  absl::Mutex observer_mu_;
  runtime::ExitObserver observer_ ABSL_GUARDED_BY(observer_mu_);
  std::vector<std::thread> exits_;
  NiceMock<MockSandbox>* sb_ = nullptr;
  std::unique_ptr<runtime::Sandbox> pending_;
  std::atomic<int> factory_calls_{0};
  std::string config_path_;
  std::atomic<int> shutdowns_{0};
  FakeEvents events_;
  std::unique_ptr<TaskService> service_;
  ttrpc::Server server_;
  std::unique_ptr<ttrpc::Client> conn_;
  std::unique_ptr<tpb::TaskTtrpc::Client> task_;
};

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_TASK_SERVICE_TEST_FIXTURE_H_
