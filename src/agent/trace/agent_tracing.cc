#include "src/agent/trace/agent_tracing.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/agent/log/log.h"
#include "src/libs/base/status_util.h"
#include "src/libs/trace/frame.h"
#include "src/libs/trace/otlp.h"
#include "src/libs/ttrpc/address.h"

namespace kata {
namespace agent {
namespace {

int RemainingMs(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 60000));
}

short PollNow(int fd, short events) {
  struct pollfd p = {fd, events, 0};
  return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

}  // namespace

AgentTracing::AgentTracing(AgentAddress addr, ttrpc::Address socket, Options options)
    : addr_(std::move(addr)),
      socket_(std::move(socket)),
      options_(std::move(options)),
      tracer_({.enabled = true,
               .service_name = kAgentServiceName,
               .max_buffered = options_.max_buffered}) {}

absl::StatusOr<std::unique_ptr<AgentTracing>> AgentTracing::Start(const std::string& addr,
                                                                  Options options) {
  absl::StatusOr<AgentAddress> a = ParseAgentAddress(addr);
  if (!a.ok()) return AnnotateStatus(a.status(), "trace address");
  ttrpc::Address socket;
  if (a->kind == AgentAddress::Kind::kListen) {
    absl::StatusOr<ttrpc::Address> s = ttrpc::ParseAddress(a->listen);  // checked by the parse
    if (!s.ok()) return AnnotateStatus(s.status(), "trace address");
    socket = *std::move(s);
  }
  std::unique_ptr<AgentTracing> t(
      new AgentTracing(*std::move(a), std::move(socket), std::move(options)));
  t->thread_ = std::thread([p = t.get()] { p->Run(); });
  return t;
}

AgentTracing::~AgentTracing() { Stop(absl::ZeroDuration()); }

void AgentTracing::Stop(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      stopping_ = true;
      grace_ = grace;
    }
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t AgentTracing::sent() const {
  absl::MutexLock lock(&mu_);
  return sent_;
}

uint64_t AgentTracing::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_ + tracer_.dropped();
}

void AgentTracing::Drop(uint64_t spans) {
  absl::MutexLock lock(&mu_);
  dropped_ += spans;
}

void AgentTracing::LoseFrame() {
  Drop(pending_spans_);
  pending_.clear();
  pending_spans_ = 0;
  if (!serial()) fd_.reset();
}

void AgentTracing::Run() {
  for (;;) {
    bool stop = false;
    absl::Duration grace;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.flush_interval);
      stop = stopping_;
      grace = grace_;
    }
    if (stop) {
      Flush(absl::Now() + grace);
      break;
    }
    Flush(absl::Now() + options_.write_timeout);
  }
  // What the host did not take by now is lost.
  Drop(pending_spans_ + tracer_.TakeFinished().size());
  pending_.clear();
  Log(LogLevel::kInfo, "tracing stopped", {{"sent", sent()}, {"dropped", dropped()}});
}

bool AgentTracing::EnsureOpen() {
  if (!fd_) {
    UniqueFd f;
    if (serial()) {
      absl::StatusOr<std::string> dev = addr_.kind == AgentAddress::Kind::kSerialName
                                            ? FindVirtioPort(addr_.serial, options_.roots)
                                            : absl::StatusOr<std::string>(addr_.serial);
      if (!dev.ok()) return false;
      f = UniqueFd(open(dev->c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
      if (!f) return false;
    } else {
      absl::StatusOr<int> s = ttrpc::Dial(socket_, absl::ZeroDuration());
      if (!s.ok()) return false;
      f = UniqueFd(*s);
      fcntl(f.get(), F_SETFL, fcntl(f.get(), F_GETFL) | O_NONBLOCK);
    }
    fd_ = std::move(f);
    Log(LogLevel::kDebug, "tracing to the host", {{"addr", addr_.text}});
  }
  // A virtio-serial port with no host reads POLLHUP: the spans wait for one. A socket whose
  // host went away is closed and dialed again next time.
  if ((PollNow(fd_.get(), POLLOUT) & (POLLHUP | POLLERR)) != 0) {
    LoseFrame();
    return false;
  }
  return true;
}

bool AgentTracing::WritePending(absl::Time deadline) {
  while (!pending_.empty()) {
    const ssize_t n = write(fd_.get(), pending_.data(), pending_.size());
    if (n > 0) {
      pending_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      const int ms = RemainingMs(deadline);
      if (ms == 0) return false;  // kept: the next flush goes on with it
      struct pollfd p = {fd_.get(), POLLOUT, 0};
      const int r = poll(&p, 1, ms);
      if (r == 0) return false;  // timed out: kept
      if (r < 0 || (p.revents & (POLLHUP | POLLERR)) == 0) continue;
    }
    // The host went away (or a write error): the frame is lost; a socket is dialed again.
    LoseFrame();
    return false;
  }
  absl::MutexLock lock(&mu_);
  sent_ += pending_spans_;
  pending_spans_ = 0;
  return true;
}

void AgentTracing::Flush(absl::Time deadline) {
  if (!EnsureOpen()) return;  // the spans wait in the Tracer (bounded)
  if (!pending_.empty() && !WritePending(deadline)) return;
  std::vector<trace::SpanData> spans = tracer_.TakeFinished();
  for (size_t i = 0; i < spans.size(); i += options_.spans_per_frame) {
    const size_t end = std::min(spans.size(), i + options_.spans_per_frame);
    if (!pending_.empty() || !fd_) {  // an earlier frame is stuck: these are lost
      Drop(end - i);
      continue;
    }
    std::vector<trace::SpanData> chunk(std::make_move_iterator(spans.begin() + i),
                                       std::make_move_iterator(spans.begin() + end));
    absl::StatusOr<std::string> frame =
        trace::EncodeFrame(trace::ToExportRequest(kAgentServiceName, chunk));
    if (!frame.ok()) {
      Drop(chunk.size());
      continue;
    }
    pending_ = *std::move(frame);
    pending_spans_ = chunk.size();
    WritePending(deadline);
  }
}

}  // namespace agent
}  // namespace kata
