#include "src/agent/channel/serve.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/agent/log/log.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

constexpr size_t kRelayBuffer = 64 * 1024;

absl::StatusOr<int> OpenDevice(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  if (isatty(fd)) {
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
      cfmakeraw(&t);
      tcsetattr(fd, TCSANOW, &t);
    }
  }
  return fd;
}

void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

enum class WriteResult { kOk, kBroken, kStopped };

// Writes all of `data` to non-blocking `fd`, waiting for room; gives up on Stop.
WriteResult WriteAll(int fd, const char* data, size_t size, int wake_fd) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return WriteResult::kBroken;
    struct pollfd fds[2] = {{fd, POLLOUT, 0}, {wake_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return WriteResult::kBroken;
    if (fds[1].revents != 0) return WriteResult::kStopped;
    if (fds[0].revents & (POLLERR | POLLNVAL)) return WriteResult::kBroken;
  }
  return WriteResult::kOk;
}

}  // namespace

ChannelServer::ChannelServer(ttrpc::Server* server, Options options, int wake_fd)
    : server_(server), options_(std::move(options)), wake_fd_(wake_fd) {
  if (!options_.open_device) options_.open_device = OpenDevice;
}

absl::StatusOr<std::unique_ptr<ChannelServer>> ChannelServer::Start(ttrpc::Server* server,
                                                                     const AgentAddress& address,
                                                                     Options options) {
  int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) return ErrnoStatus(errno, "eventfd");
  std::unique_ptr<ChannelServer> self(new ChannelServer(server, std::move(options), wake_fd));
  switch (address.kind) {
    case AgentAddress::Kind::kListen:
      self->endpoint_ = address.listen;
      KATA_RETURN_IF_ERROR(server->Listen(address.listen));
      return self;
    case AgentAddress::Kind::kSerialName: {
      absl::StatusOr<std::string> path = FindVirtioPort(address.serial, self->options_.roots);
      if (!path.ok()) return AnnotateStatus(path.status(), address.text);
      self->endpoint_ = *path;
      break;
    }
    case AgentAddress::Kind::kSerialPath:
      self->endpoint_ = address.serial;
      break;
  }
  absl::StatusOr<int> fd = self->options_.open_device(self->endpoint_);
  if (!fd.ok()) return AnnotateStatus(fd.status(), address.text);
  self->relay_ = std::thread(&ChannelServer::RelayLoop, self.get(), *fd);
  return self;
}

ChannelServer::~ChannelServer() {
  Stop();
  close(wake_fd_);
}

void ChannelServer::Stop() {
  if (!stopping_.exchange(true)) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }
  if (relay_.joinable() && relay_.get_id() != std::this_thread::get_id()) relay_.join();
}

bool ChannelServer::Wait(absl::Duration d) {
  struct pollfd p = {wake_fd_, POLLIN, 0};
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(d));
  while (poll(&p, 1, ms) < 0 && errno == EINTR) {
  }
  return !stopping_.load();
}

void ChannelServer::RelayLoop(int device_fd) {
  absl::Duration backoff = options_.min_backoff;
  bool reported_open_error = false;
  while (!stopping_.load()) {
    if (device_fd < 0) {
      absl::StatusOr<int> fd = options_.open_device(endpoint_);
      if (!fd.ok()) {
        if (!reported_open_error) {
          Log(LogLevel::kWarn, "cannot reopen the agent channel; retrying",
              {{"device", endpoint_}, {"error", fd.status().ToString()}});
          reported_open_error = true;
        }
        if (!Wait(backoff)) break;
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      reported_open_error = false;
      device_fd = *fd;
    }
    bool carried = false;
    if (!ServeOnce(device_fd, &carried)) break;
    device_fd = -1;
    if (carried) backoff = options_.min_backoff;
    if (!Wait(backoff)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  if (device_fd >= 0) close(device_fd);
}

bool ChannelServer::ServeOnce(int device_fd, bool* carried) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    Log(LogLevel::kError, "socketpair failed", {{"error", ErrnoStatus(errno, "socketpair").ToString()}});
    close(device_fd);
    return !stopping_.load();
  }
  absl::Status served = server_->ServeFd(sv[0]);  // takes sv[0]
  if (!served.ok()) {
    close(sv[1]);
    close(device_fd);
    return false;  // the server is shut down
  }
  sessions_.fetch_add(1);
  SetNonBlocking(device_fd);
  SetNonBlocking(sv[1]);
  std::unique_ptr<char[]> buf(new char[kRelayBuffer]);
  bool keep_serving = true;
  for (;;) {
    struct pollfd fds[3] = {{device_fd, POLLIN, 0}, {sv[1], POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) {
      keep_serving = false;
      break;
    }
    if (fds[0].revents != 0) {
      ssize_t n = read(device_fd, buf.get(), kRelayBuffer);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) break;  // the host went away (virtio-serial EOF, pty EIO)
      *carried = true;
      WriteResult w = WriteAll(sv[1], buf.get(), static_cast<size_t>(n), wake_fd_);
      if (w == WriteResult::kStopped) keep_serving = false;
      if (w != WriteResult::kOk) break;  // stopped, or the server closed its end
    }
    if (fds[1].revents != 0) {
      ssize_t n = read(sv[1], buf.get(), kRelayBuffer);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      // The server closed the connection: serve the device afresh (if the server is shut
      // down, the next ServeFd says so and the relay ends).
      if (n <= 0) break;
      WriteResult w = WriteAll(device_fd, buf.get(), static_cast<size_t>(n), wake_fd_);
      if (w == WriteResult::kStopped) {
        keep_serving = false;
        break;
      }
      if (w == WriteResult::kBroken) break;  // the host went away
    }
  }
  close(sv[1]);
  close(device_fd);
  if (*carried && keep_serving) {
    Log(LogLevel::kInfo, "host disconnected from the agent channel; serving it again",
        {{"device", endpoint_}});
  }
  return keep_serving && !stopping_.load();
}

}  // namespace agent
}  // namespace kata
