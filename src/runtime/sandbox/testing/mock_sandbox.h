// A gMock Sandbox mirroring sandbox.h one for one, for tests of the shim.
// By default the asynchronous stdio calls (ReadOutputAsync, WriteStdinAsync) run their
// blocking mocked counterparts (ReadStdout/ReadStderr, WriteStdin) on a thread of the mock
// and complete with their answer, so a test states a process's stdio once, on the blocking
// methods; the destructor joins those threads (their calls must have returned by then).
//
//   testing::MockSandbox sb;
//   EXPECT_CALL(sb, Wait("c1", "")).WillOnce(Return(ExitStatus{.exit_code = 3}));
#ifndef KATA_SRC_RUNTIME_SANDBOX_TESTING_MOCK_SANDBOX_H_
#define KATA_SRC_RUNTIME_SANDBOX_TESTING_MOCK_SANDBOX_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "src/runtime/sandbox/sandbox.h"

namespace kata::runtime::testing {

class MockSandbox : public Sandbox {
 public:
  MockSandbox() {
    EXPECT_CALL(*this, ReadOutputAsync)
        .Times(::testing::AnyNumber());  // plumbing, not a test's concern
    EXPECT_CALL(*this, WriteStdinAsync)
        .Times(::testing::AnyNumber());  // plumbing, not a test's concern
    ON_CALL(*this, ReadOutputAsync)
        .WillByDefault([this](const std::string& cid, const std::string& exec, bool err, size_t max,
                              ReadDone done) {
          OnThread([this, cid, exec, err, max, done = std::move(done)]() mutable {
            done(err ? ReadStderr(cid, exec, max) : ReadStdout(cid, exec, max));
          });
        });
    ON_CALL(*this, WriteStdinAsync)
        .WillByDefault([this](const std::string& cid, const std::string& exec, std::string data,
                              WriteDone done) {
          OnThread([this, cid, exec, data = std::move(data), done = std::move(done)]() mutable {
            done(WriteStdin(cid, exec, data));
          });
        });
  }
  ~MockSandbox() override {
    std::vector<Worker> workers;
    {
      absl::MutexLock l(&mu_);
      workers.swap(workers_);
    }
    for (Worker& w : workers) w.thread.join();
  }

  MOCK_METHOD(const std::string&, id, (), (const, override));
  MOCK_METHOD(SandboxState, State, (), (const, override));
  MOCK_METHOD(void, SetExitObserver, (ExitObserver observer), (override));
  MOCK_METHOD(void, SetOomObserver, (OomObserver observer), (override));
  MOCK_METHOD(absl::Status, Start, (), (override));
  MOCK_METHOD(absl::Status, Shutdown, (), (override));
  MOCK_METHOD(absl::Status, WaitVmDeath, (), (override));
  MOCK_METHOD(std::vector<pid_t>, VmPids, (), (const, override));
  MOCK_METHOD(absl::StatusOr<std::string>, AgentMetrics, (), (override));
  MOCK_METHOD(absl::Status, CreateContainer, (const ContainerConfig& config), (override));
  MOCK_METHOD(absl::Status, StartContainer, (const std::string& container_id), (override));
  MOCK_METHOD(absl::Status, DeleteContainer, (const std::string& container_id), (override));
  MOCK_METHOD(absl::StatusOr<ContainerState>, GetContainerState, (const std::string& container_id),
              (const, override));
  MOCK_METHOD(std::vector<std::string>, ContainerIds, (), (const, override));
  MOCK_METHOD(absl::Status, Pause, (const std::string& container_id), (override));
  MOCK_METHOD(absl::Status, Resume, (const std::string& container_id), (override));
  MOCK_METHOD(absl::StatusOr<ContainerStats>, Stats, (const std::string& container_id), (override));
  MOCK_METHOD(absl::Status, Update,
              (const std::string& container_id, const oci::LinuxResources& resources), (override));
  MOCK_METHOD(absl::Status, Exec,
              (const std::string& container_id, const std::string& exec_id,
               const oci::Process& process, bool terminal),
              (override));
  MOCK_METHOD(absl::Status, Signal,
              (const std::string& container_id, const std::string& exec_id, int signal, bool all),
              (override));
  MOCK_METHOD(absl::StatusOr<ExitStatus>, Wait,
              (const std::string& container_id, const std::string& exec_id), (override));
  MOCK_METHOD(absl::StatusOr<std::vector<ProcessInfo>>, Processes,
              (const std::string& container_id), (const, override));
  MOCK_METHOD(absl::StatusOr<ProcessInfo>, GetProcess,
              (const std::string& container_id, const std::string& exec_id), (const, override));
  MOCK_METHOD(absl::Status, DeleteProcess,
              (const std::string& container_id, const std::string& exec_id), (override));
  MOCK_METHOD(absl::StatusOr<size_t>, WriteStdin,
              (const std::string& container_id, const std::string& exec_id, absl::string_view data),
              (override));
  MOCK_METHOD(absl::Status, CloseStdin,
              (const std::string& container_id, const std::string& exec_id), (override));
  MOCK_METHOD(absl::StatusOr<std::string>, ReadStdout,
              (const std::string& container_id, const std::string& exec_id, size_t max_bytes),
              (override));
  MOCK_METHOD(absl::StatusOr<std::string>, ReadStderr,
              (const std::string& container_id, const std::string& exec_id, size_t max_bytes),
              (override));
  MOCK_METHOD(void, ReadOutputAsync,
              (const std::string& container_id, const std::string& exec_id, bool stderr_stream,
               size_t max_bytes, ReadDone done),
              (override));
  MOCK_METHOD(void, WriteStdinAsync,
              (const std::string& container_id, const std::string& exec_id, std::string data,
               WriteDone done),
              (override));
  MOCK_METHOD(absl::Status, ResizePty,
              (const std::string& container_id, const std::string& exec_id, uint32_t width,
               uint32_t height),
              (override));

 private:
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  // Runs `f` on a new thread; joins the earlier ones that are done.
  template <class F>
  void OnThread(F f) {
    std::vector<Worker> finished;
    {
      absl::MutexLock l(&mu_);
      for (auto it = workers_.begin(); it != workers_.end();) {
        if (it->done->load()) {
          finished.push_back(std::move(*it));
          it = workers_.erase(it);
        } else {
          ++it;
        }
      }
      auto done = std::make_shared<std::atomic<bool>>(false);
      workers_.push_back({std::thread([f = std::move(f), done]() mutable {
                            f();
                            *done = true;
                          }),
                          done});
    }
    for (Worker& w : finished) w.thread.join();
  }

  absl::Mutex mu_;
  std::vector<Worker> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kata::runtime::testing

#endif  // KATA_SRC_RUNTIME_SANDBOX_TESTING_MOCK_SANDBOX_H_
