#include "src/libs/ttrpc/client.h"

#include <errno.h>

#include <algorithm>
#include <deque>
#include <utility>

#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/address.h"
#include "src/libs/ttrpc/internal/wire.h"
#include "src/libs/ttrpc/status.h"

namespace kata {
namespace ttrpc {
namespace internal {

// One call's state; every member is guarded by its Client's mu_.
struct PendingCall {
  bool done = false;  // the final Response (or a failure) arrived
  absl::Status status;
  std::string payload;
  std::deque<std::string> inbox;  // stream Data
  bool stream_ended = false;      // Data with remote-closed

  void Complete(absl::Status s, std::string p) {
    if (done) return;
    done = true;
    status = std::move(s);
    payload = std::move(p);
  }
};

}  // namespace internal

using internal::PendingCall;

namespace {

constexpr size_t kReadBufferSize = 64 << 10;

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

Client::Client(int fd, absl::Duration write_stall_timeout)
    : channel_(UniqueFd(fd), write_stall_timeout), buffer_(new char[kReadBufferSize]) {}

Client::~Client() {
  Close();
  // Calls racing with destruction fail (Close) and must be out before members go.
  absl::MutexLock lock(&mu_);
  auto quiet = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !leading_ && active_ == 0; };
  mu_.Await(absl::Condition(&quiet));
}

// Counts a thread inside the client's methods, so the destructor can wait for it.
class Client::ActiveScope {
 public:
  explicit ActiveScope(Client* c) : c_(c) {
    absl::MutexLock lock(&c_->mu_);
    ++c_->active_;
  }
  ~ActiveScope() {
    absl::MutexLock lock(&c_->mu_);
    --c_->active_;
  }

 private:
  Client* c_;
};

void Client::Close() {
  channel_.Shutdown();  // wakes a leader blocked in read
  absl::MutexLock lock(&mu_);
  closed_.store(true, std::memory_order_release);
  FailAll(Closed());
}

void Client::FailAll(const absl::Status& status) {
  for (auto& [id, call] : pending_) call->Complete(status, "");
  pending_.clear();
}

void Client::OnFrame(const FrameHeader& h, absl::string_view data) {
  const auto type = static_cast<MessageType>(h.type);
  if (type == MessageType::kResponse) {
    ::ttrpc::Response response;
    const bool parsed = response.ParseFromArray(data.data(), static_cast<int>(data.size()));
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(h.stream_id);
    if (it == pending_.end()) return;  // a call that timed out or was abandoned
    std::shared_ptr<PendingCall> call = std::move(it->second);
    pending_.erase(it);
    if (!parsed) {
      call->Complete(absl::InternalError("ttrpc: cannot parse response"), "");
    } else {
      call->Complete(StatusFromProto(response.status()), std::move(*response.mutable_payload()));
    }
  } else if (type == MessageType::kData) {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(h.stream_id);
    if (it == pending_.end()) return;
    PendingCall* call = it->second.get();
    if ((h.flags & kFlagNoData) == 0) call->inbox.emplace_back(data);
    if (h.flags & kFlagRemoteClosed) call->stream_ended = true;
  }
}

void Client::OnOversized(const FrameHeader& h) {
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(h.stream_id);
  if (it == pending_.end()) return;
  it->second->Complete(
      absl::ResourceExhaustedError(absl::StrCat("ttrpc: response of ", h.length,
                                                " bytes exceeds the maximum of ", kMaxFrameData)),
      "");
  pending_.erase(it);
}

template <class Done>
void Client::Lead(absl::Time deadline, Done done) {
  while (!done() && !closed()) {
    mu_.Unlock();
    long n = channel_.ReadSome(buffer_.get(), kReadBufferSize, deadline);
    if (n > 0) decoder_.Feed(absl::string_view(buffer_.get(), static_cast<size_t>(n)), *this);
    mu_.Lock();
    if (n == -ETIMEDOUT) return;
    if (n <= 0) {  // end of stream, shut down, or broken
      closed_.store(true, std::memory_order_release);
      channel_.Shutdown();
      FailAll(Closed());
    }
  }
}

void Client::PassLeadership() {
  leading_ = false;
  while (!followers_.empty()) {
    PendingCall* next = followers_.front();
    followers_.pop_front();
    if (!next->done) {
      leading_ = true;  // reserved for `next`, which wakes on successor_ == next
      successor_ = next;
      return;
    }
  }
}

template <class Ready>
bool Client::WaitFor(PendingCall* p, absl::Time deadline, Ready ready) {
  for (;;) {
    if (ready()) return true;
    if (closed() && pending_.empty() && !leading_) return ready();
    if (!leading_) {
      leading_ = true;
      Lead(deadline, ready);
      PassLeadership();
      if (ready()) return true;
      if (absl::Now() >= deadline) return false;
      continue;
    }
    followers_.push_back(p);
    auto wake = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ready() || successor_ == p; };
    mu_.AwaitWithDeadline(absl::Condition(&wake), deadline);
    if (successor_ == p) {
      successor_ = nullptr;  // leading_ is already ours
      Lead(deadline, ready);
      PassLeadership();
      if (ready()) return true;
      if (absl::Now() >= deadline) return false;
      continue;
    }
    auto it = std::find(followers_.begin(), followers_.end(), p);
    if (it != followers_.end()) followers_.erase(it);
    if (ready()) return true;
    if (absl::Now() >= deadline) return false;
  }
}

absl::StatusOr<uint32_t> Client::Start(absl::string_view service, absl::string_view method,
                                       absl::string_view request, const CallOptions& options,
                                       uint8_t flags, const std::shared_ptr<PendingCall>& pending,
                                       absl::Time* deadline) {
  if (closed()) return Closed();
  ::ttrpc::Request req;
  req.set_service(std::string(service));
  req.set_method(std::string(method));
  *deadline = absl::InfiniteFuture();
  if (options.timeout != absl::InfiniteDuration()) {
    if (options.timeout <= absl::ZeroDuration()) {
      return DeadlineError(absl::StrCat(service, "/", method));
    }
    *deadline = absl::Now() + options.timeout;
    req.set_timeout_nano(absl::ToInt64Nanoseconds(options.timeout));
  }
  for (const auto& [k, v] : options.metadata) {
    ::ttrpc::KeyValue* kv = req.add_metadata();
    kv->set_key(k);
    kv->set_value(v);
  }
  std::string bytes = req.SerializeAsString();
  internal::AppendBytesField(3, request, &bytes);  // Request.payload, copied once
  if (bytes.size() > kMaxFrameData) {
    return absl::ResourceExhaustedError(
        absl::StrCat("ttrpc: ", service, "/", method, ": request of ", bytes.size(),
                     " bytes exceeds the maximum message size of ", kMaxFrameData));
  }
  uint32_t id;
  {
    absl::MutexLock lock(&mu_);
    if (closed()) return Closed();
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
  ActiveScope active(this);
  auto pending = std::make_shared<PendingCall>();
  absl::Time deadline;
  absl::StatusOr<uint32_t> id = Start(service, method, request, options, 0, pending, &deadline);
  if (!id.ok()) return id.status();
  PendingCall* p = pending.get();
  absl::MutexLock lock(&mu_);
  if (!WaitFor(p, deadline, [p]() { return p->done; })) {
    pending_.erase(*id);
    return DeadlineError(absl::StrCat(service, "/", method));
  }
  if (!p->status.ok()) return p->status;
  return std::move(p->payload);
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
  ActiveScope active(this);
  auto pending = std::make_shared<PendingCall>();
  absl::Time deadline;
  absl::StatusOr<uint32_t> id =
      Start(service, method, request, options, client_sends ? kFlagRemoteOpen : kFlagRemoteClosed,
            pending, &deadline);
  if (!id.ok()) return id.status();
  return std::unique_ptr<ClientStream>(
      new ClientStream(this, *id, std::move(pending), deadline, !client_sends));
}

// ClientStream ----------------------------------------------------------------------------

ClientStream::ClientStream(Client* client, uint32_t stream_id, std::shared_ptr<PendingCall> pending,
                           absl::Time deadline, bool send_closed)
    : client_(client),
      stream_id_(stream_id),
      pending_(std::move(pending)),
      deadline_(deadline),
      send_closed_(send_closed) {}

ClientStream::~ClientStream() { client_->Forget(stream_id_); }

absl::Status ClientStream::Send(absl::string_view message) {
  if (send_closed_) {
    return absl::FailedPreconditionError("ttrpc: stream already closed for sending");
  }
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
  Client::ActiveScope active(client_);
  PendingCall* p = pending_.get();
  absl::MutexLock lock(&client_->mu_);
  client_->WaitFor(p, deadline_, [p]() { return !p->inbox.empty() || p->stream_ended || p->done; });
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
  Client::ActiveScope active(client_);
  PendingCall* p = pending_.get();
  absl::MutexLock lock(&client_->mu_);
  if (!client_->WaitFor(p, deadline_, [p]() { return p->done; })) {
    return absl::DeadlineExceededError("ttrpc: stream: deadline exceeded");
  }
  if (!p->status.ok()) return p->status;
  return p->payload;
}

}  // namespace ttrpc
}  // namespace kata
