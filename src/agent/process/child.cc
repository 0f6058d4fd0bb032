#include "src/agent/process/child.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/libs/base/eintr.h"

namespace kata {
namespace agent {
namespace internal {
namespace {

constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

[[noreturn]] void Fail(int report_fd, int32_t kind, int32_t value, const char* msg, size_t len) {
  ChildReport r;
  memset(&r, 0, sizeof(r));
  r.kind = kind;
  r.value = value;
  if (len >= sizeof(r.msg)) len = sizeof(r.msg) - 1;
  memcpy(r.msg, msg, len);
  if (report_fd >= 0) {
    ssize_t unused = write(report_fd, &r, sizeof(r));
    (void)unused;
  }
  _exit(127);
}

[[noreturn]] void FailErrno(const ChildPlan& p, int err, const char* what) {
  Fail(p.report_fd, kReportErrno, err, what, strlen(what));
}

[[noreturn]] void FailErrno(const ChildPlan& p, int err, const std::string& what) {
  Fail(p.report_fd, kReportErrno, err, what.data(), what.size());
}

void RunHook(const ChildPlan& p, const ChildHook* hook) {
  if (hook == nullptr || !*hook) return;
  absl::Status st = (*hook)();
  if (!st.ok()) {
    Fail(p.report_fd, kReportStatus, static_cast<int32_t>(st.code()), st.message().data(),
         st.message().size());
  }
}

// Reads one byte from `fd`; false on EOF or error.
bool ReadByte(int fd) {
  char c;
  return RetryEintr([&] { return read(fd, &c, 1); }) == 1;
}

// Waits until the agent released the child (a byte; EOF: the agent gave up, leave quietly),
// then, in a new user namespace, becomes its root (runc's nsexec does the same) so what the
// set-up creates belongs to the container's root.
void AwaitRelease(const ChildPlan& p) {
  if (p.sync_fd >= 0) {
    if (!ReadByte(p.sync_fd)) _exit(127);
    close(p.sync_fd);
  }
  if (p.userns_root) {
    if (setresgid(0, 0, 0) != 0) FailErrno(p, errno, "setresgid 0 in the user namespace");
    if (setresuid(0, 0, 0) != 0) FailErrno(p, errno, "setresuid 0 in the user namespace");
  }
}

// Handlers of the agent make no sense here (the mask was blocked by the parent for fork).
void ResetSignalHandlers() {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigaction(sig, &sa, nullptr);
  }
}

void CloseRange(unsigned first, unsigned last, int max_fd) {
  if (first > last) return;
  if (syscall(SYS_close_range, first, last, 0) == 0) return;
  for (unsigned fd = first; fd <= last && fd < static_cast<unsigned>(max_fd); ++fd) close(fd);
}

// Closes every inherited fd but the plan's: no other process's pipe stays open through us.
void CloseInheritedFds(const ChildPlan& p) {
  unsigned next = 0;
  for (int fd : p.keep) {
    if (fd > 0) CloseRange(next, static_cast<unsigned>(fd) - 1, p.max_fd);
    next = static_cast<unsigned>(fd) + 1;
  }
  CloseRange(next, ~0U, p.max_fd);
}

// Puts the plan's stdio on 0, 1, 2 (moving every source off 0..2 first, so the dup2s cannot
// clobber one another).
void InstallStdio(ChildPlan& p) {
  for (int i = 0; i < 3; ++i) {
    if (p.stdio[i] < 3) {
      int fd = fcntl(p.stdio[i], F_DUPFD_CLOEXEC, 3);
      if (fd < 0) FailErrno(p, errno, "dup stdio");
      p.stdio[i] = fd;
    }
  }
  if (p.report_fd < 3) {
    int fd = fcntl(p.report_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) _exit(127);
    p.report_fd = fd;
  }
  for (int i = 0; i < 3; ++i) {
    if (dup2(p.stdio[i], i) < 0) FailErrno(p, errno, "dup2 stdio");
  }
}

void SwitchUser(const ChildPlan& p) {
  if (setgroups(p.groups.size(), p.groups.data()) != 0) FailErrno(p, errno, p.setgroups_msg);
  if (setresgid(p.gid, p.gid, p.gid) != 0) FailErrno(p, errno, p.setgid_msg);
  if (setresuid(p.uid, p.uid, p.uid) != 0) FailErrno(p, errno, p.setuid_msg);
}

// Reaps the child's own children (and orphans re-parented to it) until `gate_fd` is readable.
void ReapUntilReadable(int gate_fd) {
  // Every signal is blocked here: SIGCHLD queues for the signalfd.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  const int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  for (;;) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    struct pollfd fds[2] = {{gate_fd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(fds, sfd >= 0 ? 2 : 1, sfd >= 0 ? -1 : 1000) < 0 && errno != EINTR) break;
    if (fds[0].revents != 0) break;
    struct signalfd_siginfo si;
    while (sfd >= 0 && read(sfd, &si, sizeof(si)) > 0) {
    }
  }
  if (sfd >= 0) close(sfd);
}

// Tells the agent everything before exec succeeded, then waits at the gate: a byte execs, EOF
// exits 127. Failures after this point are silent (report_fd is closed).
void WaitAtGate(ChildPlan& p) {
  ChildReport r;
  memset(&r, 0, sizeof(r));
  r.kind = kReportReady;
  ssize_t unused = write(p.report_fd, &r, sizeof(r));
  (void)unused;
  close(p.report_fd);
  p.report_fd = -1;
  if (p.reap_at_gate) ReapUntilReadable(p.gate_fd);
  if (!ReadByte(p.gate_fd)) _exit(127);
  close(p.gate_fd);
}

[[noreturn]] void Exec(const ChildPlan& p) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int err = ENOENT;
  for (const std::string& path : p.exec_paths) {
    execve(path.c_str(), p.argv.data(), p.envp.data());
    // Like execvp: keep searching past missing entries; report EACCES if one was found.
    if (errno == EACCES) {
      err = EACCES;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      err = errno;
      break;
    }
  }
  FailErrno(p, err, p.exec_msg);
}

}  // namespace

void RunChild(ChildPlan& p) {
  AwaitRelease(p);
  ResetSignalHandlers();
  CloseInheritedFds(p);
  InstallStdio(p);
  if (setsid() < 0) FailErrno(p, errno, "setsid");
  RunHook(p, p.early_hook);
  if (p.unshare_flags != 0 && unshare(p.unshare_flags) != 0) FailErrno(p, errno, "unshare");
  RunHook(p, p.hook);
  if (p.terminal) {
    if (const char* step = SetupTerminalInChild(p.tty)) FailErrno(p, errno, step);
  }
  if (p.cwd != nullptr && chdir(p.cwd) != 0) FailErrno(p, errno, p.chdir_msg);
  if (p.switch_user) SwitchUser(p);
  RunHook(p, p.post_user_hook);
  if (p.gate_fd >= 0) WaitAtGate(p);
  Exec(p);
}

void RunIntermediate(ChildPlan& p, const std::vector<int>& join, int clone_flags, int pid_fd) {
  RunHook(p, p.early_hook);
  p.early_hook = nullptr;
  for (int fd : join) {
    if (setns(fd, 0) != 0) FailErrno(p, errno, "setns (namespace joined before clone)");
  }
  // A raw clone without a new stack returns twice, like fork. This process has one thread,
  // so no lock of the agent's threads (malloc's included) is held in the copy.
  long pid = syscall(SYS_clone, static_cast<unsigned long>(CLONE_PARENT | SIGCHLD | clone_flags),
                     nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) FailErrno(p, errno, "clone");
  if (pid == 0) RunChild(p);
  int32_t v = static_cast<int32_t>(pid);
  ssize_t unused = write(pid_fd, &v, sizeof(v));
  (void)unused;
  _exit(0);
}

std::vector<std::string> ExecCandidates(const std::string& prog,
                                        const std::vector<std::string>& env) {
  if (prog.find('/') != std::string::npos) return {prog};
  std::string path = kDefaultPath;
  for (const std::string& kv : env) {
    if (kv.rfind("PATH=", 0) == 0) path = kv.substr(5);
  }
  std::vector<std::string> out;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    if (dir.empty()) dir = ".";
    out.push_back(absl::StrCat(dir, "/", prog));
  }
  return out;
}

}  // namespace internal
}  // namespace agent
}  // namespace kata
