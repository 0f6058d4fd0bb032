#include "src/agent/process/process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/agent/process/reaper.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// An owned fd, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

absl::Status MakePipe(Fd* r, Fd* w) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  r->reset(p[0]);
  w->reset(p[1]);
  return absl::OkStatus();
}

absl::Status SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return ErrnoStatus(errno, "fcntl O_NONBLOCK");
  }
  return absl::OkStatus();
}

// What the child reports through the CLOEXEC error pipe when it fails before exec.
struct ChildReport {
  int32_t kind;  // kErrno: value is an errno; kStatus: value is an absl::StatusCode
  int32_t value;
  char msg[1024];  // the step ("exec /no/such") or the hook's message; NUL-terminated
};
constexpr int32_t kErrno = 1;
constexpr int32_t kStatus = 2;
constexpr int32_t kReady = 3;  // exec_gate_fd: everything before exec succeeded

// Everything the child needs, prepared by the parent so the child allocates nothing itself.
struct ChildPlan {
  int stdio[3];
  int report_fd;  // -1 once the gate was reported: failures are then silent (exit 127)
  int sync_fd;    // parent_hook: read end the child waits on; -1 when there is none
  int unshare_flags;
  int gate_fd;
  bool reap_at_gate = false;
  std::vector<int> keep;  // sorted, unique: fds that survive the close sweep
  int max_fd;             // fallback sweep bound when close_range is missing
  bool terminal;
  int console_fd = -1;    // terminal: the child's end of the socket the pty master goes back on
  int agent_dev_fd = -1;  // terminal: the agent's /dev (O_PATH), the fallback for the pty
  uint16_t rows = 0, cols = 0;
  const ChildHook* early_hook;  // nullptr once run (two-step: by the intermediate)
  const ChildHook* hook;
  const ChildHook* post_user_hook;
  bool userns_root = false;  // two-step: become root of the user namespace after the sync
  const char* cwd;           // nullptr: stay
  std::string chdir_msg;
  bool switch_user;
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
  std::string setgroups_msg, setgid_msg, setuid_msg;
  std::vector<std::string> exec_paths;  // candidates, tried in order
  std::vector<char*> argv, envp;        // NULL-terminated
  std::string exec_msg;
};

[[noreturn]] void ChildFail(int fd, int32_t kind, int32_t value, const char* msg, size_t len) {
  ChildReport r;
  memset(&r, 0, sizeof(r));
  r.kind = kind;
  r.value = value;
  if (len >= sizeof(r.msg)) len = sizeof(r.msg) - 1;
  memcpy(r.msg, msg, len);
  if (fd >= 0) {
    ssize_t unused = write(fd, &r, sizeof(r));  // < PIPE_BUF: atomic
    (void)unused;
  }
  _exit(127);
}

[[noreturn]] void ChildFailErrno(const ChildPlan& p, int err, const std::string& what) {
  ChildFail(p.report_fd, kErrno, err, what.data(), what.size());
}

void RunHook(const ChildPlan& p, const ChildHook* hook) {
  if (hook == nullptr || !*hook) return;
  absl::Status st = (*hook)();
  if (!st.ok()) {
    ChildFail(p.report_fd, kStatus, static_cast<int32_t>(st.code()), st.message().data(),
              st.message().size());
  }
}

void CloseRange(unsigned first, unsigned last, int max_fd) {
  if (first > last) return;
  if (syscall(SYS_close_range, first, last, 0) == 0) return;
  for (unsigned fd = first; fd <= last && fd < static_cast<unsigned>(max_fd); ++fd) close(fd);
}

// Sends `fd` with one byte over the unix socket `sock` (SCM_RIGHTS); false on failure.
bool SendFd(int sock, int fd) {
  char byte = 0;
  struct iovec iov = {&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof(control));
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

// Opens a new pty master from the devpts of the child's root as it is now (after the hook:
// the container's): /dev/ptmx (runc's rootfs makes it a link to pts/ptmx), else
// /dev/pts/ptmx, else the agent's /dev/ptmx (a root without devpts). -1 and errno (of the
// first attempt) on failure.
int OpenPtyMaster(const ChildPlan& p) {
  constexpr int kFlags = O_RDWR | O_NOCTTY | O_CLOEXEC;
  int fd = open("/dev/ptmx", kFlags);
  if (fd >= 0) return fd;
  const int first_errno = errno;
  fd = open("/dev/pts/ptmx", kFlags);
  if (fd < 0 && p.agent_dev_fd >= 0) fd = openat(p.agent_dev_fd, "ptmx", kFlags);
  if (fd < 0) errno = first_errno;
  return fd;
}

// The terminal of a `terminal` process, as runc sets it up: allocated in the child once its
// root is final, so the name of the slave (/dev/pts/N) is the process's own; the slave becomes
// the controlling terminal and fds 0, 1 and 2; the master goes to the agent on console_fd.
void SetupTerminal(ChildPlan& p) {
  int master = OpenPtyMaster(p);
  if (master < 0) ChildFailErrno(p, errno, "terminal: open /dev/ptmx");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) != 0) ChildFailErrno(p, errno, "terminal: unlockpt");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) ChildFailErrno(p, errno, "terminal: open the pty slave");
  if (p.rows != 0 || p.cols != 0) {
    struct winsize ws = {p.rows, p.cols, 0, 0};
    if (ioctl(slave, TIOCSWINSZ, &ws) != 0) ChildFailErrno(p, errno, "terminal: TIOCSWINSZ");
  }
  if (ioctl(slave, TIOCSCTTY, 0) != 0) ChildFailErrno(p, errno, "terminal: ioctl TIOCSCTTY");
  for (int i = 0; i < 3; ++i) {
    if (dup2(slave, i) < 0) ChildFailErrno(p, errno, "terminal: dup2");
  }
  close(slave);
  if (!SendFd(p.console_fd, master)) ChildFailErrno(p, errno, "terminal: send the pty master");
  close(master);
  close(p.console_fd);
  p.console_fd = -1;
  if (p.agent_dev_fd >= 0) close(p.agent_dev_fd);
  p.agent_dev_fd = -1;
}

// Runs in the forked child: async-signal-safe calls only (plus the hook, see process.h).
[[noreturn]] void RunChild(ChildPlan& p) {
  // Wait until the parent hook ran (a byte); EOF means it failed: leave quietly.
  if (p.sync_fd >= 0) {
    char c;
    ssize_t n;
    do {
      n = read(p.sync_fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(127);
    close(p.sync_fd);
  }
  if (p.userns_root) {
    // The maps are written: be root of the user namespace (runc's nsexec does the same), so
    // what the set-up creates belongs to the container's root.
    if (setresgid(0, 0, 0) != 0) ChildFailErrno(p, errno, "setresgid 0 in the user namespace");
    if (setresuid(0, 0, 0) != 0) ChildFailErrno(p, errno, "setresuid 0 in the user namespace");
  }
  // Handlers of the agent make no sense here; the mask was blocked by the parent for fork.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigaction(sig, &sa, nullptr);
  }

  // Close every inherited fd but ours: no other process's pipe stays open through us.
  unsigned next = 0;
  for (int fd : p.keep) {
    if (fd > 0) CloseRange(next, static_cast<unsigned>(fd) - 1, p.max_fd);
    next = static_cast<unsigned>(fd) + 1;
  }
  CloseRange(next, ~0U, p.max_fd);

  // Move sources off 0..2 first so the dup2s below cannot clobber one another.
  for (int i = 0; i < 3; ++i) {
    if (p.stdio[i] < 3) {
      int fd = fcntl(p.stdio[i], F_DUPFD_CLOEXEC, 3);
      if (fd < 0) ChildFailErrno(p, errno, "dup stdio");
      p.stdio[i] = fd;
    }
  }
  if (p.report_fd < 3) {
    int fd = fcntl(p.report_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) _exit(127);
    p.report_fd = fd;
  }
  for (int i = 0; i < 3; ++i) {
    if (dup2(p.stdio[i], i) < 0) ChildFailErrno(p, errno, "dup2 stdio");
  }

  if (setsid() < 0) ChildFailErrno(p, errno, "setsid");

  RunHook(p, p.early_hook);

  if (p.unshare_flags != 0 && unshare(p.unshare_flags) != 0) {
    ChildFailErrno(p, errno, "unshare");
  }

  RunHook(p, p.hook);

  if (p.terminal) SetupTerminal(p);

  if (p.cwd != nullptr && chdir(p.cwd) != 0) ChildFailErrno(p, errno, p.chdir_msg);

  if (p.switch_user) {
    if (setgroups(p.groups.size(), p.groups.data()) != 0) {
      ChildFailErrno(p, errno, p.setgroups_msg);
    }
    if (setresgid(p.gid, p.gid, p.gid) != 0) ChildFailErrno(p, errno, p.setgid_msg);
    if (setresuid(p.uid, p.uid, p.uid) != 0) ChildFailErrno(p, errno, p.setuid_msg);
  }

  RunHook(p, p.post_user_hook);

  if (p.gate_fd >= 0) {
    ChildReport r;
    memset(&r, 0, sizeof(r));
    r.kind = kReady;
    ssize_t w = write(p.report_fd, &r, sizeof(r));
    (void)w;
    close(p.report_fd);
    p.report_fd = -1;
    if (p.reap_at_gate) {
      // Every signal is blocked here: SIGCHLD queues for the signalfd.
      sigset_t chld;
      sigemptyset(&chld);
      sigaddset(&chld, SIGCHLD);
      int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
      for (;;) {
        while (waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        struct pollfd fds[2] = {{p.gate_fd, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(fds, sfd >= 0 ? 2 : 1, sfd >= 0 ? -1 : 1000) < 0 && errno != EINTR) break;
        if (fds[0].revents != 0) break;
        struct signalfd_siginfo si;
        while (sfd >= 0 && read(sfd, &si, sizeof(si)) > 0) {
        }
      }
    }
    char c;
    ssize_t n;
    do {
      n = read(p.gate_fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(127);
    close(p.gate_fd);
  }

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
  ChildFailErrno(p, err, p.exec_msg);
}

// The intermediate process of a two-step start (process.h): single-threaded, so it may
// join a user namespace; it creates the child with every new namespace at once, as a child
// of the agent (CLONE_PARENT), tells the agent its pid on `pid_fd` and exits.
[[noreturn]] void RunIntermediate(ChildPlan& p, const std::vector<int>& join, int clone_flags,
                                  int pid_fd) {
  RunHook(p, p.early_hook);
  p.early_hook = nullptr;
  for (int fd : join) {
    if (setns(fd, 0) != 0) ChildFailErrno(p, errno, "setns (namespace joined before clone)");
  }
  // A raw clone without a new stack returns twice, like fork. This process has one thread,
  // so no lock of the agent's threads (malloc's included) is held in the copy.
  long pid = syscall(SYS_clone, static_cast<unsigned long>(CLONE_PARENT | SIGCHLD | clone_flags),
                     nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) ChildFailErrno(p, errno, "clone");
  if (pid == 0) RunChild(p);
  int32_t v = static_cast<int32_t>(pid);
  ssize_t unused = write(pid_fd, &v, sizeof(v));
  (void)unused;
  _exit(0);
}

// Receives an fd sent with SendFd on `sock` (CLOEXEC in this process).
absl::StatusOr<int> ReceiveFd(int sock) {
  char byte;
  struct iovec iov = {&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(errno, "receive the pty master");
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (n == 0 || c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      c->cmsg_len != CMSG_LEN(sizeof(int))) {
    return absl::InternalError("the child sent no pty master");
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
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

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

// The pids of the children Process owns (reaper.h): changed under ChildMu, together with
// the fork and the waitpid that reaps them.
std::mutex& ChildMu() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}
std::condition_variable& ChildCv() {
  static std::condition_variable* cv = new std::condition_variable();
  return *cv;
}
std::set<pid_t>& Children() {
  static std::set<pid_t>* children = new std::set<pid_t>();
  return *children;
}
std::atomic<uint64_t> g_orphans_reaped{0};

// Reaps `pid` (a registered child) and unregisters it; the status, or -1.
int ReapRegistered(pid_t pid) {
  std::lock_guard<std::mutex> l(ChildMu());
  int status = 0;
  pid_t got;
  do {
    got = waitpid(pid, &status, 0);
  } while (got < 0 && errno == EINTR);
  Children().erase(pid);
  ChildCv().notify_all();
  return got == pid ? status : -1;
}

void Reap(pid_t pid) { ReapRegistered(pid); }

void ReaperLoop() {
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      // ECHILD: no children at all; a new one can only come from a fork of ours.
      std::unique_lock<std::mutex> l(ChildMu());
      ChildCv().wait_for(l, std::chrono::seconds(1));
      continue;
    }
    pid_t pid = si.si_pid;
    std::unique_lock<std::mutex> l(ChildMu());
    if (Children().count(pid) == 0) {
      if (waitpid(pid, nullptr, WNOHANG) == pid) g_orphans_reaped.fetch_add(1);
      continue;
    }
    // A Process's own child: its waiter reaps it; wait for that before looking again.
    ChildCv().wait_for(l, std::chrono::milliseconds(100),
                       [pid] { return Children().count(pid) == 0; });
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Process>> Process::Start(ProcessOptions options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return absl::InvalidArgumentError("process: argv is empty");
  }
  for (const auto* list : {&options.argv, &options.env}) {
    for (const std::string& s : *list) {
      if (s.find('\0') != std::string::npos) {
        return absl::InvalidArgumentError("process: argument or environment has a NUL byte");
      }
    }
  }
  if (options.output_buffer_bytes == 0) {
    return absl::InvalidArgumentError("process: output_buffer_bytes is 0");
  }
  constexpr int kNsFlags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                           CLONE_NEWCGROUP | CLONE_NEWUSER;
  if ((options.clone_flags & ~kNsFlags) != 0) {
    return absl::InvalidArgumentError("process: clone_flags has bits other than namespaces");
  }
  if ((options.clone_flags & CLONE_NEWPID) != 0 && options.join_pid_ns_fd >= 0) {
    return absl::InvalidArgumentError("process: CLONE_NEWPID together with join_pid_ns_fd");
  }
  const bool new_user = (options.clone_flags & CLONE_NEWUSER) != 0;
  const bool two_step = new_user || !options.pre_join_ns_fds.empty();
  if (two_step && options.join_pid_ns_fd >= 0) {
    return absl::InvalidArgumentError(
        "process: join_pid_ns_fd with a user namespace (use pre_join_ns_fds)");
  }
  if (new_user != (!options.uid_map.empty() && !options.gid_map.empty()) ||
      (!new_user && (!options.uid_map.empty() || !options.gid_map.empty()))) {
    return absl::InvalidArgumentError(
        "process: uid_map and gid_map are required with CLONE_NEWUSER, and only with it");
  }

  Fd cancel(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (cancel.get() < 0) return ErrnoStatus(errno, "eventfd");

  // Parent ends (kept) and child ends (closed in the parent after fork).
  Fd in_w, out_r, err_r, console_r;
  Fd in_r, out_w, err_w, console_w, null_fd, agent_dev;
  if (options.terminal) {
    // The child allocates its pty itself (SetupTerminal); until then its stdio is /dev/null.
    null_fd.reset(open("/dev/null", O_RDWR | O_CLOEXEC));
    if (null_fd.get() < 0) return ErrnoStatus(errno, "open /dev/null");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return ErrnoStatus(errno, "socketpair");
    }
    console_r.reset(sv[0]);
    console_w.reset(sv[1]);
    agent_dev.reset(open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC));  // -1: no fallback
  } else {
    KATA_RETURN_IF_ERROR(MakePipe(&in_r, &in_w));
    KATA_RETURN_IF_ERROR(MakePipe(&out_r, &out_w));
    KATA_RETURN_IF_ERROR(MakePipe(&err_r, &err_w));
    KATA_RETURN_IF_ERROR(SetNonBlocking(in_w.get()));
    KATA_RETURN_IF_ERROR(SetNonBlocking(out_r.get()));
    KATA_RETURN_IF_ERROR(SetNonBlocking(err_r.get()));
  }
  Fd report_r, report_w;
  KATA_RETURN_IF_ERROR(MakePipe(&report_r, &report_w));
  Fd sync_r, sync_w;
  if (options.parent_hook || two_step) KATA_RETURN_IF_ERROR(MakePipe(&sync_r, &sync_w));
  Fd pid_r, pid_w;  // two-step: the intermediate tells the child's pid
  if (two_step) KATA_RETURN_IF_ERROR(MakePipe(&pid_r, &pid_w));

  ChildPlan plan;
  if (options.terminal) {
    plan.stdio[0] = plan.stdio[1] = plan.stdio[2] = null_fd.get();
    plan.console_fd = console_w.get();
    plan.agent_dev_fd = agent_dev.get();
    plan.rows = options.rows;
    plan.cols = options.cols;
  } else {
    plan.stdio[0] = in_r.get();
    plan.stdio[1] = out_w.get();
    plan.stdio[2] = err_w.get();
  }
  plan.report_fd = report_w.get();
  plan.sync_fd = sync_r.get();
  plan.unshare_flags = two_step ? 0 : options.clone_flags & ~CLONE_NEWPID;
  plan.userns_root = two_step;
  plan.gate_fd = options.exec_gate_fd;
  plan.reap_at_gate = options.reap_at_gate;
  plan.keep = {plan.stdio[0], plan.stdio[1],   plan.stdio[2],    plan.report_fd,
               plan.gate_fd,  plan.console_fd, plan.agent_dev_fd};
  plan.keep.insert(plan.keep.end(), options.keep_fds.begin(), options.keep_fds.end());
  std::sort(plan.keep.begin(), plan.keep.end());
  plan.keep.erase(std::unique(plan.keep.begin(), plan.keep.end()), plan.keep.end());
  plan.keep.erase(std::remove_if(plan.keep.begin(), plan.keep.end(), [](int fd) { return fd < 0; }),
                  plan.keep.end());
  struct rlimit rl;
  plan.max_fd = (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                 rl.rlim_cur < (1u << 20))
                    ? static_cast<int>(rl.rlim_cur)
                    : (1 << 20);
  plan.terminal = options.terminal;
  plan.early_hook = &options.early_hook;
  plan.hook = &options.child_hook;
  plan.post_user_hook = &options.post_user_hook;
  plan.cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  plan.chdir_msg = absl::StrCat("chdir ", options.cwd);
  plan.switch_user = options.user.has_value();
  if (options.user) {
    plan.uid = options.user->uid;
    plan.gid = options.user->gid;
    plan.groups = options.user->additional_gids;
    plan.setgroups_msg = "setgroups";
    plan.setgid_msg = absl::StrCat("setgid ", plan.gid);
    plan.setuid_msg = absl::StrCat("setuid ", plan.uid);
  }
  plan.exec_paths = ExecCandidates(options.argv[0], options.env);
  for (std::string& a : options.argv) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (std::string& e : options.env) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  plan.exec_msg = absl::StrCat("exec ", options.argv[0]);

  // Block every signal across fork so no agent handler runs in the child before it resets
  // them; the child unblocks just before exec.
  pid_t pid = -1;
  int fork_errno = 0;
  const char* fork_what = "fork";
  auto do_fork = [&] {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    fork_errno = errno;
    if (pid == 0) {
      if (two_step) {
        RunIntermediate(plan, options.pre_join_ns_fds, options.clone_flags, pid_w.get());
      }
      RunChild(plan);
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  };
  // Reads the child's report (after every writer end of ours is closed): OK when it exec'd
  // or waits at the gate, else its failure (the child, when > 0, is reaped then).
  auto read_report = [&report_r](pid_t child) -> absl::Status {
    ChildReport report;
    size_t got = 0;
    while (got < sizeof(report)) {
      ssize_t n =
          read(report_r.get(), reinterpret_cast<char*>(&report) + got, sizeof(report) - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got == 0 || (got == sizeof(report) && report.kind == kReady)) return absl::OkStatus();
    if (child > 0) Reap(child);
    if (got < sizeof(report)) return absl::InternalError("process: short report from child");
    report.msg[sizeof(report.msg) - 1] = '\0';
    if (report.kind == kErrno) return ErrnoStatus(report.value, report.msg);
    return absl::Status(static_cast<absl::StatusCode>(report.value), report.msg);
  };
  // Fork and register the pid under ChildMu, so the orphan reaper never takes it for an
  // unknown child.
  std::unique_lock<std::mutex> registry(ChildMu());
  if (two_step) {
    do_fork();  // every new namespace comes with the intermediate's clone
  } else if ((options.clone_flags & CLONE_NEWPID) != 0 || options.join_pid_ns_fd >= 0) {
    // The pid namespace for children is a per-thread attribute: change it in a thread of
    // its own, which forks and ends, so the agent's other threads never see it.
    std::thread t([&] {
      int r = (options.clone_flags & CLONE_NEWPID) != 0
                  ? unshare(CLONE_NEWPID)
                  : setns(options.join_pid_ns_fd, CLONE_NEWPID);
      if (r != 0) {
        fork_errno = errno;
        fork_what = (options.clone_flags & CLONE_NEWPID) != 0 ? "unshare CLONE_NEWPID"
                                                              : "setns CLONE_NEWPID";
        return;
      }
      do_fork();
    });
    t.join();
  } else {
    do_fork();
  }
  if (pid > 0) Children().insert(pid);
  registry.unlock();
  ChildCv().notify_all();  // a reaper that found no children looks again
  if (pid < 0) return ErrnoStatus(fork_errno, fork_what);
  sync_r.reset();
  if (two_step) {
    // The intermediate tells the child's pid and exits; the child waits on the sync pipe.
    const pid_t mid = pid;
    pid_w.reset();
    int32_t child = 0;
    size_t got = 0;
    while (got < sizeof(child)) {
      ssize_t n = read(pid_r.get(), reinterpret_cast<char*>(&child) + got, sizeof(child) - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got == sizeof(child) && child > 0) {
      std::lock_guard<std::mutex> l(ChildMu());
      Children().insert(child);
    }
    Reap(mid);
    if (got != sizeof(child) || child <= 0) {
      // Failed before the clone: the report says why (the child never existed).
      report_w.reset();
      sync_w.reset();
      absl::Status st = read_report(-1);
      return st.ok() ? absl::InternalError("process: the intermediate process died") : st;
    }
    pid = child;
  }
  // Kills and reaps the child (it has not run anything of the caller's yet), returns `st`.
  auto abandon = [&pid](absl::Status st) {
    kill(pid, SIGKILL);
    Reap(pid);
    return st;
  };
  if (new_user) {
    for (const auto& [file, content] :
         {std::pair<const char*, const std::string*>{"uid_map", &options.uid_map},
          {"gid_map", &options.gid_map}}) {
      const std::string path = absl::StrCat("/proc/", pid, "/", file);
      Fd f(open(path.c_str(), O_WRONLY | O_CLOEXEC));
      if (f.get() < 0) return abandon(ErrnoStatus(errno, absl::StrCat("process: open ", path)));
      ssize_t n = write(f.get(), content->data(), content->size());
      if (n != static_cast<ssize_t>(content->size())) {
        return abandon(ErrnoStatus(n < 0 ? errno : EIO, absl::StrCat("process: write ", path)));
      }
    }
  }
  if (options.parent_hook || two_step) {
    absl::Status st = options.parent_hook ? options.parent_hook(pid) : absl::OkStatus();
    if (!st.ok()) return abandon(st);
    char go = 1;
    if (write(sync_w.get(), &go, 1) != 1) {
      int e = errno;
      kill(pid, SIGKILL);
      Reap(pid);
      return ErrnoStatus(e, "process: release child");
    }
    sync_w.reset();
  }

  // Parent: drop the child's ends, then learn whether exec happened (EOF on the pipe).
  in_r.reset();
  out_w.reset();
  err_w.reset();
  null_fd.reset();
  console_w.reset();
  agent_dev.reset();
  report_w.reset();
  KATA_RETURN_IF_ERROR(read_report(pid));
  Fd master, stdin_dup;
  if (options.terminal) {
    // Sent by the child before it exec'd or reported the gate.
    absl::StatusOr<int> fd = ReceiveFd(console_r.get());
    if (!fd.ok()) return abandon(AnnotateStatus(fd.status(), "process: terminal"));
    master.reset(*fd);
    stdin_dup.reset(fcntl(master.get(), F_DUPFD_CLOEXEC, 0));
    if (stdin_dup.get() < 0) return abandon(ErrnoStatus(errno, "dup pty master"));
    absl::Status st = SetNonBlocking(master.get());
    if (!st.ok()) return abandon(st);
  }

  std::unique_ptr<Process> p(new Process());
  p->pid_ = pid;
  p->terminal_ = options.terminal;
  p->cap_ = options.output_buffer_bytes;
  p->cancel_fd_ = cancel.release();
  if (options.terminal) {
    p->out_.fd = master.release();
    p->stdin_fd_ = stdin_dup.release();
  } else {
    p->out_.fd = out_r.release();
    p->err_.fd = err_r.release();
    p->stdin_fd_ = in_w.release();
  }
  Process* raw = p.get();
  p->waiter_ = std::thread([raw] { raw->WaitLoop(); });
  p->out_.reader = std::thread([raw] { raw->DrainLoop(&raw->out_); });
  if (!options.terminal) p->err_.reader = std::thread([raw] { raw->DrainLoop(&raw->err_); });
  return p;
}

Process::~Process() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!exited_) kill(pid_, SIGKILL);
  }
  if (waiter_.joinable()) waiter_.join();
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  ssize_t unused = write(cancel_fd_, &one, sizeof(one));
  (void)unused;
  cv_.notify_all();
  if (out_.reader.joinable()) out_.reader.join();
  if (err_.reader.joinable()) err_.reader.join();
  for (int fd : {out_.fd, err_.fd, stdin_fd_, cancel_fd_}) {
    if (fd >= 0) close(fd);
  }
}

void Process::WaitLoop() {
  // Wait without reaping, so the pid cannot be recycled until we hold mu_ and mark the
  // process exited: Signal (which checks exited_ under mu_) never hits another process.
  siginfo_t si;
  int r;
  do {
    memset(&si, 0, sizeof(si));
    r = waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  std::lock_guard<std::mutex> l(mu_);
  int status = ReapRegistered(pid_);
  // -1 (ECHILD): someone else reaped our child against the contract; report 255.
  exit_code_ = status != -1 ? ExitCode(status) : 255;
  exited_ = true;
  cv_.notify_all();
}

void Process::DrainLoop(Stream* s) {
  char tmp[64 * 1024];
  for (;;) {
    size_t room;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || s->buf.size() - s->off < cap_; });
      if (stopping_) return;
      room = cap_ - (s->buf.size() - s->off);
    }
    struct pollfd fds[2] = {{s->fd, POLLIN, 0}, {cancel_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) return;
    ssize_t n = read(s->fd, tmp, std::min(room, sizeof(tmp)));
    if (n > 0) {
      std::lock_guard<std::mutex> l(mu_);
      if (s->off > 0 && s->off >= s->buf.size() / 2) {
        s->buf.erase(0, s->off);
        s->off = 0;
      }
      s->buf.append(tmp, static_cast<size_t>(n));
      cv_.notify_all();
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    break;  // EOF; EIO from a pty master once no slave is open; or a real error
  }
  std::lock_guard<std::mutex> l(mu_);
  s->eof = true;
  cv_.notify_all();
}

absl::StatusOr<std::string> Process::Read(Stream* s, size_t max_len) {
  if (max_len == 0) return absl::InvalidArgumentError("read: max_len is 0");
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return s->buf.size() > s->off || (s->eof && exited_); });
  if (s->buf.size() == s->off) return std::string();
  size_t n = std::min(max_len, s->buf.size() - s->off);
  std::string out = s->buf.substr(s->off, n);
  s->off += n;
  if (s->off == s->buf.size()) {
    s->buf.clear();
    s->off = 0;
  }
  cv_.notify_all();  // room for the drain loop
  return out;
}

absl::StatusOr<std::string> Process::ReadStdout(size_t max_len) { return Read(&out_, max_len); }

absl::StatusOr<std::string> Process::ReadStderr(size_t max_len) {
  if (terminal_) {
    return absl::FailedPreconditionError(
        "stderr: the process has a terminal; its output is on stdout");
  }
  return Read(&err_, max_len);
}

absl::StatusOr<size_t> Process::WriteStdin(absl::string_view data) {
  std::lock_guard<std::mutex> l(stdin_mu_);
  if (stdin_closed_) return absl::FailedPreconditionError("stdin: closed");
  // EPIPE must not raise SIGPIPE in the agent: block it in this thread and consume the one
  // our write raised (unless one was already pending).
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  sigset_t pending;
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;

  absl::Status st;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(stdin_fd_, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd fds[2] = {{stdin_fd_, POLLOUT, 0}, {cancel_fd_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0 && errno != EINTR) {
        st = ErrnoStatus(errno, "stdin: poll");
        break;
      }
      if (fds[1].revents != 0) {
        st = absl::CancelledError("stdin: process is being destroyed");
        break;
      }
      continue;
    }
    int err = n < 0 ? errno : EIO;
    if (err == EPIPE && !was_pending) {
      struct timespec zero = {0, 0};
      sigtimedwait(&pipe_set, nullptr, &zero);
    }
    st = ErrnoStatus(err, "stdin");
    break;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!st.ok()) return st;
  return done;
}

absl::Status Process::CloseStdin() {
  std::lock_guard<std::mutex> l(stdin_mu_);
  if (stdin_closed_) return absl::OkStatus();
  stdin_closed_ = true;
  absl::Status st;
  if (terminal_) {
    struct termios t;
    char eof = 4;  // ^D
    if (tcgetattr(stdin_fd_, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE) eof = t.c_cc[VEOF];
    ssize_t n;
    do {
      n = write(stdin_fd_, &eof, 1);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EIO) st = ErrnoStatus(errno, "stdin: write EOF");
  }
  close(stdin_fd_);
  stdin_fd_ = -1;
  return st;
}

absl::Status Process::Resize(uint16_t rows, uint16_t cols) {
  if (!terminal_) return absl::FailedPreconditionError("resize: the process has no terminal");
  struct winsize ws = {rows, cols, 0, 0};
  if (ioctl(out_.fd, TIOCSWINSZ, &ws) != 0) return ErrnoStatus(errno, "resize: TIOCSWINSZ");
  return absl::OkStatus();
}

absl::Status Process::Signal(int sig) {
  std::lock_guard<std::mutex> l(mu_);
  if (exited_) return ErrnoStatus(ESRCH, "signal");
  if (kill(pid_, sig) != 0) return ErrnoStatus(errno, "signal");
  return absl::OkStatus();
}

int Process::Wait() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return exited_; });
  return exit_code_;
}

std::optional<int> Process::TryWait() {
  std::lock_guard<std::mutex> l(mu_);
  if (!exited_) return std::nullopt;
  return exit_code_;
}

void StartOrphanReaper() {
  static std::once_flag once;
  std::call_once(once, [] { std::thread(ReaperLoop).detach(); });
}

uint64_t OrphansReaped() { return g_orphans_reaped.load(); }

}  // namespace agent
}  // namespace kata
