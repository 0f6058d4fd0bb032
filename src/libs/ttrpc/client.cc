#include "src/libs/ttrpc/client.h"

#include <errno.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <list>
#include <system_error>
#include <utility>

#include "absl/synchronization/notification.h"
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
  std::list<std::string> inbox;  // stream Data (a list: no allocation while empty)
  bool stream_ended = false;     // Data with remote-closed
  // An asynchronous call: its callback and deadline (InfiniteFuture: none).
  bool async = false;
  Client::Completion callback;
  absl::Time deadline = absl::InfiniteFuture();
  std::string what;  // "service/method", for the deadline's error
};

}  // namespace internal

using internal::PendingCall;

namespace {

constexpr size_t kReadBufferSize = 64 << 10;

// The client whose callbacks this thread runs: requests they start are queued and written
// together once the callbacks of one read have run.
thread_local const Client* t_dispatching = nullptr;

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
    : channel_(UniqueFd(fd), write_stall_timeout),
      interrupt_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      buffer_(new char[kReadBufferSize]) {
  channel_.set_reader_writes(true);
}

Client::~Client() {
  Close();
  std::thread reader;
  {
    absl::MutexLock lock(&mu_);
    reader.swap(reader_);
  }
  if (reader.joinable()) reader.join();
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
  ReadyList ready;
  FailAll(Closed(), &ready);
  RunReadyLocked(&ready);
}

void Client::FailAll(const absl::Status& status, ReadyList* ready) {
  std::vector<uint32_t> ids;
  ids.reserve(pending_.size());
  for (const auto& [id, call] : pending_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());  // callbacks run in the order the calls started
  for (uint32_t id : ids) CompleteLocked(id, status, "", ready);
}

void Client::CompleteLocked(uint32_t id, absl::Status status, std::string payload,
                            ReadyList* ready) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::shared_ptr<PendingCall> call = std::move(it->second);
  pending_.erase(it);
  if (call->done) return;
  call->done = true;
  if (!call->async) {
    call->status = std::move(status);
    call->payload = std::move(payload);
    return;
  }
  --async_pending_;
  if (call->deadline != absl::InfiniteFuture()) async_deadlines_.erase({call->deadline, id});
  absl::StatusOr<std::string> result = std::move(payload);
  if (!status.ok()) result = std::move(status);
  ready->push_back(Finished{std::move(call->callback), std::move(result)});
}

void Client::ExpireLocked(absl::Time now, ReadyList* ready) {
  while (!async_deadlines_.empty() && async_deadlines_.begin()->first <= now) {
    const uint32_t id = async_deadlines_.begin()->second;
    async_deadlines_.erase(async_deadlines_.begin());
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;
    it->second->deadline = absl::InfiniteFuture();  // already out of the index
    CompleteLocked(id, DeadlineError(it->second->what), "", ready);
  }
}

void Client::RunReadyLocked(ReadyList* ready) {
  if (ready->empty()) return;
  mu_.Unlock();
  const Client* outer = std::exchange(t_dispatching, this);
  for (Finished& r : *ready) std::move(r.done)(std::move(r.result));
  t_dispatching = outer;
  ready->clear();
  if (outer != this) (void)channel_.Flush();
  mu_.Lock();
}

void Client::OnFrame(const FrameHeader& h, absl::string_view data) {
  const auto type = static_cast<MessageType>(h.type);
  if (type == MessageType::kResponse) {
    ::ttrpc::Response response;
    const bool parsed = response.ParseFromArray(data.data(), static_cast<int>(data.size()));
    ReadyList ready;
    absl::MutexLock lock(&mu_);
    if (!parsed) {
      CompleteLocked(h.stream_id, absl::InternalError("ttrpc: cannot parse response"), "", &ready);
    } else {
      CompleteLocked(h.stream_id, StatusFromProto(response.status()),
                     std::move(*response.mutable_payload()), &ready);
    }
    RunReadyLocked(&ready);
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
  ReadyList ready;
  absl::MutexLock lock(&mu_);
  CompleteLocked(
      h.stream_id,
      absl::ResourceExhaustedError(absl::StrCat("ttrpc: response of ", h.length,
                                                " bytes exceeds the maximum of ", kMaxFrameData)),
      "", &ready);
  RunReadyLocked(&ready);
}

template <class Done>
void Client::Lead(absl::Time deadline, Done done, bool interruptible) {
  while (!done() && !closed()) {
    absl::Time read_deadline = deadline;
    if (interruptible && !async_deadlines_.empty()) {
      read_deadline = std::min(read_deadline, async_deadlines_.begin()->first);
    }
    reader_leads_ = interruptible;
    lead_read_deadline_ = read_deadline;
    mu_.Unlock();
    long n = channel_.ReadSome(buffer_.get(), kReadBufferSize, read_deadline,
                               interruptible ? interrupt_fd_.get() : -1);
    if (n > 0) {
      const Client* outer = std::exchange(t_dispatching, this);
      decoder_.Feed(absl::string_view(buffer_.get(), static_cast<size_t>(n)), *this);
      t_dispatching = outer;
      (void)channel_.Flush();  // the requests the callbacks started
    }
    mu_.Lock();
    reader_leads_ = false;
    ReadyList ready;
    if (n == -ETIMEDOUT || n == -EINTR) {
      ExpireLocked(absl::Now(), &ready);
      RunReadyLocked(&ready);
      if (absl::Now() >= deadline) return;
      continue;
    }
    if (n <= 0) {  // end of stream, shut down, or broken
      closed_.store(true, std::memory_order_release);
      channel_.Shutdown();
      absl::Status why = channel_.write_failure();
      FailAll(why.ok() ? Closed() : why, &ready);
      RunReadyLocked(&ready);
    }
  }
  // Frames queued for us while we read go out now (without mu_: a write may wait).
  mu_.Unlock();
  channel_.StopReading();
  mu_.Lock();
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

void Client::ReaderLoop() {
  absl::MutexLock lock(&mu_);
  while (!closed()) {
    if (async_pending_ > 0 && !leading_) {
      leading_ = true;
      Lead(
          absl::InfiniteFuture(),
          [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return async_pending_ == 0; },
          /*interruptible=*/true);
      PassLeadership();
      continue;
    }
    // A blocking caller reads (or nothing is in flight): keep the asynchronous deadlines.
    const uint64_t seen = deadlines_added_;
    auto wake = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closed() || (async_pending_ > 0 && !leading_) || deadlines_added_ != seen;
    };
    const absl::Time next =
        async_deadlines_.empty() ? absl::InfiniteFuture() : async_deadlines_.begin()->first;
    mu_.AwaitWithDeadline(absl::Condition(&wake), next);
    ReadyList ready;
    ExpireLocked(absl::Now(), &ready);
    RunReadyLocked(&ready);
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
  // ttrpc.Request written field by field (the same bytes its serialization gives; the
  // payload copied once, no message built).
  std::string bytes;
  bytes.reserve(service.size() + method.size() + request.size() + 32);
  internal::AppendBytesField(1, service, &bytes);
  internal::AppendBytesField(2, method, &bytes);
  internal::AppendBytesField(3, request, &bytes);
  *deadline = absl::InfiniteFuture();
  if (options.timeout != absl::InfiniteDuration()) {
    if (options.timeout <= absl::ZeroDuration()) {
      return DeadlineError(absl::StrCat(service, "/", method));
    }
    *deadline = absl::Now() + options.timeout;
    internal::AppendInt64Field(4, absl::ToInt64Nanoseconds(options.timeout), &bytes);
  }
  for (const auto& [k, v] : options.metadata) {
    std::string kv;
    internal::AppendBytesField(1, k, &kv);
    internal::AppendBytesField(2, v, &kv);
    internal::AppendLengthDelimited(5, kv, &bytes);
  }
  if (bytes.size() > kMaxFrameData) {
    return absl::ResourceExhaustedError(
        absl::StrCat("ttrpc: ", service, "/", method, ": request of ", bytes.size(),
                     " bytes exceeds the maximum message size of ", kMaxFrameData));
  }
  uint32_t id;
  {
    absl::MutexLock lock(&mu_);
    if (closed()) return Closed();
    if (pending->async && !reader_.joinable()) {
      try {
        reader_ = std::thread([this] { ReaderLoop(); });
      } catch (const std::system_error& e) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "ttrpc: ", service, "/", method, ": cannot start the reader thread: ", e.what()));
      }
    }
    id = next_stream_id_;
    next_stream_id_ += 2;
    pending_.emplace(id, pending);
    if (pending->async) RegisterAsyncLocked(id, *deadline, pending.get());
  }
  FrameHeader h;
  h.stream_id = id;
  h.type = static_cast<uint8_t>(MessageType::kRequest);
  h.flags = flags;
  absl::Status sent = channel_.WriteFrame(h, bytes, /*more_coming=*/t_dispatching == this);
  // An asynchronous call that a broken connection already failed has had its callback.
  if (!sent.ok() && (Forget(id) || !pending->async)) return sent;
  return id;
}

void Client::RegisterAsyncLocked(uint32_t id, absl::Time deadline, PendingCall* call) {
  ++async_pending_;
  if (deadline != absl::InfiniteFuture()) {
    call->deadline = deadline;
    async_deadlines_.emplace(deadline, id);
    ++deadlines_added_;  // wakes the idle reader thread
    if (reader_leads_ && deadline < lead_read_deadline_) {
      uint64_t one = 1;  // the reading reader thread rereads with this deadline
      (void)!write(interrupt_fd_.get(), &one, sizeof one);
    }
  }
}

bool Client::Forget(uint32_t stream_id) {
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(stream_id);
  if (it == pending_.end()) return false;
  PendingCall* call = it->second.get();
  if (call->async && !call->done) {
    --async_pending_;
    if (call->deadline != absl::InfiniteFuture()) {
      async_deadlines_.erase({call->deadline, stream_id});
    }
  }
  pending_.erase(it);
  return true;
}

absl::StatusOr<std::string> Client::Call(absl::string_view service, absl::string_view method,
                                         absl::string_view request, const CallOptions& options) {
  if (t_dispatching == this) {
    return absl::FailedPreconditionError(
        absl::StrCat("ttrpc: ", service, "/", method,
                     ": a blocking call from a callback of the same client would wait for itself"));
  }
  ActiveScope active(this);
  // The asynchronous call, waited for: the reader thread completes it. The caller keeps its
  // own deadline too, so a reader held up (writing others' requests to a peer that stopped
  // reading) never makes a timeout late.
  const absl::Time deadline = options.timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + options.timeout;
  absl::StatusOr<std::string> result;
  absl::Notification done;
  absl::StatusOr<CallId> id =
      CallAsync(service, method, request, options, [&](absl::StatusOr<std::string> r) {
        result = std::move(r);
        done.Notify();
      });
  if (!id.ok()) return id.status();
  // A prompt answer is waited for awake, for as long as the reader busy-polls (channel.h),
  // yielding to the other runnable threads (the reader among them): it costs no sleep and no
  // wake-up. A slower one is waited for asleep.
  const auto spin_until = std::chrono::steady_clock::now() +
                          std::chrono::nanoseconds(absl::ToInt64Nanoseconds(kDefaultBusyPollLimit));
  while (!done.HasBeenNotified() && std::chrono::steady_clock::now() < spin_until) sched_yield();
  if (!done.WaitForNotificationWithDeadline(deadline) && Cancel(*id)) {
    return DeadlineError(absl::StrCat(service, "/", method));  // Cancel ran the callback here
  }
  done.WaitForNotification();  // completed meanwhile: its callback runs (or ran) on the reader
  return result;
}

absl::StatusOr<Client::CallId> Client::CallAsync(absl::string_view service,
                                                 absl::string_view method,
                                                 absl::string_view request,
                                                 const CallOptions& options, Completion done) {
  auto pending = std::make_shared<PendingCall>();
  pending->async = true;
  pending->callback = std::move(done);
  if (options.timeout != absl::InfiniteDuration())
    pending->what = absl::StrCat(service, "/", method);
  absl::Time deadline;
  return Start(service, method, request, options, 0, pending, &deadline);
}

bool Client::Cancel(CallId id) {
  ReadyList ready;
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(id);
  if (it == pending_.end() || !it->second->async) return false;
  CompleteLocked(id, absl::CancelledError(absl::StrCat("ttrpc: call ", id, ": cancelled")), "",
                 &ready);
  RunReadyLocked(&ready);
  return true;
}

int Client::async_in_flight() const {
  absl::MutexLock lock(&mu_);
  return async_pending_;
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
