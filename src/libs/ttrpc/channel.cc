#include "src/libs/ttrpc/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/libs/base/eintr.h"

namespace kata {
namespace ttrpc {
namespace {

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The smallest spin window worth having; below it the window drops to zero.
constexpr int64_t kMinSpinNs = 2000;

bool IsSocket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

Channel::Channel(UniqueFd fd, absl::Duration write_stall_timeout)
    : fd_(std::move(fd)),
      is_socket_(IsSocket(fd_.get())),
      write_stall_timeout_(write_stall_timeout) {
  if (!is_socket_) {
    wake_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    // Writes must not block without bound (reads poll first and retry EAGAIN). A socket
    // gets MSG_DONTWAIT per write instead: its reads block in read().
    const int flags = fcntl(fd_.get(), F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
  }
}

Channel::~Channel() { Shutdown(); }

void Channel::Shutdown() {
  if (shut_down_.exchange(true, std::memory_order_acq_rel)) return;
  if (is_socket_) {
    shutdown(fd_.get(), SHUT_RDWR);
  } else if (wake_fd_) {
    uint64_t one = 1;
    (void)!write(wake_fd_.get(), &one, sizeof one);
  }
}

long Channel::ReadSome(char* buf, size_t size, absl::Time deadline, int interrupt_fd) {
  if (!is_socket_ || busy_poll_limit_ns_ <= 0) {
    return ReadSomeWaiting(buf, size, deadline, interrupt_fd);
  }
  const int64_t start = SteadyNanos();
  if (spin_ns_ > 0) {
    SetReaderAwake(true);
    int64_t until = start + spin_ns_;
    if (deadline != absl::InfiniteFuture()) {
      const int64_t left = absl::ToInt64Nanoseconds(deadline - absl::Now());
      until = std::min(until, start + std::max<int64_t>(left, 0));
    }
    const long n = Spin(buf, size, until);
    if (n != -EAGAIN) {
      if (n <= 0) SetReaderAwake(false);
      return n;
    }
  }
  SetReaderAwake(false);
  const long n = ReadSomeWaiting(buf, size, deadline, interrupt_fd);
  if (n > 0) {
    SetReaderAwake(true);
    const int64_t waited = SteadyNanos() - start;
    if (waited <= busy_poll_limit_ns_) {
      spin_ns_ = std::min(std::max(spin_ns_ * 2, kMinSpinNs), busy_poll_limit_ns_);
    } else {
      spin_ns_ /= 2;
      if (spin_ns_ < kMinSpinNs) spin_ns_ = 0;
    }
  }
  return n;
}

void Channel::SetReaderAwake(bool awake) {
  if (!reader_writes_) return;
  absl::MutexLock lock(&write_mu_);
  reader_awake_ = awake;
  (void)FlushLocked();
}

long Channel::Spin(char* buf, size_t size, int64_t until_ns) {
  for (;;) {
    if (shut_down_.load(std::memory_order_acquire)) return 0;
    const ssize_t n = recv(fd_.get(), buf, size, MSG_DONTWAIT);
    if (n >= 0) return static_cast<long>(n);
    if (errno != EAGAIN && errno != EINTR) return -errno;
    if (SteadyNanos() >= until_ns) return -EAGAIN;
    sched_yield();  // another runnable thread here (a caller we woke) goes first
    if (reader_writes_) {
      absl::MutexLock lock(&write_mu_);
      (void)FlushLocked();
    }
  }
}

long Channel::ReadSomeWaiting(char* buf, size_t size, absl::Time deadline, int interrupt_fd) {
  for (;;) {
    if (shut_down_.load(std::memory_order_acquire)) return 0;
    // A socket with no deadline blocks in read() (Shutdown wakes it); anything else polls,
    // with the eventfd that Shutdown signals for non-sockets and the caller's interrupt_fd.
    const bool polls = !is_socket_ || deadline != absl::InfiniteFuture() || interrupt_fd >= 0;
    if (polls) {
      int timeout_ms = -1;
      if (deadline != absl::InfiniteFuture()) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) return -ETIMEDOUT;
        timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)));
      }
      struct pollfd fds[3] = {{fd_.get(), POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
      if (wake_fd_) fds[1].fd = wake_fd_.get();
      fds[2].fd = interrupt_fd;
      int r = poll(fds, 3, timeout_ms);
      if (r < 0 && errno == EINTR) continue;  // re-checks the deadline
      if (r < 0) return -errno;
      if (r == 0) continue;  // re-checks the deadline
      if (wake_fd_ && (fds[1].revents & POLLIN)) return 0;
      if (interrupt_fd >= 0 && (fds[2].revents & POLLIN)) {
        uint64_t count;
        (void)!read(interrupt_fd, &count, sizeof count);
        return -EINTR;
      }
      if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    }
    ssize_t n = RetryEintr([&] { return read(fd_.get(), buf, size); });
    if (n >= 0) return static_cast<long>(n);
    if (errno == EAGAIN && polls) continue;
    return -errno;
  }
}

absl::Status Channel::WriteIov(struct iovec* cur, int iovcnt) {
  absl::Time progress = absl::Now();  // the last time bytes went out
  while (iovcnt > 0) {
    ssize_t n = RetryEintr([&] {
      if (!is_socket_) return writev(fd_.get(), cur, iovcnt);
      struct msghdr msg = {};
      msg.msg_iov = cur;
      msg.msg_iovlen = static_cast<size_t>(iovcnt);
      return sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    });
    if (n < 0) {
      if (errno != EAGAIN) {
        return absl::UnavailableError(absl::StrCat("ttrpc: write failed: errno ", errno));
      }
      if (is_shut_down()) return absl::UnavailableError("ttrpc: connection closed");
      const absl::Duration left = progress + write_stall_timeout_ - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::UnavailableError(absl::StrCat("ttrpc: write made no progress for ",
                                                   absl::FormatDuration(write_stall_timeout_),
                                                   " (the peer does not read): connection closed"));
      }
      // Wakes every 100 ms at most to notice a Shutdown.
      struct pollfd p = {fd_.get(), POLLOUT, 0};
      poll(&p, 1,
           static_cast<int>(absl::ToInt64Milliseconds(
               std::min(left + absl::Milliseconds(1), absl::Milliseconds(100)))));
      continue;
    }
    progress = absl::Now();
    size_t left = static_cast<size_t>(n);
    while (iovcnt > 0 && left >= cur->iov_len) {
      left -= cur->iov_len;
      ++cur;
      --iovcnt;
    }
    if (iovcnt > 0) {
      cur->iov_base = static_cast<char*>(cur->iov_base) + left;
      cur->iov_len -= left;
    }
  }
  return absl::OkStatus();
}

absl::Status Channel::WriteLocked(absl::string_view head, absl::string_view data) {
  std::string batch;
  batch.swap(queued_);
  write_mu_.Unlock();
  struct iovec iov[3] = {{batch.data(), batch.size()},
                         {const_cast<char*>(head.data()), head.size()},
                         {const_cast<char*>(data.data()), data.size()}};
  absl::Status status = WriteIov(iov, 3);
  write_mu_.Lock();
  // Frames queued while we wrote are ours to write too.
  while (status.ok() && !queued_.empty() && !broken_) {
    batch.clear();
    batch.swap(queued_);
    write_mu_.Unlock();
    struct iovec more = {batch.data(), batch.size()};
    status = WriteIov(&more, 1);
    write_mu_.Lock();
  }
  if (!status.ok()) {
    // A frame may be half written: the stream is unusable. Shutting it down makes the
    // reader see the end, so calls fail instead of waiting for answers that cannot come.
    broken_ = true;
    write_failure_ = status;
    Shutdown();
  }
  return status;
}

absl::Status Channel::WriteFrame(FrameHeader header, absl::string_view data, bool more_coming) {
  if (data.size() > kMaxFrameData) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "ttrpc: message of ", data.size(), " bytes exceeds the maximum of ", kMaxFrameData));
  }
  header.length = static_cast<uint32_t>(data.size());
  char head[kFrameHeaderSize];
  EncodeFrameHeader(header, head);

  absl::MutexLock lock(&write_mu_);
  if (broken_ || is_shut_down()) return absl::UnavailableError("ttrpc: connection closed");
  constexpr size_t kQueueLimit = 64 << 10;
  if (writing_ || ((more_coming || reader_awake_) && queued_.size() + data.size() < kQueueLimit)) {
    if (queued_.size() + data.size() > (size_t{16} << 20)) {
      // Far behind: wait for the writer rather than buffer without bound.
      auto drained = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) { return !writing_ || broken_; };
      write_mu_.Await(absl::Condition(&drained));
      if (broken_) return absl::UnavailableError("ttrpc: connection closed");
    } else {
      queued_.append(head, kFrameHeaderSize);
      queued_.append(data.data(), data.size());
      return absl::OkStatus();
    }
  }
  writing_ = true;
  absl::Status status = WriteLocked(absl::string_view(head, kFrameHeaderSize), data);
  writing_ = false;
  return status;
}

absl::Status Channel::Flush() {
  absl::MutexLock lock(&write_mu_);
  return FlushLocked();
}

absl::Status Channel::FlushLocked() {
  if (writing_ || queued_.empty()) return absl::OkStatus();
  if (broken_) return absl::UnavailableError("ttrpc: connection closed");
  writing_ = true;
  absl::Status status = WriteLocked("", "");
  writing_ = false;
  return status;
}

}  // namespace ttrpc
}  // namespace kata
