#include "src/libs/ttrpc/client.h"

#include <deque>
#include <utility>

#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/address.h"
#include "src/libs/ttrpc/status.h"

namespace kata {
namespace ttrpc {
namespace internal {

// What the reader thread hands to a waiting caller.
struct PendingCall {
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;  // the final Response (or a failure) arrived
  absl::Status status ABSL_GUARDED_BY(mu);
  std::string payload ABSL_GUARDED_BY(mu);
  std::deque<std::string> inbox ABSL_GUARDED_BY(mu);  // stream Data
  bool stream_ended ABSL_GUARDED_BY(mu) = false;       // Data with remote-closed

  void Complete(absl::Status s, std::string p) {
    absl::MutexLock lock(&mu);
    if (done) return;
    done = true;
    status = std::move(s);
    payload = std::move(p);
  }
};

}  // namespace internal

using internal::PendingCall;

namespace {

absl::Status Closed() { return absl::UnavailableError("ttrpc: connection closed"); }

absl::Status DeadlineError(absl::string_view what) {
  return absl::DeadlineExceededError(absl::StrCat("ttrpc: ", what, ": deadline exceeded"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Dial(absl::string_view address,
                                                     absl::Duration connect_timeout) {
  absl::StatusOr<Address> parsed = ParseAddress(address);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<int> fd = ttrpc::Dial(*parsed, connect_timeout);
  if (!fd.ok()) return fd.status();
  return std::make_unique<Client>(*fd);
}

Client::Client(int fd) : channel_(fd) { reader_ = std::thread(&Client::ReadLoop, this); }

Client::~Client() { Close(); }

void Client::Close() {
  channel_.Shutdown();
  if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) reader_.join();
}

void Client::ReadLoop() {
  channel_.ReadFrames(*this).IgnoreError();
  closed_.store(true, std::memory_order_release);
  channel_.Shutdown();
  absl::flat_hash_map<uint32_t, std::shared_ptr<PendingCall>> pending;
  {
    absl::MutexLock lock(&mu_);
    pending.swap(pending_);
  }
  for (auto& [id, call] : pending) call->Complete(Closed(), "");
}

void Client::OnFrame(const FrameHeader& h, absl::string_view data) {
  const auto type = static_cast<MessageType>(h.type);
  if (type == MessageType::kResponse) {
    std::shared_ptr<PendingCall> call;
    {
      absl::MutexLock lock(&mu_);
      auto it = pending_.find(h.stream_id);
      if (it == pending_.end()) return;  // a call that timed out or was abandoned
      call = std::move(it->second);
      pending_.erase(it);
    }
    ::ttrpc::Response response;
    if (!response.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      call->Complete(absl::InternalError("ttrpc: cannot parse response"), "");
      return;
    }
    absl::Status status = StatusFromProto(response.status());
    call->Complete(std::move(status), std::move(*response.mutable_payload()));
  } else if (type == MessageType::kData) {
    std::shared_ptr<PendingCall> call;
    {
      absl::MutexLock lock(&mu_);
      auto it = pending_.find(h.stream_id);
      if (it == pending_.end()) return;
      call = it->second;
    }
    absl::MutexLock lock(&call->mu);
    if ((h.flags & kFlagNoData) == 0) call->inbox.emplace_back(data);
    if (h.flags & kFlagRemoteClosed) call->stream_ended = true;
  }
}

void Client::OnOversized(const FrameHeader& h) {
  std::shared_ptr<PendingCall> call;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(h.stream_id);
    if (it == pending_.end()) return;
    call = std::move(it->second);
    pending_.erase(it);
  }
  call->Complete(absl::ResourceExhaustedError(absl::StrCat(
                     "ttrpc: response of ", h.length, " bytes exceeds the maximum of ",
                     kMaxFrameData)),
                 "");
}

absl::StatusOr<uint32_t> Client::Start(absl::string_view service, absl::string_view method,
                                       absl::string_view request, const CallOptions& options,
                                       uint8_t flags,
                                       const std::shared_ptr<PendingCall>& pending,
                                       absl::Time* deadline) {
  if (closed()) return Closed();
  ::ttrpc::Request req;
  req.set_service(std::string(service));
  req.set_method(std::string(method));
  req.set_payload(std::string(request));
  *deadline = absl::InfiniteFuture();
  if (options.timeout != absl::InfiniteDuration()) {
    if (options.timeout <= absl::ZeroDuration()) return DeadlineError(absl::StrCat(service, "/", method));
    *deadline = absl::Now() + options.timeout;
    req.set_timeout_nano(absl::ToInt64Nanoseconds(options.timeout));
  }
  for (const auto& [k, v] : options.metadata) {
    ::ttrpc::KeyValue* kv = req.add_metadata();
    kv->set_key(k);
    kv->set_value(v);
  }
  std::string bytes = req.SerializeAsString();
  if (bytes.size() > kMaxFrameData) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "ttrpc: ", service, "/", method, ": request of ", bytes.size(),
        " bytes exceeds the maximum message size of ", kMaxFrameData));
  }
  uint32_t id;
  {
    absl::MutexLock lock(&mu_);
    id = next_stream_id_;
    next_stream_id_ += 2;
    pending_.emplace(id, pending);
  }
  FrameHeader h;
  h.stream_id = id;
  h.type = static_cast<uint8_t>(MessageType::kRequest);
  h.flags = flags;
  absl::Status sent = channel_.WriteFrame(h, bytes);
  if (!sent.ok()) {
    Forget(id);
    return sent;
  }
  return id;
}

void Client::Forget(uint32_t stream_id) {
  absl::MutexLock lock(&mu_);
  pending_.erase(stream_id);
}

absl::StatusOr<std::string> Client::Call(absl::string_view service, absl::string_view method,
                                         absl::string_view request, const CallOptions& options) {
  auto pending = std::make_shared<PendingCall>();
  absl::Time deadline;
  absl::StatusOr<uint32_t> id = Start(service, method, request, options, 0, pending, &deadline);
  if (!id.ok()) return id.status();
  absl::MutexLock lock(&pending->mu);
  if (!pending->mu.AwaitWithDeadline(absl::Condition(&pending->done), deadline)) {
    Forget(*id);
    return DeadlineError(absl::StrCat(service, "/", method));
  }
  if (!pending->status.ok()) return pending->status;
  return std::move(pending->payload);
}

absl::StatusOr<std::unique_ptr<ClientStream>> Client::OpenStream(absl::string_view service,
                                                                 absl::string_view method,
                                                                 MethodKind kind,
                                                                 absl::string_view request,
                                                                 const CallOptions& options) {
  if (kind == MethodKind::kUnary) {
    return absl::InvalidArgumentError("ttrpc: OpenStream needs a streaming method kind");
  }
  const bool client_sends = kind != MethodKind::kServerStreaming;
  auto pending = std::make_shared<PendingCall>();
  absl::Time deadline;
  absl::StatusOr<uint32_t> id =
      Start(service, method, request, options,
            client_sends ? kFlagRemoteOpen : kFlagRemoteClosed, pending, &deadline);
  if (!id.ok()) return id.status();
  return std::unique_ptr<ClientStream>(
      new ClientStream(this, *id, std::move(pending), deadline, !client_sends));
}

// ClientStream ----------------------------------------------------------------------------

ClientStream::ClientStream(Client* client, uint32_t stream_id,
                           std::shared_ptr<PendingCall> pending, absl::Time deadline,
                           bool send_closed)
    : client_(client),
      stream_id_(stream_id),
      pending_(std::move(pending)),
      deadline_(deadline),
      send_closed_(send_closed) {}

ClientStream::~ClientStream() { client_->Forget(stream_id_); }

absl::Status ClientStream::Send(absl::string_view message) {
  if (send_closed_) return absl::FailedPreconditionError("ttrpc: stream already closed for sending");
  FrameHeader h;
  h.stream_id = stream_id_;
  h.type = static_cast<uint8_t>(MessageType::kData);
  return client_->channel_.WriteFrame(h, message);
}

absl::Status ClientStream::CloseSend() {
  if (send_closed_) return absl::OkStatus();
  send_closed_ = true;
  FrameHeader h;
  h.stream_id = stream_id_;
  h.type = static_cast<uint8_t>(MessageType::kData);
  h.flags = kFlagRemoteClosed | kFlagNoData;
  return client_->channel_.WriteFrame(h, "");
}

bool ClientStream::Recv(std::string* message) {
  PendingCall* p = pending_.get();
  absl::MutexLock lock(&p->mu);
  auto ready = [p]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu) {
    return !p->inbox.empty() || p->stream_ended || p->done;
  };
  p->mu.AwaitWithDeadline(absl::Condition(&ready), deadline_);
  if (p->inbox.empty()) return false;
  *message = std::move(p->inbox.front());
  p->inbox.pop_front();
  return true;
}

absl::StatusOr<std::string> ClientStream::Finish() {
  if (!send_closed_) {
    absl::Status s = CloseSend();
    if (!s.ok()) return s;
  }
  PendingCall* p = pending_.get();
  absl::MutexLock lock(&p->mu);
  if (!p->mu.AwaitWithDeadline(absl::Condition(&p->done), deadline_)) {
    return absl::DeadlineExceededError("ttrpc: stream: deadline exceeded");
  }
  if (!p->status.ok()) return p->status;
  return p->payload;
}

}  // namespace ttrpc
}  // namespace kata
