// Process's streams: the drain threads that buffer stdout/stderr (or the pty's output), reads,
// stdin writes, CloseStdin and the terminal's size.
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>

#include "src/agent/process/process.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

// Blocks SIGPIPE in the calling thread for its lifetime, so a write to a closed pipe fails
// with EPIPE instead of raising it; ConsumeRaised() takes back the SIGPIPE such a write left
// pending (unless one was pending before).
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

  void ConsumeRaised() {
    if (was_pending_) return;
    struct timespec zero = {0, 0};
    sigtimedwait(&pipe_, nullptr, &zero);
  }

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

}  // namespace

size_t Process::Pending(Stream s) const { return buffers_[s].data.size() - buffers_[s].off; }

void Process::DrainLoop(Stream s) {
  const int fd = out_fds_[s].get();
  char tmp[64 * 1024];
  for (;;) {
    size_t room;
    {
      absl::MutexLock l(&mu_);
      while (!stopping_ && Pending(s) >= cap_) cv_.Wait(&mu_);
      if (stopping_) return;
      room = cap_ - Pending(s);
    }
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {cancel_fd_.get(), POLLIN, 0}};
    if (RetryEintr([&] { return poll(fds, 2, -1); }) < 0) break;
    if (fds[1].revents != 0) return;
    const ssize_t n = RetryEintr([&] { return read(fd, tmp, std::min(room, sizeof(tmp))); });
    if (n > 0) {
      std::vector<std::function<void()>> ready;
      {
        absl::MutexLock l(&mu_);
        Buffer& b = buffers_[s];
        if (b.off > 0 && b.off >= b.data.size() / 2) {
          b.data.erase(0, b.off);
          b.off = 0;
        }
        b.data.append(tmp, static_cast<size_t>(n));
        cv_.SignalAll();
        TakeReadyReaders(s, &ready);
      }
      for (auto& f : ready) f();
      continue;
    }
    if (n < 0 && errno == EAGAIN) continue;
    break;  // EOF; EIO from a pty master once no slave is open; or a real error
  }
  std::vector<std::function<void()>> ready;
  {
    absl::MutexLock l(&mu_);
    buffers_[s].eof = true;
    cv_.SignalAll();
    TakeReadyReaders(s, &ready);
  }
  for (auto& f : ready) f();
}

bool Process::Readable(Stream s) const { return Pending(s) != 0 || (buffers_[s].eof && exited_); }

void Process::TakeReadyReaders(Stream s, std::vector<std::function<void()>>* out) {
  if (read_watchers_[s].empty() || !Readable(s)) return;
  for (auto& f : read_watchers_[s]) out->push_back(std::move(f));
  read_watchers_[s].clear();
}

std::string Process::TakeOutput(Stream s, size_t max_len) {
  Buffer& b = buffers_[s];
  if (b.data.size() == b.off) return std::string();
  const size_t n = std::min(max_len, b.data.size() - b.off);
  std::string out = b.data.substr(b.off, n);
  b.off += n;
  if (b.off == b.data.size()) {
    b.data.clear();
    b.off = 0;
  }
  cv_.SignalAll();  // room for the drain loop
  return out;
}

absl::Status Process::CheckStream(Stream s) const {
  if (s == kStderr && terminal_) {
    return absl::FailedPreconditionError(
        "stderr: the process has a terminal; its output is on stdout");
  }
  if (!out_fds_[s].valid()) return absl::FailedPreconditionError("the stream is not captured");
  return absl::OkStatus();
}

void Process::NotifyReadable(bool stderr_stream, std::function<void()> ready) {
  const Stream s = stderr_stream ? kStderr : kStdout;
  {
    absl::MutexLock l(&mu_);
    // A stream that is not captured never becomes readable: a read fails at once.
    if (!Readable(s) && CheckStream(s).ok()) {
      read_watchers_[s].push_back(std::move(ready));
      return;
    }
  }
  ready();
}

absl::StatusOr<std::optional<std::string>> Process::TryRead(bool stderr_stream, size_t max_len) {
  const Stream s = stderr_stream ? kStderr : kStdout;
  KATA_RETURN_IF_ERROR(CheckStream(s));
  if (max_len == 0) return absl::InvalidArgumentError("read: max_len is 0");
  absl::MutexLock l(&mu_);
  if (!Readable(s)) return std::optional<std::string>();
  return std::optional<std::string>(TakeOutput(s, max_len));
}

absl::StatusOr<std::string> Process::Read(Stream s, size_t max_len) {
  if (max_len == 0) return absl::InvalidArgumentError("read: max_len is 0");
  absl::MutexLock l(&mu_);
  while (!Readable(s)) cv_.Wait(&mu_);
  return TakeOutput(s, max_len);
}

bool Process::AllEof() const {
  for (Stream s : {kStdout, kStderr}) {
    if (out_fds_[s].valid() && !buffers_[s].eof) return false;
  }
  return true;
}

bool Process::OutputDone() {
  absl::MutexLock l(&mu_);
  if (!exited_ || !AllEof()) return false;
  for (Stream s : {kStdout, kStderr}) {
    if (out_fds_[s].valid() && Pending(s) != 0) return false;
  }
  return true;
}

bool Process::AwaitOutputEof(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock l(&mu_);
  while (!AllEof()) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;  // timed out
  }
  return AllEof();
}

absl::StatusOr<std::string> Process::ReadStdout(size_t max_len) { return Read(kStdout, max_len); }

absl::StatusOr<std::string> Process::ReadStderr(size_t max_len) {
  if (terminal_) {
    return absl::FailedPreconditionError(
        "stderr: the process has a terminal; its output is on stdout");
  }
  return Read(kStderr, max_len);
}

absl::Status Process::AwaitStdinWritable(int fd) {
  struct pollfd fds[2] = {{fd, POLLOUT, 0}, {cancel_fd_.get(), POLLIN, 0}};
  if (poll(fds, 2, -1) < 0 && errno != EINTR) return ErrnoStatus(errno, "stdin: poll");
  if (fds[1].revents != 0) return absl::CancelledError("stdin: process is being destroyed");
  return absl::OkStatus();
}

absl::StatusOr<size_t> Process::WriteStdin(absl::string_view data) {
  absl::MutexLock l(&stdin_mu_);
  if (stdin_closed_) return absl::FailedPreconditionError("stdin: closed");
  const int fd = stdin_fd_.get();
  SigpipeBlock no_sigpipe;
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = RetryEintr([&] { return write(fd, data.data() + done, data.size() - done); });
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      KATA_RETURN_IF_ERROR(AwaitStdinWritable(fd));
      continue;
    }
    const int err = n < 0 ? errno : EIO;
    if (err == EPIPE) no_sigpipe.ConsumeRaised();
    return ErrnoStatus(err, "stdin");
  }
  return done;
}

absl::Status Process::CloseStdin() {
  absl::MutexLock l(&stdin_mu_);
  if (stdin_closed_) return absl::OkStatus();
  stdin_closed_ = true;
  absl::Status st;
  if (terminal_) {
    const int fd = stdin_fd_.get();
    struct termios t;
    char eof = 4;  // ^D
    if (tcgetattr(fd, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE) eof = t.c_cc[VEOF];
    if (RetryEintr([&] { return write(fd, &eof, 1); }) < 0 && errno != EIO) {
      st = ErrnoStatus(errno, "stdin: write EOF");
    }
  }
  stdin_fd_.reset();
  return st;
}

absl::Status Process::Resize(uint16_t rows, uint16_t cols) {
  if (!terminal_) return absl::FailedPreconditionError("resize: the process has no terminal");
  struct winsize ws = {rows, cols, 0, 0};
  if (ioctl(out_fds_[kStdout].get(), TIOCSWINSZ, &ws) != 0) {
    return ErrnoStatus(errno, "resize: TIOCSWINSZ");
  }
  return absl::OkStatus();
}

}  // namespace agent
}  // namespace kata
