#include "src/agent/rpc/testing/fake_engine.h"

#include <signal.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kata {
namespace agent {
namespace testing {
namespace {

class FakeProcess final : public EngineProcess {
 public:
  // An exec'd process (exits at once) or the init (`init`: runs, echoes its stdin).
  FakeProcess(const oci::Process& p, bool init)
      : terminal_(p.terminal.value_or(false)), running_(init), echo_(init) {
    const oci::Strings args = p.args.value_or(oci::Strings{});
    if (!init) {
      code_ = static_cast<int>(args.size() % 256);
      out_ = absl::StrJoin(args, " ");
      err_ = absl::StrCat(args.empty() ? "" : args[0], ": done");
    }
  }

  int Wait() override {
    absl::MutexLock l(&mu_);
    if (running_) Exit(128 + SIGKILL);
    return code_;
  }
  bool AwaitOutputEof(absl::Duration) override {
    absl::MutexLock l(&mu_);
    return !running_;
  }
  absl::StatusOr<size_t> WriteStdin(absl::string_view data) override {
    absl::MutexLock l(&mu_);
    if (stdin_closed_) return absl::FailedPreconditionError("fake: stdin is closed");
    if (!running_) return absl::FailedPreconditionError("fake: the process exited");
    if (!echo_) return data.size();
    if (out_.size() + data.size() > FakeEngine::kMaxBuffered) {
      return absl::ResourceExhaustedError("fake: stdout buffer full");
    }
    out_.append(data.data(), data.size());
    return data.size();
  }
  absl::StatusOr<std::string> ReadStdout(size_t max_len) override { return Read(&out_, max_len); }
  absl::StatusOr<std::string> ReadStderr(size_t max_len) override { return Read(&err_, max_len); }
  absl::Status CloseStdin() override {
    absl::MutexLock l(&mu_);
    stdin_closed_ = true;
    return absl::OkStatus();
  }
  absl::Status Resize(uint16_t, uint16_t) override {
    if (!terminal_) return absl::FailedPreconditionError("fake: no terminal");
    return absl::OkStatus();
  }

  // Delivers `sig`; true when it ended the process.
  bool Signal(int sig) {
    absl::MutexLock l(&mu_);
    if (!running_ || sig == 0 || sig == SIGCONT || sig == SIGSTOP) return false;
    Exit(128 + sig);
    return true;
  }
  bool Done() {
    absl::MutexLock l(&mu_);
    return !running_ && out_.empty() && err_.empty();
  }
  bool running() {
    absl::MutexLock l(&mu_);
    return running_;
  }

 private:
  void Exit(int code) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    running_ = false;
    code_ = code;
  }
  absl::StatusOr<std::string> Read(std::string* buffer, size_t max_len) {
    absl::MutexLock l(&mu_);
    const size_t n = std::min(max_len, buffer->size());
    std::string data = buffer->substr(0, n);
    buffer->erase(0, n);
    return data;
  }

  const bool terminal_;
  absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_);
  const bool echo_;
  bool stdin_closed_ ABSL_GUARDED_BY(mu_) = false;
  int code_ ABSL_GUARDED_BY(mu_) = 0;
  std::string out_ ABSL_GUARDED_BY(mu_);
  std::string err_ ABSL_GUARDED_BY(mu_);
};

enum class State { kCreated, kRunning, kPaused, kStopped, kRemoved };

// FAILED_PRECONDITION unless the container (its state_) is in State::want.
#define KATA_FAKE_EXPECT_STATE(want, call)                                     \
  if (state_ != State::want) {                                                 \
    return absl::FailedPreconditionError(                                      \
        absl::StrCat("fake: ", call, " in state ", static_cast<int>(state_))); \
  }

class FakeContainer final : public EngineContainer {
 public:
  FakeContainer(std::string init_id, const oci::Process& init,
                std::shared_ptr<std::atomic<int>> live)
      : init_id_(std::move(init_id)), live_(std::move(live)) {
    processes_[init_id_] = std::make_shared<FakeProcess>(init, /*init=*/true);
    ++*live_;
  }
  ~FakeContainer() override { --*live_; }

  absl::Status Start() override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_EXPECT_STATE(kCreated, "Start");
    state_ = State::kRunning;
    return absl::OkStatus();
  }
  absl::Status Exec(const std::string& exec_id, const oci::Process& process) override {
    absl::MutexLock l(&mu_);
    UpdateStateLocked();
    KATA_FAKE_EXPECT_STATE(kRunning, "Exec");
    if (!process.args || process.args->empty() || (*process.args)[0].empty()) {
      return absl::InvalidArgumentError("process.args is empty");
    }
    if (processes_.count(exec_id) != 0) {
      return absl::AlreadyExistsError(absl::StrCat("process ", exec_id, " exists"));
    }
    if (processes_.size() >= FakeEngine::kMaxProcesses) {
      return absl::ResourceExhaustedError("fake: too many processes");
    }
    processes_[exec_id] = std::make_shared<FakeProcess>(process, /*init=*/false);
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<EngineProcess>> GetProcess(const std::string& exec_id) override {
    absl::MutexLock l(&mu_);
    if (state_ == State::kRemoved) return absl::FailedPreconditionError("container removed");
    auto it = processes_.find(exec_id);
    if (it == processes_.end()) {
      return absl::NotFoundError(absl::StrCat("process ", exec_id, " not found"));
    }
    return std::shared_ptr<EngineProcess>(it->second);
  }
  bool FreeIfDone(const std::string& exec_id, const std::shared_ptr<EngineProcess>& p,
                  bool exit_collected) override {
    absl::MutexLock l(&mu_);
    if (exit_collected) collected_.insert(exec_id);
    auto it = processes_.find(exec_id);
    if (exec_id == init_id_ || it == processes_.end() || it->second != p) return false;
    if (collected_.count(exec_id) == 0 || !it->second->Done()) return false;
    processes_.erase(it);
    collected_.erase(exec_id);
    return true;
  }
  absl::Status Signal(const std::string& exec_id, int sig) override {
    absl::MutexLock l(&mu_);
    if (state_ == State::kRemoved) return absl::FailedPreconditionError("container removed");
    for (auto& [id, p] : processes_) {
      if (!exec_id.empty() && id != exec_id) continue;
      if (p->Signal(sig) && sig == SIGKILL) ++kills_;
      if (!exec_id.empty()) return absl::OkStatus();
    }
    if (!exec_id.empty()) {
      return absl::NotFoundError(absl::StrCat("process ", exec_id, " not found"));
    }
    return absl::OkStatus();
  }
  absl::Status Remove(absl::Duration) override {
    absl::MutexLock l(&mu_);
    if (state_ == State::kRemoved) return absl::FailedPreconditionError("container removed");
    for (auto& [id, p] : processes_) p->Signal(SIGKILL);
    processes_.clear();
    state_ = State::kRemoved;
    return absl::OkStatus();
  }
  absl::Status Pause(absl::Duration) override {
    absl::MutexLock l(&mu_);
    UpdateStateLocked();
    KATA_FAKE_EXPECT_STATE(kRunning, "Pause");
    state_ = State::kPaused;
    return absl::OkStatus();
  }
  absl::Status Resume(absl::Duration) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_EXPECT_STATE(kPaused, "Resume");
    state_ = State::kRunning;
    return absl::OkStatus();
  }
  absl::StatusOr<cgroups::CgroupStats> Stats() override {
    absl::MutexLock l(&mu_);
    if (state_ == State::kRemoved) return absl::FailedPreconditionError("container removed");
    cgroups::CgroupStats st;
    st.pids_current = processes_.size();
    st.oom_kill_count = kills_;
    return st;
  }
  absl::Status Update(const oci::LinuxResources&) override {
    absl::MutexLock l(&mu_);
    if (state_ == State::kRemoved) return absl::FailedPreconditionError("container removed");
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> OomKillCount() override {
    absl::MutexLock l(&mu_);
    if (state_ == State::kRemoved) return absl::FailedPreconditionError("container removed");
    return kills_;
  }

 private:
  // A running container whose init ended is stopped.
  void UpdateStateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = processes_.find(init_id_);
    if (state_ == State::kRunning && (it == processes_.end() || !it->second->running())) {
      state_ = State::kStopped;
    }
  }

  const std::string init_id_;
  const std::shared_ptr<std::atomic<int>> live_;
  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kCreated;
  std::map<std::string, std::shared_ptr<FakeProcess>> processes_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> collected_ ABSL_GUARDED_BY(mu_);
  uint64_t kills_ ABSL_GUARDED_BY(mu_) = 0;
};

class FakeSandbox final : public EngineSandbox {
 public:
  FakeSandbox(std::string id, bool pidns, std::vector<std::string> held, FakeEngine* engine)
      : id_(std::move(id)), pidns_(pidns), held_(std::move(held)), engine_(engine) {}
  ~FakeSandbox() override { Destroy().IgnoreError(); }

  const std::string& id() const override { return id_; }
  absl::Status AdjustSpec(oci::Spec&, bool sandbox_pidns) override {
    if (sandbox_pidns && !pidns_ && !adopted_) {
      return absl::FailedPreconditionError("sandbox_pidns: the sandbox has no pid namespace");
    }
    return absl::OkStatus();
  }
  absl::Status AdoptPidNamespace(EngineContainer&, const std::string&) override {
    adopted_ = true;  // the first container's: this fake's containers have no pid
    return absl::OkStatus();
  }
  absl::Status Destroy() override {
    absl::Status st = engine_->ReleaseStorages(held_);
    held_.clear();
    return st;
  }

 private:
  const std::string id_;
  const bool pidns_;
  bool adopted_ = false;
  std::vector<std::string> held_;
  FakeEngine* const engine_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EngineContainer>> FakeEngine::CreateContainer(
    const std::string& id, const std::string& exec_id, const oci::Spec& spec) {
  if (!spec.process || !spec.process->args || spec.process->args->empty() ||
      (*spec.process->args)[0].empty()) {
    return absl::InvalidArgumentError(absl::StrCat("container ", id, ": process.args is empty"));
  }
  if (!spec.root || spec.root->path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("container ", id, ": no root.path"));
  }
  return std::make_unique<FakeContainer>(exec_id, *spec.process, live_);
}

absl::StatusOr<std::vector<std::string>> FakeEngine::AddStorages(
    const google::protobuf::RepeatedPtrField<grpc::Storage>& storages) {
  absl::MutexLock l(&mu_);
  std::vector<std::string> held;
  for (const grpc::Storage& s : storages) {
    if (s.mount_point().empty() || s.mount_point()[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("storage mount point \"", s.mount_point(), "\" is not absolute"));
    }
  }
  for (const grpc::Storage& s : storages) {
    ++storages_[s.mount_point()];
    held.push_back(s.mount_point());
  }
  return held;
}

absl::Status FakeEngine::ReleaseStorages(const std::vector<std::string>& held) {
  absl::MutexLock l(&mu_);
  absl::Status first;
  for (const std::string& mp : held) {
    auto it = storages_.find(mp);
    if (it == storages_.end()) {
      if (first.ok()) first = absl::NotFoundError(absl::StrCat("storage ", mp, " not held"));
      continue;
    }
    if (--it->second == 0) storages_.erase(it);
  }
  return first;
}

std::map<std::string, int> FakeEngine::HeldStorages() {
  absl::MutexLock l(&mu_);
  return storages_;
}

absl::Status FakeEngine::ApplyDevices(
    const google::protobuf::RepeatedPtrField<grpc::Device>& devices, oci::Spec& spec) {
  return device::ApplyDevices(devices, spec, devices_);
}

absl::StatusOr<std::unique_ptr<EngineSandbox>> FakeEngine::CreateSandbox(
    const grpc::CreateSandboxRequest& request) {
  absl::StatusOr<std::vector<std::string>> held = AddStorages(request.storages());
  if (!held.ok()) return held.status();
  return std::make_unique<FakeSandbox>(request.sandbox_id(), request.sandbox_pidns(),
                                       std::move(*held), this);
}

}  // namespace testing
}  // namespace agent
}  // namespace kata
