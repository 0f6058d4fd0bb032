#include "src/runtime/shim/process_io.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_util.h"
#include "src/runtime/shim/io_loop.h"
#include "src/runtime/shim/log.h"

namespace kata {
namespace shim {
namespace {

constexpr size_t kReadBytes = 64 * 1024;
constexpr size_t kStdinChunk = 32 * 1024;

absl::StatusOr<UniqueFd> OpenOutput(const std::string& uri, const char* name) {
  absl::string_view path = uri;
  // A FIFO opened read-write never blocks on open; writes never block (the loop waits).
  int flags = O_RDWR | O_CLOEXEC | O_NONBLOCK;
  if (absl::ConsumePrefix(&path, "file://")) {
    flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
  } else if (absl::StartsWith(path, kBinaryLogScheme)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " ", uri, ": a binary:// logger must be named by stdout"));
  } else if (absl::ConsumePrefix(&path, "fifo://")) {
  }
  std::string p(path);
  UniqueFd fd(open(p.c_str(), flags, 0640));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", name, " ", p));
  return fd;
}

void SetNonBlocking(int fd) {
  if (fd < 0) return;
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

}  // namespace

// The copying of one process's stdio. Its fields are the loop thread's own, except `mu`'s.
struct ProcessIo::State : std::enable_shared_from_this<State> {
  struct Out {
    const char* name = "";
    bool is_stderr = false;
    UniqueFd fd;
    bool writable = false;  // false without a destination or after EPIPE: output is dropped
    bool watching = false;  // waiting for the destination to take `pending`
    bool finished = false;
    std::string pending;
    size_t off = 0;
    absl::Notification done;
  };

  IoLoop* loop = nullptr;
  runtime::Sandbox* sandbox = nullptr;
  std::string cid, exec;
  Out out[2];
  int streams_left = 2;
  std::unique_ptr<BinaryLogger> logger;
  UniqueFd stdin_fd;
  bool stdin_watching = false, stdin_writing = false, stdin_done = false;
  bool stdin_close = false;  // CloseStdin: send what the FIFO holds, then close
  bool tearing_down = false;
  absl::Mutex mu;
  absl::CondVar idle;
  int busy ABSL_GUARDED_BY(mu) = 0;  // calls in flight, stdin not closed, threads aside
  std::vector<std::thread> aside ABSL_GUARDED_BY(mu);

  std::string Who() const { return absl::StrCat(cid, "/", exec); }
  void Hold() {
    absl::MutexLock l(&mu);
    ++busy;
  }
  void Release() {
    absl::MutexLock l(&mu);
    if (--busy == 0) idle.SignalAll();
  }
  // Runs a call that may block (the sandbox's CloseStdin, the logger's Stop) off the loop.
  void RunAside(absl::AnyInvocable<void()> f) {
    Hold();
    absl::MutexLock l(&mu);
    aside.emplace_back([self = shared_from_this(), f = std::move(f)]() mutable {
      f();
      self->Release();
    });
  }

  // ---- output: read (asynchronously) -> write (non-blocking; a full FIFO defers the read)
  void Read(Out& o) {
    Hold();
    sandbox->ReadOutputAsync(cid, exec, o.is_stderr, kReadBytes,
                             [self = shared_from_this(), &o](absl::StatusOr<std::string> got) {
                               self->loop->Post([self, &o, got = std::move(got)]() mutable {
                                 self->OnRead(o, std::move(got));
                                 self->Release();
                               });
                             });
  }
  void OnRead(Out& o, absl::StatusOr<std::string> got) {
    if (!got.ok() || got->empty()) {
      if (!got.ok() && got.status().code() != absl::StatusCode::kOutOfRange) {
        SHIM_LOG(Debug) << Who() << " " << o.name << " ends: " << got.status();
      }
      return Finish(o);
    }
    if (!o.writable || tearing_down) return Read(o);  // dropped, but the process never blocks
    o.pending = *std::move(got);
    o.off = 0;
    Flush(o);
  }
  void Flush(Out& o) {
    while (o.writable && o.off < o.pending.size()) {
      ssize_t n = write(o.fd.get(), o.pending.data() + o.off, o.pending.size() - o.off);
      if (n >= 0) {
        o.off += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN && !tearing_down) {
        if (o.watching) return;
        absl::Status w = loop->Watch(o.fd.get(), EPOLLOUT, [this, &o](uint32_t) { Flush(o); });
        if (w.ok()) {
          o.watching = true;
          return;
        }
        errno = EIO;
      }
      SHIM_LOG(Warning) << Who() << " " << o.name << ": " << ErrnoStatus(errno, "write").message()
                        << "; dropping further output";
      o.writable = false;
    }
    Unwatch(o);
    o.pending.clear();
    Read(o);
  }
  void Unwatch(Out& o) {
    if (!o.watching) return;
    loop->Unwatch(o.fd.get());
    o.watching = false;
  }
  void Finish(Out& o) {
    if (o.finished) return;
    Unwatch(o);
    // Closing our end (the FIFO's last writer) gives containerd's reader EOF now: the CRI's
    // ExecSync answers only after that EOF and deletes the exec only after answering.
    o.fd.reset();
    o.finished = true;
    o.done.Notify();
    // The process's output is all written: the logging binary has its EOF and may go.
    if (--streams_left == 0 && logger) RunAside([this] { logger->Stop(); });
  }

  // ---- input: FIFO readable -> WriteStdinAsync -> next read; CloseStdin drains, then closes
  void StartStdin() {
    Hold();  // until the process's stdin is closed
    if (stdin_close) return ReadStdin();
    WatchStdin();
  }
  void WatchStdin() {
    if (stdin_watching) return;
    absl::Status w = loop->Watch(stdin_fd.get(), EPOLLIN, [this](uint32_t) { ReadStdin(); });
    if (!w.ok()) {
      SHIM_LOG(Warning) << Who() << " stdin: " << w;
      return FinishStdin();
    }
    stdin_watching = true;
  }
  void UnwatchStdin() {
    if (!stdin_watching) return;
    loop->Unwatch(stdin_fd.get());
    stdin_watching = false;
  }
  void ReadStdin() {
    if (stdin_done || stdin_writing) return;
    std::string buf(kStdinChunk, '\0');
    ssize_t n = RetryEintr([&] { return read(stdin_fd.get(), buf.data(), buf.size()); });
    if (n > 0) {
      UnwatchStdin();
      buf.resize(static_cast<size_t>(n));
      return SendStdin(std::move(buf));
    }
    if (n < 0 && errno == EAGAIN && !stdin_close) return WatchStdin();
    FinishStdin();  // EOF (the writer left), nothing left to drain, or an error
  }
  void SendStdin(std::string data) {
    stdin_writing = true;
    Hold();
    sandbox->WriteStdinAsync(
        cid, exec, data, [self = shared_from_this(), data](absl::StatusOr<size_t> w) mutable {
          self->loop->Post([self, data = std::move(data), w = std::move(w)]() mutable {
            self->OnStdinWritten(std::move(data), w);
            self->Release();
          });
        });
  }
  void OnStdinWritten(std::string data, const absl::StatusOr<size_t>& w) {
    stdin_writing = false;
    if (!w.ok()) {
      SHIM_LOG(Debug) << Who() << " stdin: " << w.status();
      return FinishStdin();
    }
    if (*w < data.size()) return SendStdin(data.substr(*w));
    ReadStdin();
  }
  void RequestStdinClose() {
    stdin_close = true;
    if (stdin_fd && !stdin_done && !stdin_writing) ReadStdin();
  }
  void FinishStdin() {
    if (stdin_done) return;
    stdin_done = true;
    UnwatchStdin();
    RunAside([this] {
      absl::Status s = sandbox->CloseStdin(cid, exec);
      if (!s.ok()) SHIM_LOG(Debug) << "close stdin of " << Who() << ": " << s;
    });
    Release();  // StartStdin's
  }

  // The owner goes: output still to copy is dropped (reads continue to EOF).
  void Teardown() {
    tearing_down = true;
    for (Out& o : out) {
      if (!o.watching) continue;
      Unwatch(o);
      o.pending.clear();
      Read(o);
    }
  }
};

absl::StatusOr<std::unique_ptr<ProcessIo>> ProcessIo::Open(const StdioPaths& paths,
                                                           const ProcessIdentity& who) {
  std::unique_ptr<ProcessIo> io(new ProcessIo());
  io->paths_ = paths;
  auto st = std::make_shared<State>();
  io->state_ = st;
  st->out[0].name = "stdout";
  st->out[1].name = "stderr";
  st->out[1].is_stderr = true;
  if (!paths.stdin.empty()) {
    absl::string_view p = paths.stdin;
    absl::ConsumePrefix(&p, "fifo://");
    std::string path(p);
    st->stdin_fd.reset(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!st->stdin_fd) return ErrnoStatus(errno, absl::StrCat("open stdin ", path));
  }
  const bool binary = absl::StartsWith(paths.stdout, kBinaryLogScheme);
  if (binary) {
    if (!paths.stderr.empty() && paths.stderr != paths.stdout) {
      return absl::InvalidArgumentError(absl::StrCat("stderr ", paths.stderr, ": stdout is ",
                                                     paths.stdout, "; both must name it"));
    }
    auto logger = BinaryLogger::Start(paths.stdout, who.container_id, who.ns);
    if (!logger.ok()) return logger.status();
    st->logger = *std::move(logger);
    st->out[0].fd = st->logger->TakeStdout();
    if (!paths.terminal) st->out[1].fd = st->logger->TakeStderr();
  } else if (!paths.stdout.empty()) {
    auto fd = OpenOutput(paths.stdout, "stdout");
    if (!fd.ok()) return fd.status();
    st->out[0].fd = *std::move(fd);
  }
  if (!binary && !paths.stderr.empty() && !paths.terminal) {
    auto fd = OpenOutput(paths.stderr, "stderr");
    if (!fd.ok()) return fd.status();
    st->out[1].fd = *std::move(fd);
  }
  for (State::Out& o : st->out) {
    SetNonBlocking(o.fd.get());
    o.writable = static_cast<bool>(o.fd);
  }
  return io;
}

ProcessIo::~ProcessIo() {
  std::shared_ptr<State> st = std::move(state_);
  if (started_) {
    CloseStdinOf(st);
    absl::Notification torn;
    st->loop->Post([st, &torn] {
      st->Teardown();
      torn.Notify();
    });
    torn.WaitForNotification();
    std::vector<std::thread> aside;
    {
      absl::MutexLock l(&st->mu);
      while (st->busy > 0) st->idle.Wait(&st->mu);
      aside.swap(st->aside);
    }
    for (std::thread& t : aside) t.join();
  }
  // Nothing runs for this process any more: its descriptors close with the state.
  for (State::Out& o : st->out) o.fd.reset();
  if (st->logger) st->logger->Stop();  // never started, or already stopped
}

void ProcessIo::Start(runtime::Sandbox* sandbox, const std::string& container_id,
                      const std::string& exec_id) {
  if (started_) return;
  started_ = true;
  std::shared_ptr<State> st = state_;
  st->loop = &IoLoop::Shared();
  st->sandbox = sandbox;
  st->cid = container_id;
  st->exec = exec_id;
  const bool terminal = paths_.terminal;
  if (!st->stdin_fd && !terminal) {
    absl::Status s = sandbox->CloseStdin(container_id, exec_id);
    if (!s.ok())
      SHIM_LOG(Debug) << "close stdin of " << container_id << "/" << exec_id << ": " << s;
  }
  st->loop->Post([st, terminal] {
    st->Read(st->out[0]);
    if (terminal) {
      st->out[1].finished = true;  // a terminal has no stderr
      st->out[1].fd.reset();
      st->out[1].done.Notify();
      --st->streams_left;
    } else {
      st->Read(st->out[1]);
    }
    if (st->stdin_fd) st->StartStdin();
  });
}

bool ProcessIo::WaitOutput(absl::Duration timeout) {
  if (!started_) return true;
  absl::Time deadline = absl::Now() + timeout;
  return state_->out[0].done.WaitForNotificationWithDeadline(deadline) &&
         state_->out[1].done.WaitForNotificationWithDeadline(deadline);
}

void ProcessIo::CloseStdin() { CloseStdinOf(state_); }

void ProcessIo::CloseStdinOf(const std::shared_ptr<State>& st) {
  if (!started_) {
    st->stdin_close = true;  // applied by Start
    return;
  }
  st->loop->Post([st] { st->RequestStdinClose(); });
}

}  // namespace shim
}  // namespace kata
