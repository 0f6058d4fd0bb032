// ServerContext and DeferredResponse (service.h): a handler's view of its call, over
// internal::ServerCall.
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/internal/server_connection.h"
#include "src/libs/ttrpc/service.h"

namespace kata {
namespace ttrpc {

using internal::DeferredCall;
using internal::ServerCall;
using internal::ServerConnection;

absl::string_view ServerContext::service() const { return call_->request.service(); }
absl::string_view ServerContext::method() const { return call_->request.method(); }
const std::vector<std::pair<std::string, std::string>>& ServerContext::metadata() const {
  return call_->metadata;
}
absl::string_view ServerContext::GetMetadata(absl::string_view key) const {
  for (const auto& [k, v] : call_->metadata) {
    if (k == key) return v;
  }
  return {};
}
absl::Time ServerContext::deadline() const { return call_->deadline; }
int64_t ServerContext::timeout_nano() const { return call_->request.timeout_nano(); }
absl::string_view ServerContext::request_payload() const { return call_->request.payload(); }
std::string* ServerContext::mutable_response_payload() { return &call_->response_payload; }

bool ServerContext::cancelled() const {
  if (absl::Now() >= call_->deadline) return true;
  absl::MutexLock lock(&call_->mu);
  return call_->cancelled;
}

absl::Status ServerContext::SleepFor(absl::Duration d) const {
  const absl::Time until = absl::Now() + d;
  absl::MutexLock lock(&call_->mu);
  call_->mu.AwaitWithDeadline(absl::Condition(&call_->cancelled), std::min(until, call_->deadline));
  if (call_->cancelled) return absl::CancelledError("ttrpc: call cancelled");
  if (absl::Now() >= call_->deadline && call_->deadline <= until) {
    return absl::DeadlineExceededError("ttrpc: deadline exceeded");
  }
  return absl::OkStatus();
}

bool ServerContext::ReadMessage(std::string* message) {
  ServerCall* c = call_;
  absl::MutexLock lock(&c->mu);
  auto ready = [c]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu) {
    return !c->inbox.empty() || c->remote_closed || c->cancelled;
  };
  c->mu.AwaitWithDeadline(absl::Condition(&ready), c->deadline);
  if (c->inbox.empty()) return false;
  *message = std::move(c->inbox.front());
  c->inbox.pop_front();
  return true;
}

DeferredResponse ServerContext::Defer(std::function<void()> on_cancel) {
  ServerCall* c = call_;
  if (c->method->kind != MethodKind::kUnary) return DeferredResponse();
  auto d = std::make_shared<DeferredCall>();
  absl::MutexLock lock(&c->mu);
  if (c->cancelled || c->was_deferred || absl::Now() >= c->deadline) return DeferredResponse();
  std::shared_ptr<ServerCall> self = c->shared_from_this();
  {
    absl::MutexLock dl(&d->mu);
    d->call = self;
    d->on_cancel = std::move(on_cancel);
  }
  c->was_deferred = true;
  c->deferred = d;
  // Under c->mu: a cancel that comes now finds the call deferred, and ends it after this.
  c->connection->NoteDeferred(self, c->deadline);
  return DeferredResponse(std::move(d));
}

DeferredResponse& DeferredResponse::operator=(DeferredResponse&& other) noexcept {
  if (this != &other) {
    DeferredResponse old(std::move(*this));
    call_ = std::move(other.call_);
  }
  return *this;
}

DeferredResponse::~DeferredResponse() {
  if (call_ == nullptr) return;
  ServerConnection::EndDeferred(
      *call_, ServerConnection::DeferredEnd::kFinished,
      absl::CancelledError("ttrpc: the handler dropped its deferred call unanswered"), "");
}

bool DeferredResponse::FinishRaw(const absl::Status& status, absl::string_view payload) {
  if (call_ == nullptr) return false;
  std::shared_ptr<DeferredCall> d = std::move(call_);
  call_ = nullptr;
  return ServerConnection::EndDeferred(*d, ServerConnection::DeferredEnd::kFinished, status,
                                       payload);
}

bool DeferredResponse::done() const {
  if (call_ == nullptr) return true;
  absl::MutexLock lock(&call_->mu);
  return call_->call == nullptr;
}

absl::Status ServerContext::WriteMessage(absl::string_view message) {
  if (cancelled()) return absl::CancelledError("ttrpc: call cancelled");
  FrameHeader h;
  h.stream_id = call_->stream_id;
  h.type = static_cast<uint8_t>(MessageType::kData);
  return call_->connection->channel().WriteFrame(h, message);
}

}  // namespace ttrpc
}  // namespace kata
