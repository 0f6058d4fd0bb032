#include "src/runtime/hypervisor/qemu/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata::hypervisor::qemu {
namespace {

// Resolves argv0 through PATH in the parent (execv after fork must not allocate).
std::string ResolveBinary(const std::string& argv0) {
  if (argv0.find('/') != std::string::npos) return argv0;
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", argv0);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return argv0;  // exec fails with ENOENT and reports it
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// In the forked child (async-signal-safe): every fd >= 3 becomes close-on-exec, then the
// `keep` fds lose the flag. close_range(CLOSE_RANGE_CLOEXEC) rather than closing,
// so the exec-error pipe still reports a failed exec; a per-fd loop up to `max_fd` where the
// kernel lacks it.
void KeepOnlyAcrossExec(const std::vector<int>& keep, int max_fd) {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  for (int fd : keep) fcntl(fd, F_SETFD, 0);
}

// What the forked child reports on the error pipe when it could not exec.
struct ChildError {
  enum Stage : int { kExec, kThpDisable };
  Stage stage;
  int err;  // errno
};

// The highest fd number + 1 the process may hold (the fallback loop's bound).
int FdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("spawn: empty argv");
  for (int fd : options.inherit_fds) {
    if (fd < 3 || fcntl(fd, F_GETFD) < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("spawn ", argv[0], ": inherit fd ", fd, " is not an open fd >= 3"));
    }
  }
  const int max_fd = FdLimit();
  const std::string binary = ResolveBinary(argv[0]);
  std::vector<char*> cargv;
  for (const std::string& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
  cargv.push_back(nullptr);

  UniqueFd log_fd(open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log_fd) return ErrnoStatus(errno, absl::StrCat("open ", options.log_path));
  UniqueFd null_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  int pipe_fds[2];
  if (!null_fd || pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return ErrnoStatus(errno, "spawn: /dev/null or pipe");
  }
  UniqueFd err_read(pipe_fds[0]);
  UniqueFd err_write(pipe_fds[1]);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus(errno, "fork");
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    setpgid(0, 0);
    if (options.die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(options.stdin_fd >= 0 ? options.stdin_fd : null_fd.get(), 0);
    dup2(log_fd.get(), 1);
    dup2(log_fd.get(), 2);
    KeepOnlyAcrossExec(options.inherit_fds, max_fd);
    ChildError e{ChildError::kExec, 0};
    if (options.disable_transparent_hugepages && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) {
      e.stage = ChildError::kThpDisable;
    } else {
      execv(binary.c_str(), cargv.data());
    }
    e.err = errno;
    (void)!write(err_write.get(), &e, sizeof(e));
    _exit(127);
  }
  setpgid(pid, pid);  // also in the parent, so the group exists before we ever signal it
  log_fd.reset();
  null_fd.reset();
  err_write.reset();
  ChildError e{};
  const ssize_t n = RetryEintr([&] { return read(err_read.get(), &e, sizeof(e)); });
  err_read.reset();
  std::unique_ptr<ChildProcess> child(new ChildProcess(pid));
  if (n == static_cast<ssize_t>(sizeof(e))) {
    child->WaitFor(absl::Seconds(5));
    return ErrnoStatus(e.err, e.stage == ChildError::kExec
                                  ? absl::StrCat("exec ", binary)
                                  : absl::StrCat("spawn ", binary, ": prctl(PR_SET_THP_DISABLE)"));
  }
  return child;
}

ChildProcess::ChildProcess(pid_t pid) : pid_(pid) {
  reaper_ = std::thread([this] { Reap(); });
}

ChildProcess::~ChildProcess() {
  Kill();
  reaper_.join();
}

void ChildProcess::Reap() {
  // Wait without reaping first: until the zombie is reaped below (under mu_) its pid and
  // process group cannot be reused, so Signal() never reaches another process.
  siginfo_t info{};
  const int r = RetryEintr([&] { return waitid(P_PID, pid_, &info, WEXITED | WNOWAIT); });
  absl::MutexLock lock(&mu_);
  int status = 0;
  if (r == 0) RetryEintr([&] { return waitpid(pid_, &status, 0); });
  // r != 0 (ECHILD) means someone else reaped it: the status is lost; report a plain exit.
  wait_status_ = status;
  exited_ = true;
}

void ChildProcess::Signal(int sig) {
  absl::MutexLock lock(&mu_);
  if (exited_) return;
  kill(-pid_, sig);
  kill(pid_, sig);  // in case it left its group
}

bool ChildProcess::exited() const {
  absl::MutexLock lock(&mu_);
  return exited_;
}

int ChildProcess::wait_status() const {
  absl::MutexLock lock(&mu_);
  return wait_status_;
}

bool ChildProcess::TryWait() { return exited(); }

bool ChildProcess::WaitFor(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&exited_), timeout);
}

void ChildProcess::Terminate(absl::Duration grace) {
  Signal(SIGTERM);
  if (WaitFor(grace)) return;
  Kill();
}

void ChildProcess::Kill() {
  Signal(SIGKILL);
  WaitFor(absl::InfiniteDuration());
}

std::string ChildProcess::exit_description() const {
  absl::MutexLock lock(&mu_);
  if (!exited_) return "";
  if (WIFEXITED(wait_status_)) {
    return absl::StrCat("exited with status ", WEXITSTATUS(wait_status_));
  }
  if (WIFSIGNALED(wait_status_)) {
    const char* name = sigabbrev_np(WTERMSIG(wait_status_));
    return absl::StrCat("killed by signal ", WTERMSIG(wait_status_), " (SIG",
                        name != nullptr ? name : "?", ")");
  }
  return "exited";
}

std::string ReadFileTail(const std::string& path, size_t max_bytes) {
  absl::StatusOr<std::string> content = ReadFileToString(path);
  if (!content.ok()) return "";
  std::string s = *std::move(content);
  if (s.size() > max_bytes) s = s.substr(s.size() - max_bytes);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace kata::hypervisor::qemu
