#include "src/libs/ttrpc/server.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/address.h"
#include "src/libs/ttrpc/channel.h"
#include "src/libs/ttrpc/internal/wire.h"
#include "src/libs/ttrpc/internal/worker_pool.h"
#include "src/libs/ttrpc/status.h"

namespace kata {
namespace ttrpc {
namespace internal {

constexpr size_t kReadBufferSize = 64 << 10;

// One call on the server: what the handler sees through ServerContext, plus the state the
// connection's reader shares with it (cancellation, client-stream messages).
class ServerCall {
 public:
  std::shared_ptr<ServerConnection> connection;
  uint32_t stream_id = 0;
  ::ttrpc::Request request;
  std::vector<std::pair<std::string, std::string>> metadata;
  absl::Time deadline = absl::InfiniteFuture();
  Service* service = nullptr;
  const Method* method = nullptr;
  std::string response_payload;
  bool more_coming = false;  // more answers follow at once: let the channel batch them

  absl::Mutex mu;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  std::deque<std::string> inbox ABSL_GUARDED_BY(mu);
  bool remote_closed ABSL_GUARDED_BY(mu) = true;
};

class ServerConnection : public std::enable_shared_from_this<ServerConnection> {
 public:
  enum class ReadEnd { kEnded, kHandedOff };

  ServerConnection(Server* server, int fd)
      : server_(server), channel_(fd), buffer_(new char[kReadBufferSize]) {}

  Channel& channel() { return channel_; }

  // Set before the first reader starts; run once, by the reader that sees the end.
  void set_on_closed(std::function<void()> f) { on_closed_ = std::move(f); }
  void RunOnClosed() {
    if (on_closed_) std::exchange(on_closed_, nullptr)();
  }

  // Holds the reader role: reads, and runs the unary requests it read itself, in order (no
  // thread hand-off on the fast path). If a handler is slow, the server's watchdog hands
  // the role (and the requests queued behind it) to a new reader thread (TryHandOff), and
  // this one returns kHandedOff once its handler is done.
  ReadEnd ReadLoop() {
    for (;;) {
      std::shared_ptr<ServerCall> next;
      uint64_t seq = 0;
      {
        absl::MutexLock lock(&role_mu_);
        if (!queue_.empty()) {
          next = std::move(queue_.front());
          queue_.pop_front();
          next->more_coming = !queue_.empty();
          inline_running_ = true;
          seq = ++inline_seq_;
        }
      }
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
      bool handed_off;
      {
        absl::MutexLock lock(&role_mu_);
        handed_off = handed_off_.erase(seq) > 0;
        // After a hand-off the new reader owns inline_running_.
        if (!handed_off) inline_running_ = false;
      }
      if (handed_off) {
        // Our answer may have been held back for a batch the new reader has finished.
        channel_.Flush().IgnoreError();
        return ReadEnd::kHandedOff;
      }
    }
  }

  // For the watchdog: the number of the call the current reader runs now (0 if none).
  uint64_t InlineCall() {
    absl::MutexLock lock(&role_mu_);
    return inline_running_ ? inline_seq_ : 0;
  }

  // For the watchdog: if the current reader still runs call `seq`, that reader gives up the
  // role (it returns once the call is done) and true is returned: the caller must start a
  // new reader, or call UndoHandOff.
  bool TryHandOff(uint64_t seq) {
    absl::MutexLock lock(&role_mu_);
    if (!inline_running_ || inline_seq_ != seq) return false;
    handed_off_.insert(seq);
    inline_running_ = false;
    return true;
  }

  void UndoHandOff(uint64_t seq) {
    absl::MutexLock lock(&role_mu_);
    if (handed_off_.erase(seq) == 0) return;
    if (inline_seq_ == seq) inline_running_ = true;
  }

  void Close() {
    channel_.Shutdown();
    CancelAll();
  }

  static void Execute(const std::shared_ptr<ServerCall>& call) {
    ServerContext context(call.get());
    absl::Status status = call->method->handler(*call->service, context);
    call->connection->Finish(call, std::move(status));
    call->connection->server_->CallFinished();
  }

  // FrameDecoder sink.
  void OnFrame(const FrameHeader& h, absl::string_view data) {
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

  void OnOversized(const FrameHeader& h) {
    Respond(h.stream_id, absl::ResourceExhaustedError(absl::StrCat(
                             "ttrpc: message length ", h.length, " exceeds maximum message size of ",
                             kMaxFrameData)),
            "");
  }

  void Finish(const std::shared_ptr<ServerCall>& call, absl::Status status) {
    if (status.ok() && call->response_payload.size() > kMaxFrameData - 64) {
      status = absl::ResourceExhaustedError(absl::StrCat(
          "ttrpc: ", call->request.service(), "/", call->request.method(), ": response of ",
          call->response_payload.size(), " bytes exceeds the maximum message size"));
      call->response_payload.clear();
    }
    Respond(call->stream_id, status, status.ok() ? absl::string_view(call->response_payload) : absl::string_view(),
            call->more_coming);
    {
      absl::MutexLock lock(&mu_);
      calls_.erase(call->stream_id);
    }
  }

 private:
  void OnRequest(const FrameHeader& h, absl::string_view data) {
    auto call = std::make_shared<ServerCall>();
    if (!call->request.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      Respond(h.stream_id, absl::InvalidArgumentError("ttrpc: cannot parse request"), "");
      return;
    }
    if (h.stream_id % 2 != 1) {
      Respond(h.stream_id,
              absl::InvalidArgumentError("ttrpc: stream id must be odd for client initiated streams"),
              "");
      return;
    }
    if (server_->stopping_.load(std::memory_order_acquire)) {
      Respond(h.stream_id, absl::UnavailableError("ttrpc: server is shutting down"), "");
      return;
    }
    Service* service = nullptr;
    const Method* method = server_->FindMethod(call->request.service(), call->request.method(),
                                               &service);
    if (method == nullptr) {
      Respond(h.stream_id,
              absl::UnimplementedError(
                  service == nullptr
                      ? absl::StrCat("ttrpc: unknown service ", call->request.service())
                      : absl::StrCat("ttrpc: unknown method ", call->request.service(), "/",
                                     call->request.method())),
              "");
      return;
    }
    call->connection = shared_from_this();
    call->stream_id = h.stream_id;
    call->service = service;
    call->method = method;
    if (call->request.timeout_nano() > 0) {
      call->deadline = absl::Now() + absl::Nanoseconds(call->request.timeout_nano());
    }
    call->metadata.reserve(static_cast<size_t>(call->request.metadata_size()));
    for (const auto& kv : call->request.metadata()) call->metadata.emplace_back(kv.key(), kv.value());
    {
      absl::MutexLock lock(&call->mu);
      call->remote_closed = (h.flags & kFlagRemoteOpen) == 0;
      if ((method->kind == MethodKind::kClientStreaming ||
           method->kind == MethodKind::kBidiStreaming) &&
          !call->request.payload().empty()) {
        call->inbox.push_back(call->request.payload());
      }
    }
    bool duplicate;
    {
      absl::MutexLock lock(&mu_);
      duplicate = !calls_.emplace(h.stream_id, call).second;
    }
    if (duplicate) {
      Respond(h.stream_id, absl::InvalidArgumentError(absl::StrCat(
                               "ttrpc: stream ", h.stream_id, " is already in use")),
              "");
      return;
    }
    server_->CallStarted();
    if (method->kind == MethodKind::kUnary) {
      absl::MutexLock lock(&role_mu_);
      queue_.push_back(std::move(call));  // run by the reader (see ReadLoop)
    } else {
      // A streaming handler needs the reader to keep reading its stream's Data.
      server_->pool_->Submit([call] { Execute(call); });
    }
  }

  void OnData(const FrameHeader& h, absl::string_view data) {
    std::shared_ptr<ServerCall> call;
    {
      absl::MutexLock lock(&mu_);
      auto it = calls_.find(h.stream_id);
      if (it == calls_.end()) return;
      call = it->second;
    }
    absl::MutexLock lock(&call->mu);
    if (call->remote_closed) return;  // data after the client closed its side: ignored
    constexpr size_t kMaxInbox = 4096;  // messages a handler has not read yet
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

  void Respond(uint32_t stream_id, const absl::Status& status, absl::string_view payload,
               bool more_coming = false) {
    ::ttrpc::Response response;
    // A success carries only the payload (as Go's server writes it).
    if (!status.ok()) StatusToProto(status, response.mutable_status());
    std::string bytes = response.SerializeAsString();
    internal::AppendBytesField(2, payload, &bytes);  // Response.payload, copied once
    if (bytes.size() > kMaxFrameData) {
      // Never send a peer an over-limit frame (Go's client 1.1.1 crashes on one).
      response.Clear();
      StatusToProto(absl::ResourceExhaustedError("ttrpc: the answer exceeds the maximum message size"),
                    response.mutable_status());
      bytes = response.SerializeAsString();
    }
    FrameHeader h;
    h.stream_id = stream_id;
    h.type = static_cast<uint8_t>(MessageType::kResponse);
    // A failed write means the connection is gone; its reader notices and cleans up.
    channel_.WriteFrame(h, bytes, more_coming).IgnoreError();
  }

  void CancelAll() {
    absl::flat_hash_map<uint32_t, std::shared_ptr<ServerCall>> calls;
    {
      absl::MutexLock lock(&mu_);
      calls = calls_;
    }
    for (auto& [id, call] : calls) {
      absl::MutexLock lock(&call->mu);
      call->cancelled = true;
    }
  }

  Server* const server_;
  Channel channel_;
  std::function<void()> on_closed_;
  absl::Mutex mu_;
  absl::flat_hash_map<uint32_t, std::shared_ptr<ServerCall>> calls_ ABSL_GUARDED_BY(mu_);

  // Owned by the thread holding the reader role.
  FrameDecoder decoder_;
  std::unique_ptr<char[]> buffer_;

  absl::Mutex role_mu_;
  std::deque<std::shared_ptr<ServerCall>> queue_ ABSL_GUARDED_BY(role_mu_);  // unary, read
  // The current reader runs call number inline_seq_ (numbers start at 1).
  bool inline_running_ ABSL_GUARDED_BY(role_mu_) = false;
  uint64_t inline_seq_ ABSL_GUARDED_BY(role_mu_) = 0;
  // The calls whose readers were told to give up the role (several may still be running: a
  // new reader can be handed off before an older one's call returns).
  absl::flat_hash_set<uint64_t> handed_off_ ABSL_GUARDED_BY(role_mu_);
};

}  // namespace internal

using internal::ServerCall;

// ServerContext -------------------------------------------------------------------------

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
  call_->mu.AwaitWithDeadline(absl::Condition(&call_->cancelled),
                              std::min(until, call_->deadline));
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

absl::Status ServerContext::WriteMessage(absl::string_view message) {
  if (cancelled()) return absl::CancelledError("ttrpc: call cancelled");
  FrameHeader h;
  h.stream_id = call_->stream_id;
  h.type = static_cast<uint8_t>(MessageType::kData);
  return call_->connection->channel().WriteFrame(h, message);
}

// Server ----------------------------------------------------------------------------------

Server::Server() : Server(Options()) {}

Server::Server(Options options)
    : options_(options),
      pool_(std::make_unique<internal::WorkerPool>(options.max_workers,
                                                   options.idle_worker_timeout)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

Server::~Server() {
  // Not graceful: calls still running are cancelled at once.
  Shutdown(absl::ZeroDuration());
  if (wake_fd_ >= 0) close(wake_fd_);
}

absl::Status Server::Register(Service* service) {
  std::string name(service->ServiceName());
  Registered reg{service, {}};
  for (const Method& m : service->Methods()) reg.methods.emplace(m.name, &m);
  if (!services_.emplace(name, std::move(reg)).second) {
    return absl::AlreadyExistsError(absl::StrCat("ttrpc: service ", name, " is already registered"));
  }
  return absl::OkStatus();
}

const Method* Server::FindMethod(absl::string_view service, absl::string_view method,
                                 Service** out) const {
  auto it = services_.find(service);
  if (it == services_.end()) return nullptr;
  *out = it->second.service;
  auto m = it->second.methods.find(method);
  return m == it->second.methods.end() ? nullptr : m->second;
}

absl::Status Server::Listen(absl::string_view address) {
  absl::StatusOr<Address> parsed = ParseAddress(address);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<int> fd = ttrpc::Listen(*parsed);
  if (!fd.ok()) return fd.status();
  return ListenFd(*fd);
}

absl::Status Server::ListenFd(int listen_fd) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) {
    close(listen_fd);
    return absl::FailedPreconditionError("ttrpc: server is shut down");
  }
  listen_fds_.push_back(listen_fd);
  accept_threads_.emplace_back(&Server::AcceptLoop, this, listen_fd);
  return absl::OkStatus();
}

void Server::AcceptLoop(int listen_fd) {
  for (;;) {
    // Wait for a connection or for Shutdown (shutdown() does not wake accept() on every
    // socket family: vsock ignores it).
    struct pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents & POLLIN) return;
    if (!(fds[0].revents & POLLIN)) {
      if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return;
      continue;
    }
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        absl::SleepFor(absl::Milliseconds(50));
        if (!stopping_.load()) continue;
      }
      return;  // shut down (or the socket is unusable)
    }
    if (!ServeFd(fd).ok()) return;
  }
}

absl::Status Server::ServeFd(int fd, std::function<void()> on_closed) {
  std::vector<std::thread> to_join;
  {
    absl::MutexLock lock(&mu_);
    to_join.swap(finished_readers_);
    if (shutting_down_) {
      close(fd);
      return absl::FailedPreconditionError("ttrpc: server is shut down");
    }
    auto connection = std::make_shared<internal::ServerConnection>(this, fd);
    connections_.insert(connection);
    if (!SpawnReader(connection, std::move(on_closed))) {
      connections_.erase(connection);
      return absl::ResourceExhaustedError("ttrpc: cannot start a thread for a connection");
    }
  }
  for (std::thread& t : to_join) t.join();
  return absl::OkStatus();
}

bool Server::SpawnReader(std::shared_ptr<internal::ServerConnection> connection,
                         std::function<void()> on_closed) {
  if (on_closed) connection->set_on_closed(std::move(on_closed));
  std::thread t;
  try {
    t = std::thread([this, connection] {
    const auto end = connection->ReadLoop();
    if (end == internal::ServerConnection::ReadEnd::kEnded) connection->RunOnClosed();
    absl::MutexLock lock(&mu_);
    auto self = readers_.find(std::this_thread::get_id());
    if (self != readers_.end()) {
      finished_readers_.push_back(std::move(self->second));
      readers_.erase(self);
    }
    if (end == internal::ServerConnection::ReadEnd::kEnded) connections_.erase(connection);
  });
  } catch (const std::system_error&) {
    return false;  // out of threads: the caller copes
  }
  const std::thread::id id = t.get_id();
  readers_.emplace(id, std::move(t));
  return true;
}

void Server::NoteInlineCall() {
  if (watchdog_active_.load()) return;
  absl::MutexLock lock(&mu_);
  if (watchdog_active_.load() || watchdog_stop_) return;
  watchdog_active_.store(true);
  if (!watchdog_.joinable()) watchdog_ = std::thread(&Server::WatchdogLoop, this);
}

// Hands the reader role of a connection whose inline handler has run for a whole tick to a
// new thread, so one slow call (WaitProcess, a read that blocks) never stalls the calls
// behind it. Ticks only while inline calls happen; otherwise it sleeps.
void Server::WatchdogLoop() {
  constexpr absl::Duration kTick = absl::Milliseconds(2);
  constexpr int kIdleTicks = 50;
  absl::flat_hash_map<internal::ServerConnection*, uint64_t> seen;
  int idle = 0;
  absl::MutexLock lock(&mu_);
  for (;;) {
    // It keeps working while Shutdown waits for calls, so a call stuck in a handler does
    // not keep the calls behind it from being refused.
    auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return watchdog_stop_ || watchdog_active_.load();
    };
    mu_.Await(absl::Condition(&wake));
    if (watchdog_stop_) return;
    mu_.AwaitWithTimeout(absl::Condition(&watchdog_stop_), kTick);
    if (watchdog_stop_) return;
    bool any = false;
    absl::flat_hash_map<internal::ServerConnection*, uint64_t> now;
    for (const auto& c : connections_) {
      const uint64_t seq = c->InlineCall();
      if (seq == 0) continue;
      any = true;
      auto it = seen.find(c.get());
      // Threads beyond one reader per connection are bounded by max_workers: past that,
      // calls wait behind the slow one.
      const bool room = static_cast<int>(readers_.size() - connections_.size()) <
                        options_.max_workers;
      if (it != seen.end() && it->second == seq && room) {
        if (c->TryHandOff(seq) && !SpawnReader(c)) c->UndoHandOff(seq);
        continue;
      }
      now[c.get()] = seq;
    }
    seen.swap(now);
    if (!finished_readers_.empty()) {
      std::vector<std::thread> done;
      done.swap(finished_readers_);
      mu_.Unlock();
      for (std::thread& t : done) t.join();
      mu_.Lock();
    }
    idle = any ? 0 : idle + 1;
    if (idle >= kIdleTicks) {
      // Going to sleep: a reader that starts an inline call from now on wakes us (it sees
      // watchdog_active_ false); one that started before is caught by this last look.
      watchdog_active_.store(false);
      for (const auto& c : connections_) {
        if (c->InlineCall() != 0) {
          watchdog_active_.store(true);
          break;
        }
      }
      idle = 0;
    }
  }
}

void Server::CallStarted() {
  absl::MutexLock lock(&mu_);
  ++in_flight_;
}

void Server::CallFinished() {
  absl::MutexLock lock(&mu_);
  --in_flight_;
}

int Server::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

void Server::Shutdown(absl::Duration grace) {
  std::vector<std::thread> accepts;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      mu_.Await(absl::Condition(&shut_down_));
      return;
    }
    shutting_down_ = true;
    stopping_.store(true, std::memory_order_release);
    // Stop accepting.
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
    accepts.swap(accept_threads_);
  }
  for (std::thread& t : accepts) t.join();

  std::vector<std::shared_ptr<internal::ServerConnection>> connections;
  {
    absl::MutexLock lock(&mu_);
    for (int fd : listen_fds_) close(fd);
    listen_fds_.clear();
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
    mu_.AwaitWithTimeout(absl::Condition(&idle), grace);
    connections.assign(connections_.begin(), connections_.end());
  }
  for (auto& c : connections) c->Close();
  connections.clear();

  std::vector<std::thread> readers;
  {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return in_flight_ == 0 && readers_.empty();
    };
    mu_.Await(absl::Condition(&done));
    readers.swap(finished_readers_);
    watchdog_stop_ = true;
  }
  for (std::thread& t : readers) t.join();
  if (watchdog_.joinable()) watchdog_.join();
  pool_->Stop();
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

void Server::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&shut_down_));
}

}  // namespace ttrpc
}  // namespace kata
