#include "src/runtime/hypervisor/qemu/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/libs/base/status_util.h"

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

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("spawn: empty argv");
  const std::string binary = ResolveBinary(argv[0]);
  std::vector<char*> cargv;
  for (const std::string& s : argv) cargv.push_back(const_cast<char*>(s.c_str()));
  cargv.push_back(nullptr);

  int log_fd = open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", options.log_path));
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int err_pipe[2];
  if (null_fd < 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return ErrnoStatus(e, "spawn: /dev/null or pipe");
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(log_fd);
    close(null_fd);
    close(err_pipe[0]);
    close(err_pipe[1]);
    return ErrnoStatus(e, "fork");
  }
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
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(binary.c_str(), cargv.data());
    int e = errno;
    (void)!write(err_pipe[1], &e, sizeof(e));
    _exit(127);
  }
  setpgid(pid, pid);  // also in the parent, so the group exists before we ever signal it
  close(log_fd);
  close(null_fd);
  close(err_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(err_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(err_pipe[0]);
  std::unique_ptr<ChildProcess> child(new ChildProcess(pid));
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    child->WaitFor(absl::Seconds(5));
    return ErrnoStatus(child_errno, absl::StrCat("exec ", binary));
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (!exited_) Kill();
}

bool ChildProcess::TryWait() {
  if (exited_) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    exited_ = true;
    wait_status_ = status;
  }
  return exited_;
}

bool ChildProcess::WaitFor(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!TryWait()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

void ChildProcess::Terminate(absl::Duration grace) {
  if (TryWait()) return;
  kill(-pid_, SIGTERM);
  if (WaitFor(grace)) return;
  Kill();
}

void ChildProcess::Kill() {
  if (TryWait()) return;  // reaped: the pid (and group id) may already be reused
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  exited_ = true;
  wait_status_ = status;
}

std::string ChildProcess::exit_description() const {
  if (!exited_) return "";
  if (WIFEXITED(wait_status_))
    return absl::StrCat("exited with status ", WEXITSTATUS(wait_status_));
  if (WIFSIGNALED(wait_status_)) {
    const char* name = sigabbrev_np(WTERMSIG(wait_status_));
    return absl::StrCat("killed by signal ", WTERMSIG(wait_status_), " (SIG",
                        name != nullptr ? name : "?", ")");
  }
  return "exited";
}

std::string ReadFileTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max_bytes) s = s.substr(s.size() - max_bytes);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace kata::hypervisor::qemu
