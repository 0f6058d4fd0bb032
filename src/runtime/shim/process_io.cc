#include "src/runtime/shim/process_io.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/io.h"
#include "src/libs/base/status_util.h"
#include "src/runtime/shim/log.h"

namespace kata {
namespace shim {
namespace {

absl::StatusOr<UniqueFd> OpenOutput(const std::string& uri, const char* name) {
  absl::string_view path = uri;
  int flags = O_RDWR | O_CLOEXEC;  // a FIFO opened read-write never blocks on open
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

}  // namespace

absl::StatusOr<std::unique_ptr<ProcessIo>> ProcessIo::Open(const StdioPaths& paths,
                                                           const ProcessIdentity& who) {
  std::unique_ptr<ProcessIo> io(new ProcessIo());
  io->paths_ = paths;
  if (!paths.stdin.empty()) {
    absl::string_view p = paths.stdin;
    absl::ConsumePrefix(&p, "fifo://");
    std::string path(p);
    io->stdin_fd_.reset(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!io->stdin_fd_) return ErrnoStatus(errno, absl::StrCat("open stdin ", path));
    int fl = fcntl(io->stdin_fd_.get(), F_GETFL);
    fcntl(io->stdin_fd_.get(), F_SETFL, fl & ~O_NONBLOCK);
  }
  const bool binary = absl::StartsWith(paths.stdout, kBinaryLogScheme);
  if (binary) {
    if (!paths.stderr.empty() && paths.stderr != paths.stdout) {
      return absl::InvalidArgumentError(absl::StrCat("stderr ", paths.stderr, ": stdout is ",
                                                     paths.stdout, "; both must name it"));
    }
    auto logger = BinaryLogger::Start(paths.stdout, who.container_id, who.ns);
    if (!logger.ok()) return logger.status();
    io->logger_ = *std::move(logger);
    io->stdout_fd_ = io->logger_->TakeStdout();
    if (!paths.terminal) io->stderr_fd_ = io->logger_->TakeStderr();
  } else if (!paths.stdout.empty()) {
    auto fd = OpenOutput(paths.stdout, "stdout");
    if (!fd.ok()) return fd.status();
    io->stdout_fd_ = *std::move(fd);
  }
  if (!binary && !paths.stderr.empty() && !paths.terminal) {
    auto fd = OpenOutput(paths.stderr, "stderr");
    if (!fd.ok()) return fd.status();
    io->stderr_fd_ = *std::move(fd);
  }
  io->wake_fd_.reset(eventfd(0, EFD_CLOEXEC));
  if (!io->wake_fd_) return ErrnoStatus(errno, "eventfd");
  return io;
}

ProcessIo::~ProcessIo() {
  CloseStdin();
  if (stdin_thread_.joinable()) stdin_thread_.join();
  if (stdout_thread_.joinable()) stdout_thread_.join();
  if (stderr_thread_.joinable()) stderr_thread_.join();
  stdout_fd_.reset();
  stderr_fd_.reset();
  if (logger_) logger_->Stop();  // never started, or already stopped by the last stream
  // The other descriptors close after this (the threads that used them are done).
}

void ProcessIo::Start(runtime::Sandbox* sandbox, const std::string& container_id,
                      const std::string& exec_id) {
  if (started_) return;
  started_ = true;
  sandbox_ = sandbox;
  container_id_ = container_id;
  exec_id_ = exec_id;
  stdout_thread_ = std::thread([this] { CopyOut(false); });
  if (paths_.terminal) {
    streams_left_.fetch_sub(1);
    stderr_done_.Notify();
  } else {
    stderr_thread_ = std::thread([this] { CopyOut(true); });
  }
  if (stdin_fd_) {
    stdin_thread_ = std::thread([this] { CopyIn(); });
  } else if (!paths_.terminal) {
    absl::Status s = sandbox_->CloseStdin(container_id_, exec_id_);
    if (!s.ok())
      SHIM_LOG(Debug) << "close stdin of " << container_id_ << "/" << exec_id_ << ": " << s;
  }
}

bool ProcessIo::WaitOutput(absl::Duration timeout) {
  if (!started_) return true;
  absl::Time deadline = absl::Now() + timeout;
  return stdout_done_.WaitForNotificationWithDeadline(deadline) &&
         stderr_done_.WaitForNotificationWithDeadline(deadline);
}

void ProcessIo::CloseStdin() {
  if (!wake_fd_) return;
  uint64_t one = 1;
  ssize_t n = write(wake_fd_.get(), &one, sizeof(one));
  (void)n;
}

void ProcessIo::CopyOut(bool is_stderr) {
  const int fd = is_stderr ? stderr_fd_.get() : stdout_fd_.get();
  const char* name = is_stderr ? "stderr" : "stdout";
  bool writable = fd >= 0;
  for (;;) {
    absl::StatusOr<std::string> data = is_stderr ? sandbox_->ReadStderr(container_id_, exec_id_)
                                                 : sandbox_->ReadStdout(container_id_, exec_id_);
    if (!data.ok()) {
      if (data.status().code() != absl::StatusCode::kOutOfRange) {
        SHIM_LOG(Debug) << container_id_ << "/" << exec_id_ << " " << name
                        << " ends: " << data.status();
      }
      break;
    }
    if (data->empty()) break;  // EOF
    if (!writable) continue;
    if (absl::Status w = WriteAll(fd, *data); !w.ok()) {
      SHIM_LOG(Warning) << container_id_ << "/" << exec_id_ << " " << name << ": " << w.message()
                        << "; dropping further output";
      writable = false;
    }
  }
  // The stream is finished: closing our end (the FIFO's last writer) gives containerd's
  // reader EOF now. The CRI's ExecSync answers only after that EOF and deletes the exec (and
  // this object) after answering, so the close must not wait for the destructor.
  (is_stderr ? stderr_fd_ : stdout_fd_).reset();
  (is_stderr ? stderr_done_ : stdout_done_).Notify();
  // The process's output is all written: the logging binary has its EOF and may go.
  if (streams_left_.fetch_sub(1) == 1 && logger_) logger_->Stop();
}

void ProcessIo::CopyIn() {
  char buf[32 * 1024];
  bool closing = false;
  for (;;) {
    if (!closing) {
      pollfd fds[2] = {{stdin_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
      if (RetryEintr([&] { return poll(fds, 2, -1); }) < 0) break;
      if (fds[1].revents & POLLIN) {
        closing = true;  // drain what is there without blocking, then close
        int fl = fcntl(stdin_fd_.get(), F_GETFL);
        fcntl(stdin_fd_.get(), F_SETFL, fl | O_NONBLOCK);
      } else if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        continue;
      }
    }
    ssize_t n = RetryEintr([&] { return read(stdin_fd_.get(), buf, sizeof(buf)); });
    if (n <= 0) break;  // EOF (the writer left), EAGAIN while draining, or an error
    absl::string_view data(buf, static_cast<size_t>(n));
    while (!data.empty()) {
      absl::StatusOr<size_t> w = sandbox_->WriteStdin(container_id_, exec_id_, data);
      if (!w.ok()) {
        SHIM_LOG(Debug) << container_id_ << "/" << exec_id_ << " stdin: " << w.status();
        data = {};
        closing = true;
        break;
      }
      data.remove_prefix(std::min(*w, data.size()));
    }
  }
  absl::Status s = sandbox_->CloseStdin(container_id_, exec_id_);
  if (!s.ok())
    SHIM_LOG(Debug) << "close stdin of " << container_id_ << "/" << exec_id_ << ": " << s;
}

}  // namespace shim
}  // namespace kata
