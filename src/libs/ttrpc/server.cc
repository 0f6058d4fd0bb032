#include "src/libs/ttrpc/server.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/libs/base/eintr.h"
#include "src/libs/ttrpc/address.h"
#include "src/libs/ttrpc/internal/server_connection.h"
#include "src/libs/ttrpc/internal/worker_pool.h"

namespace kata {
namespace ttrpc {

// Server ----------------------------------------------------------------------------------

Server::Server() : Server(Options()) {}

Server::Server(Options options)
    : options_(options),
      pool_(
          std::make_unique<internal::WorkerPool>(options.max_workers, options.idle_worker_timeout)),
      blocking_pool_(std::make_unique<internal::WorkerPool>(options.max_blocking_calls,
                                                            options.idle_worker_timeout)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

// Not graceful: calls still running are cancelled at once.
Server::~Server() { Shutdown(absl::ZeroDuration()); }

absl::Status Server::Register(Service* service) {
  std::string name(service->ServiceName());
  Registered reg{service, {}};
  for (const Method& m : service->Methods()) {
    reg.methods.emplace(m.name, Found{&m, service->IsBlocking(m.name)});
  }
  if (!services_.emplace(name, std::move(reg)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("ttrpc: service ", name, " is already registered"));
  }
  return absl::OkStatus();
}

Server::Found Server::FindMethod(absl::string_view service, absl::string_view method,
                                 Service** out) const {
  auto it = services_.find(service);
  if (it == services_.end()) return {};
  *out = it->second.service;
  auto m = it->second.methods.find(method);
  return m == it->second.methods.end() ? Found{} : m->second;
}

absl::Status Server::Listen(absl::string_view address) {
  absl::StatusOr<Address> parsed = ParseAddress(address);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<int> fd = ttrpc::Listen(*parsed);
  if (!fd.ok()) return fd.status();
  return ListenFd(*fd);
}

absl::Status Server::ListenFd(int listen_fd) {
  UniqueFd fd(listen_fd);
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::FailedPreconditionError("ttrpc: server is shut down");
  accept_threads_.emplace_back(&Server::AcceptLoop, this, fd.get());
  listen_fds_.push_back(std::move(fd));
  return absl::OkStatus();
}

void Server::AcceptLoop(int listen_fd) {
  for (;;) {
    // Wait for a connection or for Shutdown (shutdown() does not wake accept() on every
    // socket family: vsock ignores it).
    struct pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (RetryEintr([&] { return poll(fds, 2, -1); }) < 0) return;
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
  UniqueFd owned(fd);
  std::vector<std::thread> to_join;
  {
    absl::MutexLock lock(&mu_);
    // During a Shutdown the readers that end are Shutdown's to join.
    if (shutting_down_) return absl::FailedPreconditionError("ttrpc: server is shut down");
    to_join.swap(finished_readers_);
    auto connection = std::make_shared<internal::ServerConnection>(this, std::move(owned));
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
    const bool any = HandOffSlowReaders(seen);
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

bool Server::HandOffSlowReaders(absl::flat_hash_map<internal::ServerConnection*, uint64_t>& seen) {
  bool any = false;
  absl::flat_hash_map<internal::ServerConnection*, uint64_t> now;
  for (const auto& c : connections_) {
    const uint64_t seq = c->InlineCall();
    if (seq == 0) continue;
    any = true;
    auto it = seen.find(c.get());
    // Threads beyond one reader per connection are bounded by max_workers: past that,
    // calls wait behind the slow one.
    const bool room =
        static_cast<int>(readers_.size() - connections_.size()) < options_.max_workers;
    if (it != seen.end() && it->second == seq && room) {
      if (c->TryHandOff(seq) && !SpawnReader(c)) c->UndoHandOff(seq);
      continue;
    }
    now[c.get()] = seq;
  }
  seen.swap(now);
  return any;
}

void Server::CallStarted() {
  absl::MutexLock lock(&mu_);
  ++in_flight_;
}

void Server::CallFinished(bool deferred) {
  absl::MutexLock lock(&mu_);
  --in_flight_;
  if (deferred) --deferred_;
}

void Server::CallDeferred(const std::shared_ptr<internal::ServerCall>& call, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  ++deferred_;
  if (deadline == absl::InfiniteFuture() || watchdog_stop_) return;
  const bool first = deadlines_.empty() || deadline < deadlines_.begin()->first;
  deadlines_.emplace(deadline, call);
  if (!deadline_thread_.joinable()) {
    try {
      deadline_thread_ = std::thread(&Server::DeadlineLoop, this);
    } catch (const std::system_error&) {
      // No thread: the call still ends with its connection or Shutdown.
    }
  } else if (first) {
    deadline_cv_.Signal();
  }
}

// Ends the deferred calls whose deadline passed (ServerConnection::ExpireDeferred).
void Server::DeadlineLoop() {
  absl::MutexLock lock(&mu_);
  while (!watchdog_stop_) {
    if (deadlines_.empty()) {
      deadline_cv_.Wait(&mu_);
      continue;
    }
    const absl::Time next = deadlines_.begin()->first;
    if (absl::Now() < next) {
      deadline_cv_.WaitWithDeadline(&mu_, next);
      continue;
    }
    std::weak_ptr<internal::ServerCall> weak = std::move(deadlines_.begin()->second);
    deadlines_.erase(deadlines_.begin());
    mu_.Unlock();
    if (std::shared_ptr<internal::ServerCall> call = weak.lock()) {
      internal::ServerConnection::ExpireDeferred(call);
    }  // (its last reference may go here: that takes mu_)
    mu_.Lock();
  }
}

int Server::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

int Server::deferred() const {
  absl::MutexLock lock(&mu_);
  return deferred_;
}

bool Server::AwaitNoCall(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
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
    (void)!write(wake_fd_.get(), &one, sizeof one);
    accepts.swap(accept_threads_);
  }
  for (std::thread& t : accepts) t.join();

  std::vector<std::shared_ptr<internal::ServerConnection>> connections;
  {
    absl::MutexLock lock(&mu_);
    listen_fds_.clear();  // closes them
    // Deferred calls are not waited for: closing their connections cancels them.
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == deferred_; };
    mu_.AwaitWithTimeout(absl::Condition(&idle), grace);
    connections.assign(connections_.begin(), connections_.end());
  }
  for (auto& c : connections) c->Close();
  connections.clear();

  std::vector<std::thread> readers;
  std::thread deadline;
  {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return in_flight_ == 0 && readers_.empty();
    };
    mu_.Await(absl::Condition(&done));
    readers.swap(finished_readers_);
    watchdog_stop_ = true;
    deadline_cv_.SignalAll();
    deadlines_.clear();
    deadline = std::move(deadline_thread_);
  }
  for (std::thread& t : readers) t.join();
  if (watchdog_.joinable()) watchdog_.join();
  if (deadline.joinable()) deadline.join();
  pool_->Stop();
  blocking_pool_->Stop();
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

void Server::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&shut_down_));
}

}  // namespace ttrpc
}  // namespace kata
