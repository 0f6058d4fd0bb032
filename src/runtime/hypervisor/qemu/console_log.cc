#include "src/runtime/hypervisor/qemu/console_log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/io.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata::hypervisor::qemu {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// QEMU's side of the socket: room for bursts while the thread is descheduled.
constexpr int kSocketBuffer = 1 << 20;

}  // namespace

absl::StatusOr<std::unique_ptr<RotatingFile>> RotatingFile::Open(const std::string& path,
                                                                 uint64_t max_bytes) {
  const size_t slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || slash + 1 == path.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("console log \"", path, "\": must be an absolute file path"));
  }
  if (max_bytes < kMinConsoleLogBytes) {
    return absl::InvalidArgumentError(absl::StrCat("console log ", path, ": cap ", max_bytes,
                                                   " is below ", kMinConsoleLogBytes, " bytes"));
  }
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return ErrnoStatus(errno, absl::StrCat("console log directory ", dir));
  std::unique_ptr<RotatingFile> file(
      new RotatingFile(std::move(dir_fd), path.substr(slash + 1), path, max_bytes));
  const std::string old = file->name_ + ".1";
  if (unlinkat(file->dir_.get(), old.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("remove ", path, ".1"));
  }
  KATA_RETURN_IF_ERROR(file->CreateFile());
  return file;
}

absl::Status RotatingFile::CreateFile() {
  fd_.reset();
  size_ = 0;
  if (unlinkat(dir_.get(), name_.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("remove ", path_));
  }
  UniqueFd fd(openat(dir_.get(), name_.c_str(),
                     O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("create console log ", path_));
  // The umask may have narrowed 0600 only; make it exact.
  if (fchmod(fd.get(), 0600) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", path_));
  fd_ = std::move(fd);
  return absl::OkStatus();
}

absl::Status RotatingFile::Rotate() {
  fd_.reset();
  const std::string old = name_ + ".1";
  if (renameat(dir_.get(), name_.c_str(), dir_.get(), old.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("rotate ", path_));
  }
  ++rotations_;
  return CreateFile();
}

absl::Status RotatingFile::Append(absl::string_view data) {
  if (!fd_) KATA_RETURN_IF_ERROR(CreateFile());
  // Only the newest 2 * max_bytes can survive: skip what would be rotated away anyway.
  if (data.size() > 2 * max_bytes_) data.remove_prefix(data.size() - 2 * max_bytes_);
  while (!data.empty()) {
    if (size_ == max_bytes_) KATA_RETURN_IF_ERROR(Rotate());
    const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), max_bytes_ - size_));
    absl::Status written = WriteAll(fd_.get(), data.substr(0, n));
    if (!written.ok()) return AnnotateStatus(written, absl::StrCat("console log ", path_));
    size_ += n;
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ConsoleReader>> ConsoleReader::Start(const std::string& path,
                                                                    uint64_t max_bytes) {
  KATA_ASSIGN_OR_RETURN(std::unique_ptr<RotatingFile> file, RotatingFile::Open(path, max_bytes));
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return ErrnoStatus(errno, absl::StrCat("console socket pair for ", path));
  }
  UniqueFd ours(pair[0]);
  UniqueFd qemu_end(pair[1]);
  // QEMU's end never blocks it (O_NONBLOCK belongs to the open file, which QEMU inherits);
  // ours is non-blocking so the thread can drain without waiting.
  for (int fd : {ours.get(), qemu_end.get()}) {
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
      return ErrnoStatus(errno, "console socket O_NONBLOCK");
    }
  }
  // Best effort: a small buffer only means QEMU drops sooner.
  (void)setsockopt(qemu_end.get(), SOL_SOCKET, SO_SNDBUF, &kSocketBuffer, sizeof(kSocketBuffer));
  (void)setsockopt(ours.get(), SOL_SOCKET, SO_RCVBUF, &kSocketBuffer, sizeof(kSocketBuffer));
  // Never shut down our writing side: QEMU takes EOF on its end for a disconnect and would
  // drop the console from then on. We simply never write (the guest gets no console input).
  UniqueFd stop(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) return ErrnoStatus(errno, "console eventfd");
  return std::unique_ptr<ConsoleReader>(
      new ConsoleReader(std::move(file), std::move(ours), std::move(qemu_end), std::move(stop)));
}

ConsoleReader::ConsoleReader(std::unique_ptr<RotatingFile> file, UniqueFd ours, UniqueFd qemu_end,
                             UniqueFd stop)
    : file_(std::move(file)),
      ours_(std::move(ours)),
      qemu_end_(std::move(qemu_end)),
      stop_(std::move(stop)) {
  thread_ = std::thread([this] { Run(); });
}

ConsoleReader::~ConsoleReader() { Stop(); }

void ConsoleReader::Stop() {
  const uint64_t one = 1;
  (void)!write(stop_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void ConsoleReader::WaitForEof() {
  if (thread_.joinable()) thread_.join();
}

ConsoleReader::Stats ConsoleReader::stats() const {
  return Stats{.bytes_read = bytes_read_.load(),
               .bytes_dropped = bytes_dropped_.load(),
               .rotations = rotations_.load()};
}

bool ConsoleReader::Drain() {
  char buf[kReadChunk];
  for (;;) {
    const ssize_t n = RetryEintr([&] { return read(ours_.get(), buf, sizeof(buf)); });
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0) return false;
    bytes_read_ += static_cast<uint64_t>(n);
    if (!file_->Append(absl::string_view(buf, static_cast<size_t>(n))).ok()) {
      bytes_dropped_ += static_cast<uint64_t>(n);
    }
    rotations_ = file_->rotations();
  }
}

void ConsoleReader::Run() {
  for (;;) {
    struct pollfd p[2] = {{ours_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (RetryEintr([&] { return poll(p, 2, -1); }) < 0) return;
    if (p[0].revents != 0 && !Drain()) return;  // EOF: QEMU is gone
    if (p[1].revents != 0) {
      Drain();
      return;
    }
  }
}

}  // namespace kata::hypervisor::qemu
