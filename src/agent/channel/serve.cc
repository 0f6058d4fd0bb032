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
#include "absl/synchronization/notification.h"
#include "src/agent/log/log.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

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
  self->loop_ = std::thread(&ChannelServer::ServeLoop, self.get(), *fd);
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
  if (loop_.joinable() && loop_.get_id() != std::this_thread::get_id()) loop_.join();
}

bool ChannelServer::Wait(absl::Duration d) {
  struct pollfd p = {wake_fd_, POLLIN, 0};
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(d));
  while (poll(&p, 1, ms) < 0 && errno == EINTR) {
  }
  return !stopping_.load();
}

void ChannelServer::ServeLoop(int device_fd) {
  absl::Duration backoff = options_.min_backoff;
  bool reported_open_error = false;
  while (!stopping_.load()) {
    if (device_fd < 0) {
      // The previous session's fd may still be open while its cancelled calls finish
      // (a virtio-serial port opens once at a time: EBUSY), so failures are retried.
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
    // The server reads the device itself; it tells us when the host has gone (EOF).
    auto ended = std::make_shared<absl::Notification>();
    absl::Status served = server_->ServeFd(device_fd, [ended] { ended->Notify(); });
    device_fd = -1;  // the server owns it now
    if (!served.ok()) break;  // the server is shut down
    sessions_.fetch_add(1);
    const absl::Time start = absl::Now();
    while (!ended->WaitForNotificationWithTimeout(absl::Milliseconds(50))) {
      if (stopping_.load()) return;
    }
    if (stopping_.load()) break;
    // A session that lasted was a real host: come back quickly. One that ended at once
    // (no host yet) backs off.
    if (absl::Now() - start > absl::Seconds(1)) {
      backoff = options_.min_backoff;
      Log(LogLevel::kInfo, "host disconnected from the agent channel; serving it again",
          {{"device", endpoint_}});
    }
    if (!Wait(backoff)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  if (device_fd >= 0) close(device_fd);
}

}  // namespace agent
}  // namespace kata
