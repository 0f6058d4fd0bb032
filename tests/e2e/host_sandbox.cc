#include "tests/e2e/host_sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata::e2e {
namespace {

using runtime::ContainerConfig;
using runtime::ContainerState;
using runtime::ExitStatus;
using runtime::ProcessInfo;
using runtime::ProcessState;
using runtime::SandboxState;

struct Proc {
  pid_t pid = -1;
  UniqueFd in, out, err;  // our ends (out = pty master with a terminal)
  UniqueFd start_pipe;    // init: written to start it
  bool terminal = false;
  ProcessState state = ProcessState::kCreated;
  std::optional<ExitStatus> exit;
  absl::Notification exited;
  std::thread reaper;
};

struct Ctr {
  std::string rootfs;
  bool mounted = false;
  ContainerState state = ContainerState::kCreated;
  std::map<std::string, std::shared_ptr<Proc>> procs;
};

absl::Status Errno(const std::string& what) { return ErrnoStatus(errno, what); }

// A pipe: *r and *w get its read and write ends (close-on-exec).
absl::Status Pipe(UniqueFd* r, UniqueFd* w) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Errno("pipe");
  r->reset(fds[0]);
  w->reset(fds[1]);
  return absl::OkStatus();
}

class HostSandbox : public runtime::Sandbox {
 public:
  explicit HostSandbox(std::string id) : id_(std::move(id)) {}
  ~HostSandbox() override {
    (void)Shutdown();
    std::vector<std::thread> calls;
    {
      absl::MutexLock l(&calls_mu_);
      calls.swap(calls_);
    }
    for (std::thread& t : calls) t.join();
  }

  const std::string& id() const override { return id_; }
  SandboxState State() const override {
    absl::MutexLock l(&mu_);
    return state_;
  }
  void SetExitObserver(runtime::ExitObserver observer) override {
    absl::MutexLock l(&mu_);
    observer_ = std::move(observer);
  }
  // Host processes: no OOM watching.
  void SetOomObserver(runtime::OomObserver) override {}
  absl::Status Start() override {
    absl::MutexLock l(&mu_);
    state_ = SandboxState::kRunning;
    return absl::OkStatus();
  }
  absl::Status Shutdown() override {
    std::vector<std::shared_ptr<Proc>> procs;
    std::vector<std::string> mounts;
    {
      absl::MutexLock l(&mu_);
      if (state_ == SandboxState::kStopped) return absl::OkStatus();
      state_ = SandboxState::kStopped;
      for (auto& [id, c] : ctrs_) {
        for (auto& [e, p] : c.procs) procs.push_back(p);
        if (c.mounted) mounts.push_back(c.rootfs);
      }
      ctrs_.clear();
    }
    for (auto& p : procs) {
      if (p->pid > 0 && !p->exited.HasBeenNotified()) kill(-p->pid, SIGKILL);
      p->start_pipe.reset();
    }
    for (auto& p : procs) {
      if (p->reaper.joinable()) p->reaper.join();
    }
    for (auto& m : mounts) umount2(m.c_str(), MNT_DETACH);
    death_.Notify();
    return absl::OkStatus();
  }
  absl::Status WaitVmDeath() override {
    death_.WaitForNotification();
    return absl::OkStatus();
  }
  std::vector<pid_t> VmPids() const override { return {getpid()}; }
  // Host processes: no agent, no guest.
  absl::StatusOr<std::string> AgentMetrics() override {
    return absl::FailedPreconditionError("sandbox " + id_ + ": host mode has no agent");
  }

  absl::Status CreateContainer(const ContainerConfig& cc) override {
    std::string rootfs = cc.bundle + "/rootfs";
    bool mounted = false;
    for (const auto& m : cc.rootfs_mounts) {
      std::string data = absl::StrJoin(m.options, ",");
      unsigned long flags = 0;
      if (m.type == "bind") {
        flags = MS_BIND | MS_REC;
        data.clear();
      }
      if (mount(m.source.c_str(), rootfs.c_str(), m.type.c_str(), flags,
                data.empty() ? nullptr : data.c_str()) != 0) {
        return Errno("container " + cc.id + ": mount rootfs " + m.type);
      }
      mounted = true;
    }
    if (!cc.spec.process.has_value()) return absl::InvalidArgumentError("no process");
    auto p = std::make_shared<Proc>();
    p->terminal = cc.terminal.value_or(cc.spec.process->terminal.value_or(false));
    UniqueFd start_r;
    absl::Status s = Pipe(&start_r, &p->start_pipe);
    if (s.ok()) s = Spawn(rootfs, *cc.spec.process, p.get(), start_r.get());
    if (!s.ok()) {
      if (mounted) umount2(rootfs.c_str(), MNT_DETACH);
      return s;
    }
    absl::MutexLock l(&mu_);
    Ctr& c = ctrs_[cc.id];
    c.rootfs = rootfs;
    c.mounted = mounted;
    c.procs[""] = p;
    StartReaper(cc.id, "", p);
    return absl::OkStatus();
  }
  absl::Status StartContainer(const std::string& cid) override {
    absl::MutexLock l(&mu_);
    auto c = ctrs_.find(cid);
    if (c == ctrs_.end()) return absl::NotFoundError("container " + cid);
    auto& p = c->second.procs[""];
    if (RetryEintr([&] { return write(p->start_pipe.get(), "x", 1); }) != 1) {
      return Errno("start " + cid);
    }
    p->start_pipe.reset();
    p->state = ProcessState::kRunning;
    c->second.state = ContainerState::kRunning;
    return absl::OkStatus();
  }
  absl::Status DeleteContainer(const std::string& cid) override {
    std::shared_ptr<Proc> init;
    std::vector<std::shared_ptr<Proc>> procs;
    std::string rootfs;
    bool mounted;
    {
      absl::MutexLock l(&mu_);
      auto c = ctrs_.find(cid);
      if (c == ctrs_.end()) return absl::NotFoundError("container " + cid);
      for (auto& [e, p] : c->second.procs) procs.push_back(p);
      rootfs = c->second.rootfs;
      mounted = c->second.mounted;
      ctrs_.erase(c);
    }
    for (auto& p : procs) {
      if (!p->exited.HasBeenNotified()) kill(-p->pid, SIGKILL);
      p->start_pipe.reset();
      if (p->reaper.joinable()) p->reaper.join();
      CloseStdio(*p);
    }
    if (mounted) umount2(rootfs.c_str(), MNT_DETACH);
    return absl::OkStatus();
  }
  absl::StatusOr<ContainerState> GetContainerState(const std::string& cid) const override {
    absl::MutexLock l(&mu_);
    auto c = ctrs_.find(cid);
    if (c == ctrs_.end()) return absl::NotFoundError("container " + cid);
    return c->second.state;
  }
  std::vector<std::string> ContainerIds() const override {
    absl::MutexLock l(&mu_);
    std::vector<std::string> ids;
    for (auto& [id, c] : ctrs_) ids.push_back(id);
    return ids;
  }
  absl::Status Pause(const std::string& cid) override { return SignalAll(cid, SIGSTOP); }
  absl::Status Resume(const std::string& cid) override { return SignalAll(cid, SIGCONT); }
  absl::StatusOr<runtime::ContainerStats> Stats(const std::string& cid) override {
    absl::StatusOr<std::shared_ptr<Proc>> p = Find(cid, "");
    if (!p.ok()) return p.status();
    runtime::ContainerStats r;
    r.pids = runtime::PidsStats{1, 0};
    r.cpu.emplace().total_ns = 1000;
    r.memory.emplace().usage.usage = 4096;
    return r;
  }
  absl::Status Update(const std::string&, const oci::LinuxResources&) override {
    return absl::OkStatus();
  }
  absl::Status Exec(const std::string& cid, const std::string& eid, const oci::Process& process,
                    bool terminal) override {
    std::string rootfs;
    {
      absl::MutexLock l(&mu_);
      auto c = ctrs_.find(cid);
      if (c == ctrs_.end()) return absl::NotFoundError("container " + cid);
      rootfs = c->second.rootfs;
    }
    auto p = std::make_shared<Proc>();
    p->terminal = terminal;
    absl::Status s = Spawn(rootfs, process, p.get(), -1);
    if (!s.ok()) return s;
    p->state = ProcessState::kRunning;
    absl::MutexLock l(&mu_);
    ctrs_[cid].procs[eid] = p;
    StartReaper(cid, eid, p);
    return absl::OkStatus();
  }
  absl::Status Signal(const std::string& cid, const std::string& eid, int sig, bool all) override {
    if (all) return SignalAll(cid, sig);
    absl::StatusOr<std::shared_ptr<Proc>> p = Find(cid, eid);
    if (!p.ok()) return p.status();
    if (kill((*p)->pid, sig) != 0) return Errno("kill");
    return absl::OkStatus();
  }
  absl::StatusOr<ExitStatus> Wait(const std::string& cid, const std::string& eid) override {
    absl::StatusOr<std::shared_ptr<Proc>> p = Find(cid, eid);
    if (!p.ok()) return p.status();
    (*p)->exited.WaitForNotification();
    absl::MutexLock l(&mu_);
    return *(*p)->exit;
  }
  absl::StatusOr<std::vector<ProcessInfo>> Processes(const std::string& cid) const override {
    return std::vector<ProcessInfo>{};
  }
  absl::StatusOr<ProcessInfo> GetProcess(const std::string& cid,
                                         const std::string& eid) const override {
    return ProcessInfo{};
  }
  absl::Status DeleteProcess(const std::string& cid, const std::string& eid) override {
    std::shared_ptr<Proc> p;
    {
      absl::MutexLock l(&mu_);
      auto c = ctrs_.find(cid);
      if (c == ctrs_.end()) return absl::NotFoundError("container " + cid);
      auto it = c->second.procs.find(eid);
      if (it == c->second.procs.end()) return absl::NotFoundError("exec " + eid);
      p = it->second;
      c->second.procs.erase(it);
    }
    if (p->reaper.joinable()) p->reaper.join();
    CloseStdio(*p);
    return absl::OkStatus();
  }
  absl::StatusOr<size_t> WriteStdin(const std::string& cid, const std::string& eid,
                                    absl::string_view data) override {
    absl::StatusOr<std::shared_ptr<Proc>> p = Find(cid, eid);
    if (!p.ok()) return p.status();
    int fd = (*p)->terminal ? (*p)->out.get() : (*p)->in.get();
    ssize_t n = RetryEintr([&] { return write(fd, data.data(), data.size()); });
    if (n < 0) return Errno("write stdin");
    return static_cast<size_t>(n);
  }
  absl::Status CloseStdin(const std::string& cid, const std::string& eid) override {
    absl::MutexLock l(&mu_);
    auto c = ctrs_.find(cid);
    if (c == ctrs_.end()) return absl::NotFoundError("container " + cid);
    auto it = c->second.procs.find(eid);
    if (it == c->second.procs.end()) return absl::NotFoundError("exec " + eid);
    Proc& p = *it->second;
    if (p.terminal) {
      if (p.out) {
        char eof = 4;  // ^D
        ssize_t n = RetryEintr([&] { return write(p.out.get(), &eof, 1); });
        (void)n;
      }
    } else {
      p.in.reset();
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ReadStdout(const std::string& cid, const std::string& eid,
                                         size_t max_bytes) override {
    return Read(cid, eid, false, max_bytes);
  }
  absl::StatusOr<std::string> ReadStderr(const std::string& cid, const std::string& eid,
                                         size_t max_bytes) override {
    return Read(cid, eid, true, max_bytes);
  }
  // A host process's stdio is a local pipe: its asynchronous faces are the blocking calls on a
  // thread each (simple; this sandbox serves tests).
  void ReadOutputAsync(const std::string& cid, const std::string& eid, bool err, size_t max_bytes,
                       ReadDone done) override {
    Aside([this, cid, eid, err, max_bytes, done = std::move(done)]() mutable {
      done(Read(cid, eid, err, max_bytes));
    });
  }
  void WriteStdinAsync(const std::string& cid, const std::string& eid, std::string data,
                       WriteDone done) override {
    Aside([this, cid, eid, data = std::move(data), done = std::move(done)]() mutable {
      done(WriteStdin(cid, eid, data));
    });
  }
  absl::Status ResizePty(const std::string& cid, const std::string& eid, uint32_t w,
                         uint32_t h) override {
    absl::StatusOr<std::shared_ptr<Proc>> p = Find(cid, eid);
    if (!p.ok()) return p.status();
    if (!(*p)->terminal) return absl::FailedPreconditionError("no terminal");
    winsize ws{};
    ws.ws_col = static_cast<unsigned short>(w);
    ws.ws_row = static_cast<unsigned short>(h);
    ioctl((*p)->out.get(), TIOCSWINSZ, &ws);
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<std::shared_ptr<Proc>> Find(const std::string& cid, const std::string& eid) const {
    absl::MutexLock l(&mu_);
    auto c = ctrs_.find(cid);
    if (c == ctrs_.end()) return absl::NotFoundError("container " + cid);
    auto it = c->second.procs.find(eid);
    if (it == c->second.procs.end()) return absl::NotFoundError("process " + cid + "/" + eid);
    return it->second;
  }
  absl::Status SignalAll(const std::string& cid, int sig) {
    absl::MutexLock l(&mu_);
    auto c = ctrs_.find(cid);
    if (c == ctrs_.end()) return absl::NotFoundError("container " + cid);
    for (auto& [e, p] : c->second.procs) {
      if (!p->exited.HasBeenNotified()) kill(-p->pid, sig);
    }
    if (sig == SIGSTOP) c->second.state = ContainerState::kPaused;
    if (sig == SIGCONT) c->second.state = ContainerState::kRunning;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> Read(const std::string& cid, const std::string& eid, bool err,
                                   size_t max_bytes) {
    absl::StatusOr<std::shared_ptr<Proc>> p = Find(cid, eid);
    if (!p.ok()) return p.status();
    if (err && (*p)->terminal) return std::string();
    int fd = err ? (*p)->err.get() : (*p)->out.get();
    if (fd < 0) return std::string();
    std::string buf(std::min<size_t>(max_bytes, 65536), '\0');
    ssize_t n = RetryEintr([&] { return read(fd, buf.data(), buf.size()); });
    if (n <= 0) return std::string();  // EOF (EIO on a pty whose slave closed)
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  template <class F>
  void Aside(F f) {
    absl::MutexLock l(&calls_mu_);
    calls_.emplace_back(std::move(f));
  }
  static void CloseStdio(Proc& p) {
    p.in.reset();
    p.out.reset();
    p.err.reset();
  }
  absl::Status Spawn(const std::string& rootfs, const oci::Process& process, Proc* p,
                     int start_fd) {
    std::vector<std::string> args = process.args.value_or(std::vector<std::string>{});
    if (args.empty()) return absl::InvalidArgumentError("no args");
    std::vector<std::string> env = process.env.value_or(std::vector<std::string>{});
    // The child's ends (closed here once it is forked) and ours.
    UniqueFd in_r, in_w, out_r, out_w, err_r, err_w, master;
    std::string slave_name;
    if (p->terminal) {
      master.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
      if (!master || grantpt(master.get()) != 0 || unlockpt(master.get()) != 0) {
        return Errno("openpt");
      }
      slave_name = ptsname(master.get());
    } else {
      absl::Status s = Pipe(&in_r, &in_w);
      if (s.ok()) s = Pipe(&out_r, &out_w);
      if (s.ok()) s = Pipe(&err_r, &err_w);
      if (!s.ok()) return s;
    }
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string cwd = process.cwd.empty() ? "/" : process.cwd;
    pid_t pid = fork();
    if (pid < 0) return Errno("fork");
    if (pid == 0) {
      setsid();
      if (p->terminal) {
        int s = open(slave_name.c_str(), O_RDWR);
        ioctl(s, TIOCSCTTY, 0);
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
      } else {
        dup2(in_r.get(), 0);
        dup2(out_w.get(), 1);
        dup2(err_w.get(), 2);
      }
      if (start_fd >= 0) {
        char c;
        if (read(start_fd, &c, 1) != 1) _exit(137);
      }
      if (chroot(rootfs.c_str()) != 0 || chdir(cwd.c_str()) != 0) _exit(126);
      signal(SIGPIPE, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
      execvpe(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    p->pid = pid;
    if (p->terminal) {
      p->out = std::move(master);
    } else {
      p->in = std::move(in_w);
      p->out = std::move(out_r);
      p->err = std::move(err_r);
    }
    return absl::OkStatus();
  }
  void StartReaper(const std::string& cid, const std::string& eid, std::shared_ptr<Proc> p)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    p->reaper = std::thread([this, cid, eid, p] {
      int status = 0;
      RetryEintr([&] { return waitpid(p->pid, &status, 0); });
      ExitStatus es;
      es.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      es.exited_at = absl::Now();
      runtime::ExitObserver observer;
      {
        absl::MutexLock l(&mu_);
        p->exit = es;
        p->state = ProcessState::kExited;
        if (eid.empty()) {
          auto c = ctrs_.find(cid);
          if (c != ctrs_.end()) c->second.state = ContainerState::kStopped;
        }
        p->exited.Notify();
        observer = observer_;
      }
      if (observer) observer(cid, eid, es);
    });
  }

  const std::string id_;
  mutable absl::Mutex mu_;
  SandboxState state_ ABSL_GUARDED_BY(mu_) = SandboxState::kInitial;
  std::map<std::string, Ctr> ctrs_ ABSL_GUARDED_BY(mu_);
  runtime::ExitObserver observer_ ABSL_GUARDED_BY(mu_);
  absl::Mutex calls_mu_;
  std::vector<std::thread> calls_ ABSL_GUARDED_BY(calls_mu_);  // asynchronous stdio calls
  absl::Notification death_;
};

}  // namespace

std::unique_ptr<runtime::Sandbox> NewHostSandbox(const std::string& id) {
  return std::make_unique<HostSandbox>(id);
}

}  // namespace kata::e2e
