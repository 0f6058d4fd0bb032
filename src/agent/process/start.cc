// Process::Start in named steps: check the options, open the fds of the start, plan the child,
// fork it (registered with the reaper), release it (id maps, parent hook), read its report,
// receive its terminal, and hand the agent's ends to a new Process.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/agent/process/child.h"
#include "src/agent/process/process.h"
#include "src/agent/process/registry.h"
#include "src/agent/process/terminal.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/io.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

using internal::ChildPlan;
using internal::ChildRegistry;
using internal::ChildReport;

constexpr int kNamespaceFlags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWUSER;

bool NewUserNs(const ProcessOptions& o) { return (o.clone_flags & CLONE_NEWUSER) != 0; }
bool TwoStep(const ProcessOptions& o) { return NewUserNs(o) || !o.pre_join_ns_fds.empty(); }
bool NeedsRelease(const ProcessOptions& o) { return o.parent_hook || TwoStep(o); }

absl::Status CheckNamespaces(const ProcessOptions& o) {
  if ((o.clone_flags & ~kNamespaceFlags) != 0) {
    return absl::InvalidArgumentError("process: clone_flags has bits other than namespaces");
  }
  if ((o.clone_flags & CLONE_NEWPID) != 0 && o.join_pid_ns_fd >= 0) {
    return absl::InvalidArgumentError("process: CLONE_NEWPID together with join_pid_ns_fd");
  }
  if (TwoStep(o) && o.join_pid_ns_fd >= 0) {
    return absl::InvalidArgumentError(
        "process: join_pid_ns_fd with a user namespace (use pre_join_ns_fds)");
  }
  const bool new_user = NewUserNs(o);
  if (new_user != (!o.uid_map.empty() && !o.gid_map.empty()) ||
      (!new_user && (!o.uid_map.empty() || !o.gid_map.empty()))) {
    return absl::InvalidArgumentError(
        "process: uid_map and gid_map are required with CLONE_NEWUSER, and only with it");
  }
  return absl::OkStatus();
}

absl::Status CheckOptions(const ProcessOptions& o) {
  if (o.argv.empty() || o.argv[0].empty()) {
    return absl::InvalidArgumentError("process: argv is empty");
  }
  for (const auto* list : {&o.argv, &o.env}) {
    for (const std::string& s : *list) {
      if (s.find('\0') != std::string::npos) {
        return absl::InvalidArgumentError("process: argument or environment has a NUL byte");
      }
    }
  }
  if (o.output_buffer_bytes == 0) {
    return absl::InvalidArgumentError("process: output_buffer_bytes is 0");
  }
  return CheckNamespaces(o);
}

absl::Status MakePipe(UniqueFd* r, UniqueFd* w) {
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

// Every fd of one start. The agent's stdio ends go to the Process; the child's ends are closed
// once the child has them, the control pipes when the start ends.
struct StartFds {
  // The agent's ends: stdin writer, stdout and stderr readers (pipes); the console socket the
  // pty master arrives on (terminal).
  UniqueFd in_w, out_r, err_r, console_r;
  // The child's ends: the pipes' other ends; with a terminal, /dev/null (its stdio until the
  // pty), the other end of the console socket and the agent's /dev (the pty fallback).
  UniqueFd in_r, out_w, err_w, null_fd, console_w, agent_dev;
  // Control: the child's report (CLOEXEC: EOF at exec), its release (sync) and, in a two-step
  // start, the pid the intermediate tells.
  UniqueFd report_r, report_w, sync_r, sync_w, pid_r, pid_w;

  void CloseChildEnds() {
    for (UniqueFd* fd : {&in_r, &out_w, &err_w, &null_fd, &console_w, &agent_dev, &report_w}) {
      fd->reset();
    }
  }
};

absl::Status OpenTerminalFds(StartFds* fds) {
  // The child allocates its pty itself (terminal.h); until then its stdio is /dev/null.
  fds->null_fd.reset(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!fds->null_fd) return ErrnoStatus(errno, "open /dev/null");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoStatus(errno, "socketpair");
  }
  fds->console_r.reset(sv[0]);
  fds->console_w.reset(sv[1]);
  fds->agent_dev.reset(open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC));  // none: no fallback
  return absl::OkStatus();
}

absl::Status OpenFds(const ProcessOptions& o, StartFds* fds) {
  if (o.terminal) {
    KATA_RETURN_IF_ERROR(OpenTerminalFds(fds));
  } else {
    KATA_RETURN_IF_ERROR(MakePipe(&fds->in_r, &fds->in_w));
    KATA_RETURN_IF_ERROR(MakePipe(&fds->out_r, &fds->out_w));
    KATA_RETURN_IF_ERROR(MakePipe(&fds->err_r, &fds->err_w));
    for (const UniqueFd* fd : {&fds->in_w, &fds->out_r, &fds->err_r}) {
      KATA_RETURN_IF_ERROR(SetNonBlocking(fd->get()));
    }
  }
  KATA_RETURN_IF_ERROR(MakePipe(&fds->report_r, &fds->report_w));
  if (NeedsRelease(o)) KATA_RETURN_IF_ERROR(MakePipe(&fds->sync_r, &fds->sync_w));
  if (TwoStep(o)) KATA_RETURN_IF_ERROR(MakePipe(&fds->pid_r, &fds->pid_w));
  return absl::OkStatus();
}

// The bound of the close sweep when close_range is missing.
int MaxFd() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < (1u << 20)) {
    return static_cast<int>(rl.rlim_cur);
  }
  return 1 << 20;
}

// The fds the child keeps (sorted, unique, valid): its stdio, report, gate, terminal fds and
// the caller's keep_fds.
std::vector<int> KeptFds(const ChildPlan& plan, const std::vector<int>& extra) {
  std::vector<int> keep = {plan.stdio[0], plan.stdio[1],       plan.stdio[2],        plan.report_fd,
                           plan.gate_fd,  plan.tty.console_fd, plan.tty.agent_dev_fd};
  keep.insert(keep.end(), extra.begin(), extra.end());
  keep.erase(std::remove_if(keep.begin(), keep.end(), [](int fd) { return fd < 0; }), keep.end());
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  return keep;
}

// The user, cwd and exec parts of the plan (every string the child needs, made here).
void PlanUserAndExec(ProcessOptions& o, ChildPlan* plan) {
  plan->cwd = o.cwd.empty() ? nullptr : o.cwd.c_str();
  plan->chdir_msg = absl::StrCat("chdir ", o.cwd);
  plan->switch_user = o.user.has_value();
  if (o.user) {
    plan->uid = o.user->uid;
    plan->gid = o.user->gid;
    plan->groups = o.user->additional_gids;
    plan->setgroups_msg = "setgroups";
    plan->setgid_msg = absl::StrCat("setgid ", plan->gid);
    plan->setuid_msg = absl::StrCat("setuid ", plan->uid);
  }
  plan->exec_paths = internal::ExecCandidates(o.argv[0], o.env);
  for (std::string& a : o.argv) plan->argv.push_back(a.data());
  plan->argv.push_back(nullptr);
  for (std::string& e : o.env) plan->envp.push_back(e.data());
  plan->envp.push_back(nullptr);
  plan->exec_msg = absl::StrCat("exec ", o.argv[0]);
}

// The child's plan; it points into `o` (hooks, argv, env), which must outlive the fork.
ChildPlan MakePlan(ProcessOptions& o, const StartFds& fds) {
  ChildPlan plan;
  if (o.terminal) {
    plan.stdio[0] = plan.stdio[1] = plan.stdio[2] = fds.null_fd.get();
    plan.terminal = true;
    plan.tty = {fds.console_w.get(), fds.agent_dev.get(), o.rows, o.cols};
  } else {
    plan.stdio[0] = fds.in_r.get();
    plan.stdio[1] = fds.out_w.get();
    plan.stdio[2] = fds.err_w.get();
  }
  plan.report_fd = fds.report_w.get();
  plan.sync_fd = fds.sync_r.get();
  plan.unshare_flags = TwoStep(o) ? 0 : o.clone_flags & ~CLONE_NEWPID;
  plan.userns_root = TwoStep(o);
  plan.gate_fd = o.exec_gate_fd;
  plan.reap_at_gate = o.reap_at_gate;
  plan.keep = KeptFds(plan, o.keep_fds);
  plan.max_fd = MaxFd();
  plan.early_hook = &o.early_hook;
  plan.hook = &o.child_hook;
  plan.post_user_hook = &o.post_user_hook;
  PlanUserAndExec(o, &plan);
  return plan;
}

// Forks the child (or, two-step, the intermediate) with every signal blocked, so no agent
// handler runs in it before it resets them; registered with the reaper. In a new or joined pid
// namespace the fork happens in a short-lived thread of its own: the pid namespace for
// children is a per-thread attribute, which the agent's other threads must never see.
absl::StatusOr<pid_t> Fork(ChildPlan& plan, const ProcessOptions& o, const StartFds& fds) {
  int fork_errno = 0;
  const char* fork_what = "fork";
  auto do_fork = [&]() -> pid_t {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const pid_t pid = fork();
    fork_errno = errno;
    if (pid == 0) {
      if (TwoStep(o)) {
        internal::RunIntermediate(plan, o.pre_join_ns_fds, o.clone_flags, fds.pid_w.get());
      }
      internal::RunChild(plan);
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return pid;
  };
  const bool new_pidns = (o.clone_flags & CLONE_NEWPID) != 0;
  const pid_t pid = ChildRegistry::Get().ForkRegistered([&]() -> pid_t {
    // Two-step: every new namespace comes with the intermediate's clone.
    if (TwoStep(o) || (!new_pidns && o.join_pid_ns_fd < 0)) return do_fork();
    pid_t in_ns = -1;
    std::thread t([&] {
      if ((new_pidns ? unshare(CLONE_NEWPID) : setns(o.join_pid_ns_fd, CLONE_NEWPID)) != 0) {
        fork_errno = errno;
        fork_what = new_pidns ? "unshare CLONE_NEWPID" : "setns CLONE_NEWPID";
        return;
      }
      in_ns = do_fork();
    });
    t.join();
    return in_ns;
  });
  if (pid < 0) return ErrnoStatus(fork_errno, fork_what);
  return pid;
}

// Reads up to `size` bytes (fewer at EOF); the count, or -1 (errno) on error.
ssize_t ReadUpTo(int fd, void* buf, size_t size) {
  size_t got = 0;
  while (got < size) {
    const ssize_t n =
        RetryEintr([&] { return read(fd, static_cast<char*>(buf) + got, size - got); });
    if (n < 0) return -1;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

// The child's report, once every writer of ours is closed: OK when it exec'd (EOF) or waits at
// the gate, else its failure; then the child, when > 0, is reaped.
absl::Status ReadReport(int report_r, pid_t child) {
  ChildReport report;
  const ssize_t got = ReadUpTo(report_r, &report, sizeof(report));
  if (got == 0 || (got == sizeof(report) && report.kind == internal::kReportReady)) {
    return absl::OkStatus();
  }
  if (child > 0) ChildRegistry::Get().Reap(child);
  if (got < 0) return ErrnoStatus(errno, "process: read the child's report");
  if (got < static_cast<ssize_t>(sizeof(report))) {
    return absl::InternalError("process: short report from child");
  }
  report.msg[sizeof(report.msg) - 1] = '\0';
  if (report.kind == internal::kReportErrno) return ErrnoStatus(report.value, report.msg);
  return absl::Status(static_cast<absl::StatusCode>(report.value), report.msg);
}

// Two-step: the pid the intermediate tells (it then exits and is reaped here). When it failed
// before the clone, its report says why (the child never existed).
absl::StatusOr<pid_t> AwaitIntermediate(pid_t intermediate, StartFds* fds) {
  fds->pid_w.reset();
  int32_t child = 0;
  const ssize_t got = ReadUpTo(fds->pid_r.get(), &child, sizeof(child));
  const bool cloned = got == sizeof(child) && child > 0;
  if (cloned) ChildRegistry::Get().Add(child);  // it waits on the sync pipe: it cannot exit yet
  ChildRegistry::Get().Reap(intermediate);
  if (cloned) return child;
  fds->report_w.reset();
  fds->sync_w.reset();
  absl::Status st = ReadReport(fds->report_r.get(), -1);
  return st.ok() ? absl::InternalError("process: the intermediate process died") : st;
}

// Kills and reaps `pid` (a child that has not run anything of the caller's yet); returns `st`.
absl::Status Abandon(pid_t pid, absl::Status st) {
  kill(pid, SIGKILL);
  ChildRegistry::Get().Reap(pid);
  return st;
}

absl::Status WriteIdMaps(pid_t pid, const ProcessOptions& o) {
  for (const auto& [file, content] :
       {std::make_pair("uid_map", &o.uid_map), std::make_pair("gid_map", &o.gid_map)}) {
    const std::string path = absl::StrCat("/proc/", pid, "/", file);
    UniqueFd f(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!f) return ErrnoStatus(errno, absl::StrCat("process: open ", path));
    KATA_RETURN_IF_ERROR(
        AnnotateStatus(WriteAll(f.get(), *content), absl::StrCat("process: ", path)));
  }
  return absl::OkStatus();
}

// Lets the child run (it waits on the sync pipe): id maps, the parent hook, then a byte. On
// failure the child is killed and reaped.
absl::Status Release(pid_t pid, const ProcessOptions& o, StartFds* fds) {
  if (!NeedsRelease(o)) return absl::OkStatus();
  if (NewUserNs(o)) {
    absl::Status st = WriteIdMaps(pid, o);
    if (!st.ok()) return Abandon(pid, st);
  }
  if (o.parent_hook) {
    absl::Status st = o.parent_hook(pid);
    if (!st.ok()) return Abandon(pid, st);
  }
  absl::Status st = WriteAll(fds->sync_w.get(), absl::string_view("\1", 1));
  if (!st.ok()) return Abandon(pid, AnnotateStatus(st, "process: release child"));
  fds->sync_w.reset();
  return absl::OkStatus();
}

// The agent's ends of a terminal: the pty master (non-blocking, for the drain thread) and a
// dup of it for stdin. The child sent the master before it exec'd or reported the gate.
absl::Status ReceiveTerminal(pid_t pid, StartFds* fds, UniqueFd* master, UniqueFd* in) {
  absl::StatusOr<UniqueFd> received = internal::ReceivePtyMaster(fds->console_r.get());
  if (!received.ok()) return Abandon(pid, AnnotateStatus(received.status(), "process"));
  *master = std::move(*received);
  in->reset(fcntl(master->get(), F_DUPFD_CLOEXEC, 0));
  if (!*in) return Abandon(pid, ErrnoStatus(errno, "process: dup pty master"));
  absl::Status st = SetNonBlocking(master->get());
  if (!st.ok()) return Abandon(pid, st);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Process>> Process::Start(ProcessOptions options) {
  KATA_RETURN_IF_ERROR(CheckOptions(options));
  UniqueFd cancel(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!cancel) return ErrnoStatus(errno, "eventfd");
  StartFds fds;
  KATA_RETURN_IF_ERROR(OpenFds(options, &fds));
  ChildPlan plan = MakePlan(options, fds);

  KATA_ASSIGN_OR_RETURN(pid_t pid, Fork(plan, options, fds));
  fds.sync_r.reset();
  if (TwoStep(options)) {
    KATA_ASSIGN_OR_RETURN(pid, AwaitIntermediate(pid, &fds));
  }
  KATA_RETURN_IF_ERROR(Release(pid, options, &fds));

  // Drop the child's ends, then learn whether exec happened (EOF on the report pipe).
  fds.CloseChildEnds();
  KATA_RETURN_IF_ERROR(ReadReport(fds.report_r.get(), pid));
  UniqueFd out = std::move(fds.out_r), in = std::move(fds.in_w);
  if (options.terminal) KATA_RETURN_IF_ERROR(ReceiveTerminal(pid, &fds, &out, &in));

  std::unique_ptr<Process> p(new Process(pid, options.terminal, options.output_buffer_bytes,
                                         std::move(cancel), std::move(out), std::move(fds.err_r),
                                         std::move(in)));
  p->StartThreads();
  return p;
}

}  // namespace agent
}  // namespace kata
