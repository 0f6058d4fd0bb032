#include "src/runtime/shim/agent_trace.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/trace/frame.h"
#include "src/runtime/shim/log.h"

namespace kata {
namespace shim {

// Reads at most this many buffers per readiness callback (the loop serves others between).
constexpr int kReadsPerCallback = 8;
constexpr size_t kReadBuffer = 64 * 1024;

struct AgentTraceReader::State {
  IoLoop* loop = nullptr;
  Sink sink;
  std::string path;
  UniqueFd fd;                  // the loop's own once watched
  trace::FrameDecoder decoder;  // the loop's own
  uint64_t logged_dropped = 0;  // the loop's own
  std::string buf;              // the loop's own read buffer (kReadBuffer once used)
  mutable absl::Mutex mu;
  bool ended ABSL_GUARDED_BY(mu) = false;
  uint64_t decoded ABSL_GUARDED_BY(mu) = 0;
  uint64_t dropped ABSL_GUARDED_BY(mu) = 0;

  // On the loop: reads what is there; at EOF or an error, stops.
  void OnReadable() {
    if (buf.empty()) buf.resize(kReadBuffer);
    for (int i = 0; i < kReadsPerCallback && fd; ++i) {
      const ssize_t n = read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {
        if (n < 0) SHIM_LOG(Warning) << "agent trace " << path << ": read: " << strerror(errno);
        End();
        return;
      }
      for (auto& r : decoder.Feed(absl::string_view(buf.data(), static_cast<size_t>(n)))) {
        sink(std::move(r));
      }
      if (decoder.dropped() != logged_dropped) {
        SHIM_LOG(Warning) << "agent trace " << path << ": dropped " << decoder.last_error() << " ("
                          << decoder.dropped() << " dropped so far)";
        logged_dropped = decoder.dropped();
      }
      absl::MutexLock lock(&mu);
      decoded = decoder.decoded();
      dropped = decoder.dropped();
    }
  }

  void End() {
    if (fd) {
      loop->Unwatch(fd.get());
      fd.reset();
    }
    absl::MutexLock lock(&mu);
    ended = true;
  }
};

absl::StatusOr<std::unique_ptr<AgentTraceReader>> AgentTraceReader::Start(const std::string& path,
                                                                          Sink sink, IoLoop& loop) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("agent trace socket ", path, ": too long"));
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoStatus(errno, "agent trace: socket");
  if (connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("agent trace: connect ", path));
  }
  auto state = std::make_shared<State>();
  state->loop = &loop;
  state->sink = std::move(sink);
  state->path = path;
  state->fd = std::move(fd);
  absl::Notification watched;
  absl::Status status;
  loop.Post([state, &watched, &status] {
    status = state->loop->Watch(state->fd.get(), EPOLLIN | EPOLLRDHUP,
                                [s = state.get()](uint32_t) { s->OnReadable(); });
    if (!status.ok()) state->fd.reset();
    watched.Notify();
  });
  watched.WaitForNotification();
  if (!status.ok()) return AnnotateStatus(status, absl::StrCat("agent trace ", path));
  return std::unique_ptr<AgentTraceReader>(new AgentTraceReader(std::move(state)));
}

AgentTraceReader::~AgentTraceReader() {
  absl::Notification done;
  state_->loop->Post([s = state_, &done] {
    s->End();
    done.Notify();
  });
  done.WaitForNotification();
}

bool AgentTraceReader::WaitEnd(absl::Duration timeout) {
  absl::MutexLock lock(&state_->mu);
  return state_->mu.AwaitWithTimeout(absl::Condition(&state_->ended), timeout);
}

uint64_t AgentTraceReader::decoded() const {
  absl::MutexLock lock(&state_->mu);
  return state_->decoded;
}

uint64_t AgentTraceReader::dropped() const {
  absl::MutexLock lock(&state_->mu);
  return state_->dropped;
}

}  // namespace shim
}  // namespace kata
