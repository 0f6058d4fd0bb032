// DebugConsole: where it is served (listen or a virtio-serial port) and the loops that wait
// for a host. One session at a time: session.cc.
#include "src/agent/debug_console/debug_console.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/agent/log/log.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/ttrpc/address.h"

namespace kata {
namespace agent {
namespace {

absl::StatusOr<UniqueFd> OpenDevice(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
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

DebugConsole::DebugConsole(Options options, UniqueFd wake)
    : options_(std::move(options)), wake_(std::move(wake)) {
  if (!options_.open_device) options_.open_device = OpenDevice;
}

absl::StatusOr<std::unique_ptr<DebugConsole>> DebugConsole::Start(const AgentAddress& address,
                                                                  Options options) {
  if (options.shell.empty()) return absl::InvalidArgumentError("debug console: no shell");
  UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return ErrnoStatus(errno, "debug console: eventfd");
  std::unique_ptr<DebugConsole> self(new DebugConsole(std::move(options), std::move(wake)));
  const std::string what = absl::StrCat("debug console ", address.text);
  switch (address.kind) {
    case AgentAddress::Kind::kListen: {
      absl::StatusOr<ttrpc::Address> a = ttrpc::ParseAddress(address.listen);
      if (!a.ok()) return AnnotateStatus(a.status(), what);
      absl::StatusOr<int> fd = ttrpc::Listen(*a);
      if (!fd.ok()) return AnnotateStatus(fd.status(), what);
      self->listen_fd_ = UniqueFd(*fd);
      const int flags = fcntl(*fd, F_GETFL);
      if (flags < 0 || fcntl(*fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        return ErrnoStatus(errno, absl::StrCat(what, ": O_NONBLOCK"));
      }
      self->endpoint_ = address.listen;
      self->loop_ = std::thread(&DebugConsole::ListenLoop, self.get());
      return self;
    }
    case AgentAddress::Kind::kSerialName: {
      absl::StatusOr<std::string> path = FindVirtioPort(address.serial, self->options_.roots);
      if (!path.ok()) return AnnotateStatus(path.status(), what);
      self->endpoint_ = *path;
      break;
    }
    case AgentAddress::Kind::kSerialPath:
      self->endpoint_ = address.serial;
      break;
  }
  absl::StatusOr<UniqueFd> device = self->options_.open_device(self->endpoint_);
  if (!device.ok()) return AnnotateStatus(device.status(), what);
  self->loop_ = std::thread(&DebugConsole::SerialLoop, self.get(), *std::move(device));
  return self;
}

DebugConsole::~DebugConsole() { Stop(); }

void DebugConsole::Stop() {
  if (!stopping_.exchange(true)) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_.get(), &one, sizeof(one));
    (void)ignored;
  }
  if (loop_.joinable() && loop_.get_id() != std::this_thread::get_id()) loop_.join();
}

bool DebugConsole::Wait(absl::Duration d) {
  struct pollfd p = {wake_.get(), POLLIN, 0};
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(d));
  RetryEintr([&] { return poll(&p, 1, ms); });
  return !stopping_.load();
}

void DebugConsole::ListenLoop() {
  while (!stopping_.load()) {
    struct pollfd p[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    RetryEintr([&] { return poll(p, 2, -1); });
    if (stopping_.load()) break;
    UniqueFd conn(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      Log(LogLevel::kWarn, "debug console: accept failed",
          {{"addr", endpoint_}, {"error", ErrnoStatus(errno, "accept").ToString()}});
      if (!Wait(options_.poll_interval)) break;
      continue;
    }
    if (RunSession(conn.get(), "") == End::kStopped) break;
  }
}

void DebugConsole::SerialLoop(UniqueFd device) {
  char buf[4096];
  bool reported = false;
  std::string first;  // what a host sent before its session began
  while (!stopping_.load()) {
    if (!device) {
      absl::StatusOr<UniqueFd> fd = options_.open_device(endpoint_);
      if (!fd.ok()) {
        if (!reported) {
          Log(LogLevel::kWarn, "debug console: cannot reopen the port; retrying",
              {{"device", endpoint_}, {"error", fd.status().ToString()}});
          reported = true;
        }
        if (!Wait(options_.poll_interval)) break;
        continue;
      }
      reported = false;
      device = *std::move(fd);
    }
    if (first.empty()) {
      // EOF: no host on the port. EAGAIN: a host is there and quiet.
      const ssize_t n = read(device.get(), buf, sizeof(buf));
      if (n == 0 || (n < 0 && errno == EINTR)) {
        if (!Wait(options_.poll_interval)) break;
        continue;
      }
      if (n < 0 && errno != EAGAIN) {
        Log(LogLevel::kWarn, "debug console: read failed; reopening",
            {{"device", endpoint_}, {"error", ErrnoStatus(errno, "read").ToString()}});
        device.reset();
        if (!Wait(options_.poll_interval)) break;
        continue;
      }
      if (n > 0) first.assign(buf, static_cast<size_t>(n));
    }
    const End end = RunSession(device.get(), first);
    first.clear();
    if (end == End::kStopped) break;
    if (end == End::kShellExited && !AwaitHostGone(device.get(), &first)) break;
  }
}

bool DebugConsole::AwaitHostGone(int fd, std::string* input) {
  char buf[4096];
  while (!stopping_.load()) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) return true;
    // A host that sends more than ^D (the end of the last client's stdin) is a new one whose
    // connection came before the old one's close was seen (both can reach the guest at once).
    if (n > 0 && absl::string_view(buf, static_cast<size_t>(n)).find_first_not_of('\x04') !=
                     absl::string_view::npos) {
      input->assign(buf, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return true;
    if (n <= 0) {  // quiet: a change of the port (the host going) wakes poll
      struct pollfd p[2] = {{fd, POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      const int ms = static_cast<int>(absl::ToInt64Milliseconds(options_.poll_interval));
      RetryEintr([&] { return poll(p, 2, ms); });
    }
  }
  return false;
}

}  // namespace agent
}  // namespace kata
