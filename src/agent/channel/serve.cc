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
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

absl::StatusOr<UniqueFd> OpenDevice(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", path));
  if (isatty(fd.get())) {
    struct termios t;
    if (tcgetattr(fd.get(), &t) == 0) {
      cfmakeraw(&t);
      tcsetattr(fd.get(), TCSANOW, &t);
    }
  }
  return fd;
}

}  // namespace

ChannelServer::ChannelServer(ttrpc::Server* server, Options options, UniqueFd wake)
    : server_(server), options_(std::move(options)), wake_(std::move(wake)) {
  if (!options_.open_device) options_.open_device = OpenDevice;
}

absl::StatusOr<std::unique_ptr<ChannelServer>> ChannelServer::Start(ttrpc::Server* server,
                                                                    const AgentAddress& address,
                                                                    Options options) {
  UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return ErrnoStatus(errno, "eventfd");
  std::unique_ptr<ChannelServer> self(
      new ChannelServer(server, std::move(options), std::move(wake)));
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
  absl::StatusOr<UniqueFd> fd = self->options_.open_device(self->endpoint_);
  if (!fd.ok()) return AnnotateStatus(fd.status(), address.text);
  self->loop_ = std::thread(&ChannelServer::ServeLoop, self.get(), *std::move(fd));
  return self;
}

ChannelServer::~ChannelServer() { Stop(); }

void ChannelServer::Stop() {
  if (!stopping_.exchange(true)) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_.get(), &one, sizeof(one));
    (void)ignored;
  }
  if (loop_.joinable() && loop_.get_id() != std::this_thread::get_id()) loop_.join();
}

bool ChannelServer::Wait(absl::Duration d) {
  struct pollfd p = {wake_.get(), POLLIN, 0};
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(d));
  RetryEintr([&] { return poll(&p, 1, ms); });
  return !stopping_.load();
}

void ChannelServer::ServeLoop(UniqueFd device) {
  absl::Duration backoff = options_.min_backoff;
  bool reported_open_error = false;
  while (!stopping_.load()) {
    if (!device) {
      // The previous session's fd may still be open while its cancelled calls finish
      // (a virtio-serial port opens once at a time: EBUSY), so failures are retried.
      absl::StatusOr<UniqueFd> fd = options_.open_device(endpoint_);
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
      device = *std::move(fd);
    }
    // The server reads the device itself; it tells us when the host has gone (EOF).
    auto ended = std::make_shared<absl::Notification>();
    // The server owns the descriptor from here.
    absl::Status served = server_->ServeFd(device.release(), [ended] { ended->Notify(); });
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
}

}  // namespace agent
}  // namespace kata
