// Process's lifecycle: construction from a started child, the waiter thread, Signal, Wait and
// destruction. Start is in start.cc, the child's side in child.cc, the streams in stdio.cc.
#include "src/agent/process/process.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

#include "src/agent/process/registry.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

}  // namespace

Process::Process(pid_t pid, bool terminal, size_t cap, UniqueFd cancel, UniqueFd out, UniqueFd err,
                 UniqueFd in)
    : pid_(pid),
      terminal_(terminal),
      cap_(cap),
      cancel_fd_(std::move(cancel)),
      out_fds_{std::move(out), std::move(err)},
      stdin_fd_(std::move(in)) {}

void Process::StartThreads() {
  waiter_ = std::thread([this] { WaitLoop(); });
  for (Stream s : {kStdout, kStderr}) {
    if (out_fds_[s].valid()) readers_[s] = std::thread([this, s] { DrainLoop(s); });
  }
}

Process::~Process() {
  {
    absl::MutexLock l(&mu_);
    if (!exited_) kill(pid_, SIGKILL);
  }
  if (waiter_.joinable()) waiter_.join();
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  uint64_t one = 1;
  ssize_t unused = write(cancel_fd_.get(), &one, sizeof(one));
  (void)unused;
  for (std::thread& reader : readers_) {
    if (reader.joinable()) reader.join();
  }
}  // the fds close with their UniqueFds

void Process::WaitLoop() {
  // Wait without reaping, so the pid cannot be recycled until we hold mu_ and mark the
  // process exited: Signal (which checks exited_ under mu_) never hits another process.
  siginfo_t si;
  RetryEintr([&] {
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOWAIT);
  });
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock l(&mu_);
    const int status = internal::ChildRegistry::Get().Reap(pid_);
    // -1 (ECHILD): someone else reaped our child against the contract; report 255.
    exit_code_ = status != -1 ? ExitCode(status) : 255;
    exited_ = true;
    cv_.SignalAll();
    ready.swap(exit_watchers_);
    // A stream at EOF becomes readable ("") with the exit.
    for (Stream s : {kStdout, kStderr}) TakeReadyReaders(s, &ready);
  }
  for (auto& f : ready) f();
}

void Process::NotifyExited(std::function<void()> ready) {
  {
    absl::MutexLock l(&mu_);
    if (!exited_) {
      exit_watchers_.push_back(std::move(ready));
      return;
    }
  }
  ready();
}

absl::Status Process::Signal(int sig) {
  absl::MutexLock l(&mu_);
  if (exited_) return ErrnoStatus(ESRCH, "signal");
  if (kill(pid_, sig) != 0) return ErrnoStatus(errno, "signal");
  return absl::OkStatus();
}

int Process::Wait() {
  absl::MutexLock l(&mu_);
  while (!exited_) cv_.Wait(&mu_);
  return exit_code_;
}

std::optional<int> Process::TryWait() {
  absl::MutexLock l(&mu_);
  if (!exited_) return std::nullopt;
  return exit_code_;
}

}  // namespace agent
}  // namespace kata
