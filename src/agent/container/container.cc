// Container's lifecycle after Create: state, Start, process lookup, signals, wait, pause and
// resume, stats and limits, Remove. Create and Exec (starting processes) are in launch.cc.
#include "src/agent/container/container.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

// Waits for `p` up to `deadline` (InfiniteFuture: forever). True when it exited.
bool WaitUntil(Process& p, absl::Time deadline) {
  while (!p.TryWait().has_value()) {
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// SIGKILL to every process of the cgroup (best effort).
void KillCgroup(cgroups::CgroupManager& cgroup) {
  absl::StatusOr<std::vector<pid_t>> pids = cgroup.Pids();
  if (!pids.ok()) return;
  for (pid_t pid : *pids) kill(pid, SIGKILL);
}

}  // namespace

absl::Status ValidateId(absl::string_view id, absl::string_view what) {
  auto ok_first = [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); };
  auto ok_rest = [&](char c) { return ok_first(c) || c == '_' || c == '.' || c == '-'; };
  bool valid = !id.empty() && id.size() <= 64 && ok_first(id[0]);
  for (size_t i = 1; valid && i < id.size(); ++i) valid = ok_rest(id[i]);
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", what, " \"", absl::CHexEscape(id),
                                                   "\": want [A-Za-z0-9][A-Za-z0-9_.-]{0,63}"));
  }
  return absl::OkStatus();
}

absl::string_view StateName(Container::State state) {
  switch (state) {
    case Container::State::kCreated:
      return "created";
    case Container::State::kPaused:
      return "paused";
    case Container::State::kRunning:
      return "running";
    case Container::State::kStopped:
      return "stopped";
    case Container::State::kRemoved:
      return "removed";
  }
  return "unknown";
}

Container::Container(std::string id, std::string init_exec_id, int clone_flags, int new_ns_flags,
                     std::shared_ptr<const security::SeccompFilter> seccomp,
                     std::unique_ptr<cgroups::CgroupManager> cgroup, UniqueFd gate,
                     std::shared_ptr<Process> init)
    : id_(std::move(id)),
      init_exec_id_(std::move(init_exec_id)),
      clone_flags_(clone_flags),
      new_ns_flags_(new_ns_flags),
      seccomp_(std::move(seccomp)),
      cgroup_(std::move(cgroup)),
      gate_(std::move(gate)) {
  processes_[init_exec_id_] = std::move(init);
}

Container::~Container() {
  bool removed;
  {
    absl::MutexLock lock(&mu_);
    removed = state_ == State::kRemoved;
  }
  if (!removed) Remove(absl::ZeroDuration()).IgnoreError();
}

Container::State Container::state() {
  absl::MutexLock lock(&mu_);
  return StateLocked();
}

Container::State Container::StateLocked() {
  if (state_ == State::kRunning) {
    auto it = processes_.find(init_exec_id_);
    if (it != processes_.end() && it->second->TryWait().has_value()) state_ = State::kStopped;
  }
  return state_;
}

absl::Status Container::CheckNotRemovedLocked() const {
  if (state_ == State::kRemoved) {
    return absl::FailedPreconditionError(absl::StrCat("container ", id_, " is removed"));
  }
  return absl::OkStatus();
}

absl::Status Container::Start() {
  absl::MutexLock lock(&mu_);
  State s = StateLocked();
  if (s != State::kCreated) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", id_, " is ", StateName(s), ", not created"));
  }
  const char go = 1;
  const int gate = gate_.get();  // read with mu_ held (the analysis does not see it in a lambda)
  const ssize_t n = RetryEintr([&] { return write(gate, &go, 1); });
  const int err = errno;
  gate_.reset();
  if (n != 1) return ErrnoStatus(err, absl::StrCat("container ", id_, ": start"));
  state_ = State::kRunning;
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Process>> Container::GetProcess(const std::string& exec_id) {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(CheckNotRemovedLocked());
  auto it = processes_.find(exec_id);
  if (it == processes_.end()) {
    return absl::NotFoundError(
        absl::StrCat("container ", id_, ": no process with exec id \"", exec_id, "\""));
  }
  return it->second;
}

bool Container::FreeIfDone(const std::string& exec_id, const std::shared_ptr<Process>& p,
                           bool exit_collected) {
  absl::MutexLock lock(&mu_);
  auto it = processes_.find(exec_id);
  if (exec_id == init_exec_id_ || it == processes_.end() || it->second != p) return false;
  if (exit_collected) exits_collected_.insert(exec_id);
  if (exits_collected_.count(exec_id) == 0 || !p->OutputDone()) return false;
  processes_.erase(it);
  exits_collected_.erase(exec_id);
  return true;
}

absl::Status Container::Signal(const std::string& exec_id, int sig) {
  if (!exec_id.empty()) {
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Process> p, GetProcess(exec_id));
    return p->Signal(sig);
  }
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(CheckNotRemovedLocked());
  KATA_ASSIGN_OR_RETURN(std::vector<pid_t> pids, cgroup_->Pids());
  for (pid_t pid : pids) kill(pid, sig);
  return absl::OkStatus();
}

absl::StatusOr<int> Container::Wait(const std::string& exec_id) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Process> p, GetProcess(exec_id));
  return p->Wait();
}

absl::Status Container::Remove(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(CheckNotRemovedLocked());
  const absl::Time deadline =
      timeout == absl::ZeroDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  if (state_ == State::kPaused) {
    // Frozen processes do not act on SIGKILL: thaw first.
    KATA_RETURN_IF_ERROR(
        AnnotateStatus(cgroup_->Thaw(absl::Seconds(5)), absl::StrCat("container ", id_)));
    state_ = State::kRunning;
  }
  KATA_RETURN_IF_ERROR(KillAndDestroyLocked(deadline));
  processes_.clear();
  exits_collected_.clear();
  state_ = State::kRemoved;
  return absl::OkStatus();
}

absl::Status Container::KillAndDestroyLocked(absl::Time deadline) {
  for (auto& [name, p] : processes_) p->Signal(SIGKILL).IgnoreError();
  // Without a pid namespace, descendants outlive the init: kill what is left in the cgroup.
  KillCgroup(*cgroup_);
  for (auto& [name, p] : processes_) {
    if (!WaitUntil(*p, deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat("container ", id_, ": process ", name, " did not exit"));
    }
  }
  // The kernel may list a just-reaped process for a moment: retry briefly.
  absl::Status st;
  for (int i = 0; i < 200; ++i) {
    st = cgroup_->Destroy();
    if (st.code() != absl::StatusCode::kFailedPrecondition || absl::Now() >= deadline) break;
    KillCgroup(*cgroup_);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return AnnotateStatus(st, absl::StrCat("container ", id_));
}

absl::Status Container::Pause(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  State s = StateLocked();
  if (s != State::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", id_, " is ", StateName(s), ", not running"));
  }
  KATA_RETURN_IF_ERROR(
      AnnotateStatus(cgroup_->Freeze(timeout), absl::StrCat("container ", id_, ": pause")));
  state_ = State::kPaused;
  return absl::OkStatus();
}

absl::Status Container::Resume(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  State s = StateLocked();
  if (s != State::kPaused) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", id_, " is ", StateName(s), ", not paused"));
  }
  KATA_RETURN_IF_ERROR(
      AnnotateStatus(cgroup_->Thaw(timeout), absl::StrCat("container ", id_, ": resume")));
  state_ = State::kRunning;
  return absl::OkStatus();
}

absl::StatusOr<cgroups::CgroupStats> Container::Stats() {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(CheckNotRemovedLocked());
  absl::StatusOr<cgroups::CgroupStats> st = cgroup_->Stats();
  if (!st.ok()) return AnnotateStatus(st.status(), absl::StrCat("container ", id_));
  return st;
}

absl::Status Container::Update(const oci::LinuxResources& resources) {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(CheckNotRemovedLocked());
  return AnnotateStatus(cgroup_->Apply(resources), absl::StrCat("container ", id_, ": update"));
}

absl::StatusOr<uint64_t> Container::OomKillCount() {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(CheckNotRemovedLocked());
  return cgroup_->OomKillCount();
}

}  // namespace agent
}  // namespace kata
