#include "src/libs/ttrpc/internal/server_connection.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "src/libs/ttrpc/internal/wire.h"
#include "src/libs/ttrpc/internal/worker_pool.h"
#include "src/libs/ttrpc/status.h"

namespace kata {
namespace ttrpc {
namespace internal {
namespace {

constexpr size_t kReadBufferSize = 64 << 10;
constexpr size_t kMaxInbox = 4096;  // client-stream messages a handler has not read yet

}  // namespace

ServerCall::~ServerCall() {
  if (counted_by_ != nullptr) counted_by_->CallFinished();
}

void ServerCall::CountIn(Server* server) {
  server->CallStarted();
  counted_by_ = server;
}

void ServerCall::EndCount() {
  if (counted_by_ != nullptr) std::exchange(counted_by_, nullptr)->CallFinished(true);
}

ServerConnection::ServerConnection(Server* server, UniqueFd fd)
    : server_(server),
      channel_(std::move(fd), server->options_.write_stall_timeout),
      buffer_(new char[kReadBufferSize]) {}

ServerConnection::ReadEnd ServerConnection::ReadLoop() {
  for (;;) {
    uint64_t seq = 0;
    std::shared_ptr<ServerCall> next = TakeQueued(&seq);
    if (next == nullptr) {
      channel_.Flush().IgnoreError();  // answers held back for a batch
      long n = channel_.ReadSome(buffer_.get(), kReadBufferSize);
      if (n <= 0) {
        // The stream ended or broke: whatever is still running cannot be answered.
        Close();
        return ReadEnd::kEnded;
      }
      decoder_.Feed(absl::string_view(buffer_.get(), static_cast<size_t>(n)), *this);
      continue;
    }
    server_->NoteInlineCall();
    Execute(next);
    next.reset();
    if (EndInlineCall(seq)) {
      // Our answer may have been held back for a batch the new reader has finished.
      channel_.Flush().IgnoreError();
      return ReadEnd::kHandedOff;
    }
  }
}

std::shared_ptr<ServerCall> ServerConnection::TakeQueued(uint64_t* seq) {
  absl::MutexLock lock(&role_mu_);
  if (queue_.empty()) return nullptr;
  std::shared_ptr<ServerCall> next = std::move(queue_.front());
  queue_.pop_front();
  next->more_coming = !queue_.empty();
  inline_running_ = true;
  *seq = ++inline_seq_;
  return next;
}

bool ServerConnection::EndInlineCall(uint64_t seq) {
  absl::MutexLock lock(&role_mu_);
  const bool handed_off = handed_off_.erase(seq) > 0;
  // After a hand-off the new reader owns inline_running_.
  if (!handed_off) inline_running_ = false;
  return handed_off;
}

uint64_t ServerConnection::InlineCall() {
  absl::MutexLock lock(&role_mu_);
  return inline_running_ ? inline_seq_ : 0;
}

bool ServerConnection::TryHandOff(uint64_t seq) {
  absl::MutexLock lock(&role_mu_);
  if (!inline_running_ || inline_seq_ != seq) return false;
  handed_off_.insert(seq);
  inline_running_ = false;
  return true;
}

void ServerConnection::UndoHandOff(uint64_t seq) {
  absl::MutexLock lock(&role_mu_);
  if (handed_off_.erase(seq) == 0) return;
  if (inline_seq_ == seq) inline_running_ = true;
}

void ServerConnection::Close() {
  channel_.Shutdown();
  CancelAll();
  std::deque<std::shared_ptr<ServerCall>> dropped;
  {
    absl::MutexLock lock(&role_mu_);
    dropped.swap(queue_);
  }
  // Freed here, with no lock held (a call's end takes the server's lock).
}

void ServerConnection::Execute(const std::shared_ptr<ServerCall>& call) {
  ServerContext context(call.get());
  const auto& wrapper = call->connection->server_->options_.call_wrapper;
  absl::Status status =
      wrapper ? wrapper(context, [&] { return call->method->handler(*call->service, context); })
              : call->method->handler(*call->service, context);
  {
    absl::MutexLock lock(&call->mu);
    if (call->was_deferred) return;  // answered by its DeferredResponse (or the server)
  }
  call->connection->Finish(call, std::move(status));
}

bool ServerConnection::EndDeferred(DeferredCall& d, DeferredEnd how, const absl::Status& status,
                                   absl::string_view payload) {
  std::shared_ptr<ServerCall> call;
  std::function<void()> on_cancel;
  {
    absl::MutexLock lock(&d.mu);
    call = std::move(d.call);
    d.call = nullptr;
    on_cancel = std::move(d.on_cancel);
    d.on_cancel = nullptr;
  }
  if (call == nullptr) return false;  // it had ended: exactly once
  {
    absl::MutexLock lock(&call->mu);
    call->deferred.reset();  // the caller holds `d`
    call->cancelled = true;
  }
  ServerConnection& connection = *call->connection;
  if (how == DeferredEnd::kDropped) {
    absl::MutexLock lock(&connection.mu_);
    connection.calls_.erase(call->stream_id);
  } else {
    connection.Answer(*call, status, payload);
  }
  call->EndCount();
  if (how != DeferredEnd::kFinished && on_cancel) on_cancel();
  return true;
}

void ServerConnection::ExpireDeferred(const std::shared_ptr<ServerCall>& call) {
  std::shared_ptr<DeferredCall> d;
  {
    absl::MutexLock lock(&call->mu);
    d = call->deferred;
  }
  if (d == nullptr) return;
  EndDeferred(
      *d, DeferredEnd::kDeadline,
      absl::DeadlineExceededError(absl::StrCat("ttrpc: ", call->request.service(), "/",
                                               call->request.method(), ": deadline exceeded")),
      "");
}

void ServerConnection::OnFrame(const FrameHeader& h, absl::string_view data) {
  switch (static_cast<MessageType>(h.type)) {
    case MessageType::kRequest:
      OnRequest(h, data);
      return;
    case MessageType::kData:
      OnData(h, data);
      return;
    default:
      return;  // Responses and unknown types from a client are ignored (as Go's server does).
  }
}

void ServerConnection::OnOversized(const FrameHeader& h) {
  Respond(
      h.stream_id,
      absl::ResourceExhaustedError(absl::StrCat(
          "ttrpc: message length ", h.length, " exceeds maximum message size of ", kMaxFrameData)),
      "");
}

void ServerConnection::OnRequest(const FrameHeader& h, absl::string_view data) {
  auto call = std::make_shared<ServerCall>();
  if (absl::Status refused = Accept(h, data, *call); !refused.ok()) {
    Respond(h.stream_id, refused, "");
    return;
  }
  bool duplicate;
  {
    absl::MutexLock lock(&mu_);
    auto [it, added] = calls_.emplace(h.stream_id, call);
    // An entry whose call is gone (it never ran) does not keep its stream id.
    duplicate = !added && !it->second.expired();
    if (!added && !duplicate) it->second = call;
  }
  if (duplicate) {
    Respond(h.stream_id,
            absl::InvalidArgumentError(
                absl::StrCat("ttrpc: stream ", h.stream_id, " is already in use")),
            "");
    return;
  }
  call->CountIn(server_);
  if (call->blocking) {
    // Never on the reader, never waiting for a thread: a pod's blocked calls (one wait and
    // two reads per process) must not stop the connection.
    if (!server_->blocking_pool_->TrySubmit([call] { Execute(call); })) {
      Finish(call, absl::ResourceExhaustedError(absl::StrCat(
                       "ttrpc: ", call->request.service(), "/", call->request.method(),
                       ": too many blocking calls at once (", server_->options_.max_blocking_calls,
                       ") or no thread to run it")));
    }
  } else if (call->method->kind == MethodKind::kUnary) {
    absl::MutexLock lock(&role_mu_);
    queue_.push_back(std::move(call));  // run by the reader (see ReadLoop)
  } else {
    // A streaming handler needs the reader to keep reading its stream's Data.
    server_->pool_->Submit([call] { Execute(call); });
  }
}

absl::Status ServerConnection::Accept(const FrameHeader& h, absl::string_view data,
                                      ServerCall& call) {
  if (!call.request.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return absl::InvalidArgumentError("ttrpc: cannot parse request");
  }
  if (h.stream_id % 2 != 1) {
    return absl::InvalidArgumentError("ttrpc: stream id must be odd for client initiated streams");
  }
  if (server_->stopping_.load(std::memory_order_acquire)) {
    return absl::UnavailableError("ttrpc: server is shutting down");
  }
  const ::ttrpc::Request& request = call.request;
  const Server::Found found =
      server_->FindMethod(request.service(), request.method(), &call.service);
  call.method = found.method;
  call.blocking = found.blocking;
  if (call.method == nullptr) {
    return absl::UnimplementedError(
        call.service == nullptr
            ? absl::StrCat("ttrpc: unknown service ", request.service())
            : absl::StrCat("ttrpc: unknown method ", request.service(), "/", request.method()));
  }
  call.connection = shared_from_this();
  call.stream_id = h.stream_id;
  if (request.timeout_nano() > 0) {
    call.deadline = absl::Now() + absl::Nanoseconds(request.timeout_nano());
  }
  call.metadata.reserve(static_cast<size_t>(request.metadata_size()));
  for (const auto& kv : request.metadata()) call.metadata.emplace_back(kv.key(), kv.value());
  absl::MutexLock lock(&call.mu);
  call.remote_closed = (h.flags & kFlagRemoteOpen) == 0;
  const MethodKind kind = call.method->kind;
  if ((kind == MethodKind::kClientStreaming || kind == MethodKind::kBidiStreaming) &&
      !request.payload().empty()) {
    call.inbox.push_back(request.payload());
  }
  return absl::OkStatus();
}

void ServerConnection::OnData(const FrameHeader& h, absl::string_view data) {
  std::shared_ptr<ServerCall> call;
  {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(h.stream_id);
    if (it == calls_.end()) return;
    call = it->second.lock();
  }
  if (call == nullptr) return;
  absl::MutexLock lock(&call->mu);
  if (call->remote_closed) return;  // data after the client closed its side: ignored
  if (call->inbox.size() >= kMaxInbox) {
    // The handler does not keep up (or does not read): end the call rather than buffer
    // without bound.
    call->cancelled = true;
    call->remote_closed = true;
    return;
  }
  if ((h.flags & kFlagNoData) == 0) call->inbox.emplace_back(data);
  if (h.flags & kFlagRemoteClosed) call->remote_closed = true;
}

void ServerConnection::Finish(const std::shared_ptr<ServerCall>& call, absl::Status status) {
  if (status.ok() && call->response_payload.size() > kMaxFrameData - 64) {
    status = absl::ResourceExhaustedError(absl::StrCat(
        "ttrpc: ", call->request.service(), "/", call->request.method(), ": response of ",
        call->response_payload.size(), " bytes exceeds the maximum message size"));
    call->response_payload.clear();
  }
  Respond(call->stream_id, status,
          status.ok() ? absl::string_view(call->response_payload) : absl::string_view(),
          call->more_coming);
  absl::MutexLock lock(&mu_);
  calls_.erase(call->stream_id);
}

void ServerConnection::Answer(const ServerCall& call, absl::Status status,
                              absl::string_view payload) {
  if (status.ok() && payload.size() > kMaxFrameData - 64) {
    status = absl::ResourceExhaustedError(
        absl::StrCat("ttrpc: ", call.request.service(), "/", call.request.method(),
                     ": response of ", payload.size(), " bytes exceeds the maximum message size"));
  }
  Respond(call.stream_id, status, status.ok() ? payload : absl::string_view());
  absl::MutexLock lock(&mu_);
  calls_.erase(call.stream_id);
}

void ServerConnection::Respond(uint32_t stream_id, const absl::Status& status,
                               absl::string_view payload, bool more_coming) {
  ::ttrpc::Response response;
  // A success carries only the payload (as Go's server writes it).
  if (!status.ok()) StatusToProto(status, response.mutable_status());
  std::string bytes = response.SerializeAsString();
  AppendBytesField(2, payload, &bytes);  // Response.payload, copied once
  if (bytes.size() > kMaxFrameData) {
    // Never send a peer an over-limit frame (Go's client 1.1.1 crashes on one).
    response.Clear();
    StatusToProto(
        absl::ResourceExhaustedError("ttrpc: the answer exceeds the maximum message size"),
        response.mutable_status());
    bytes = response.SerializeAsString();
  }
  FrameHeader h;
  h.stream_id = stream_id;
  h.type = static_cast<uint8_t>(MessageType::kResponse);
  // A failed write means the connection is gone; its reader notices and cleans up.
  channel_.WriteFrame(h, bytes, more_coming).IgnoreError();
}

void ServerConnection::CancelAll() {
  std::vector<std::shared_ptr<ServerCall>> calls;
  {
    absl::MutexLock lock(&mu_);
    calls.reserve(calls_.size());
    for (auto& [id, weak] : calls_) {
      if (std::shared_ptr<ServerCall> call = weak.lock()) calls.push_back(std::move(call));
    }
  }
  std::vector<std::shared_ptr<DeferredCall>> deferred;
  for (const auto& call : calls) {
    absl::MutexLock lock(&call->mu);
    call->cancelled = true;
    if (call->deferred != nullptr) deferred.push_back(call->deferred);
  }
  // Deferred calls end here: nothing can be sent any more; their owners are told.
  for (const auto& d : deferred) EndDeferred(*d, DeferredEnd::kDropped, absl::OkStatus(), "");
  // `calls` may hold the last references: they go here, with no lock held.
}

}  // namespace internal
}  // namespace ttrpc
}  // namespace kata
