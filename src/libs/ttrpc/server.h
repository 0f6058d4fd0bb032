// A ttRPC server: serves registered services on listening sockets and on already-connected
// streams (a virtio-serial port, a socketpair).
//
//   kata::ttrpc::Server server;
//   KATA_RETURN_IF_ERROR(server.Register(&my_service));
//   KATA_RETURN_IF_ERROR(server.Listen("unix:///run/kata/agent.sock"));
//   ...
//   server.Shutdown();   // stop accepting, let in-flight calls finish, close
//
// Promises:
// - Many calls are in flight on one connection and are answered in any order. A connection's
//   reader thread runs the unary requests it reads itself, in order (no hand-off: one
//   wake-up per call, answers to a batch written together). A handler that runs longer than
//   a tick (2 ms) gets the reading handed to a new thread, so a blocking call
//   (WaitProcess) never holds up the calls behind it: one thread per such blocking call,
//   at most Options::max_workers beyond each connection's reader (past that, calls wait
//   their turn). Streaming calls run on a pool of at most max_workers threads, started on
//   demand.
// - A call of a method its service names blocking (Service::IsBlocking: WaitProcess, a
//   stream read) never runs on the reader: it gets a thread of its own at once (idle ones
//   are reused), up to Options::max_blocking_calls at once, far above what a pod uses; past
//   that (or when the system has no thread to give) it is refused with RESOURCE_EXHAUSTED
//   and the connection keeps serving. So no number of blocked calls stops a connection's
//   reading or holds up its other calls.
// - An answer the client does not read for Options::write_stall_timeout closes the
//   connection (channel.h). Answering an unknown service/method (UNIMPLEMENTED), a bad request
//   (INVALID_ARGUMENT) or an over-limit frame (RESOURCE_EXHAUSTED, the connection is kept)
//   takes no worker.
// - A handler's answer over the 4 MiB frame limit becomes RESOURCE_EXHAUSTED.
// - A connection that closes or breaks cancels its calls (ServerContext::cancelled) and drops
//   those read and not started; nothing a client sends can crash the server or stop it
//   serving other connections. A call counts as in flight until its last trace is gone
//   (handler returned, answer written, its state freed): no call outlives Shutdown.
// - A handler may defer its call (ServerContext::Defer, service.h) and answer it later from
//   any thread: a deferred call holds no thread. It counts in in_flight until it has ended;
//   Shutdown's grace does not wait for deferred calls: it cancels them (their owners'
//   on_cancel runs). Deferred calls with a deadline are ended by one timer thread, started
//   with the first such call.
#ifndef KATA_SRC_LIBS_TTRPC_SERVER_H_
#define KATA_SRC_LIBS_TTRPC_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/ttrpc/channel.h"
#include "src/libs/ttrpc/service.h"

namespace kata {
namespace ttrpc {

namespace internal {
class ServerCall;
class ServerConnection;
class WorkerPool;
}  // namespace internal

class Server {
 public:
  struct Options {
    int max_workers = 128;
    int max_blocking_calls = 4096;
    absl::Duration idle_worker_timeout = absl::Seconds(30);
    absl::Duration write_stall_timeout = kDefaultWriteStallTimeout;
    // Runs around every call's handler, on the handler's thread (e.g. a tracing span named
    // after context.service() and method()): it must call `handler` once and return what it
    // returned. Null (the default): the handler is called directly.
    std::function<absl::Status(ServerContext& context, absl::FunctionRef<absl::Status()> handler)>
        call_wrapper;
  };

  Server();
  explicit Server(Options options);
  ~Server();  // Shutdown(absl::ZeroDuration()): running calls are cancelled
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Adds a service; it must outlive the server. ALREADY_EXISTS for a second service of the
  // same name.
  absl::Status Register(Service* service);

  // Listens on `address` (see address.h) and accepts connections until Shutdown.
  absl::Status Listen(absl::string_view address);
  // Accepts on an already listening socket (takes ownership).
  absl::Status ListenFd(int listen_fd);
  // Serves one connected stream (takes ownership) until it closes or Shutdown. `on_closed`
  // (optional) runs once the stream has ended and is no longer read; calls still running
  // on it are cancelled. (A virtio-serial port reads EOF when the host leaves: the owner
  // reopens it and serves it again from there.)
  absl::Status ServeFd(int fd, std::function<void()> on_closed = nullptr);

  // Stops accepting (new requests on open connections get UNAVAILABLE), waits up to `grace`
  // for in-flight calls to finish, then closes every connection (calls still running are
  // cancelled) and waits for the handlers to return. Idempotent. It waits for handlers, so
  // a handler must not call it: a handler that ends the server (DestroySandbox) starts it
  // from another thread.
  void Shutdown(absl::Duration grace = absl::InfiniteDuration());

  // Blocks until Shutdown has completed (from another thread or a handler).
  void Wait();

  // Calls being handled right now (for tests and metrics): from the request read to the
  // call's state freed, after its answer (deferred calls: until they have ended).
  int in_flight() const;
  // Deferred calls not ended yet.
  int deferred() const;
  // Waits until no call is in flight (true), at most `timeout` (false).
  bool AwaitNoCall(absl::Duration timeout) const;

 private:
  friend class internal::ServerCall;  // ends its in_flight_ count when freed
  friend class internal::ServerConnection;

  struct Found {
    const Method* method = nullptr;
    bool blocking = false;
  };
  struct Registered {
    Service* service;
    absl::flat_hash_map<std::string, Found> methods;
  };

  // The method (nullptr if unknown); *out is its service (nullptr if unknown).
  Found FindMethod(absl::string_view service, absl::string_view method, Service** out) const;
  void AcceptLoop(int listen_fd);
  // Starts a reader thread for `connection`; false if no thread can be started.
  bool SpawnReader(std::shared_ptr<internal::ServerConnection> connection,
                   std::function<void()> on_closed = nullptr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteInlineCall();
  void WatchdogLoop();
  // One watchdog tick over the connections: a reader still running the inline call it ran at
  // the last tick (`seen`, updated) hands its role to a new thread. True if any reader runs
  // an inline call.
  bool HandOffSlowReaders(absl::flat_hash_map<internal::ServerConnection*, uint64_t>& seen)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CallStarted();
  // `deferred`: a deferred call that has ended.
  void CallFinished(bool deferred = false);
  // Call `call` was deferred (called under call->mu); a finite `deadline` ends it then.
  void CallDeferred(const std::shared_ptr<internal::ServerCall>& call, absl::Time deadline);
  void DeadlineLoop();

  const Options options_;
  std::unique_ptr<internal::WorkerPool> pool_;
  std::unique_ptr<internal::WorkerPool> blocking_pool_;    // blocking methods' calls
  absl::flat_hash_map<std::string, Registered> services_;  // written before serving only

  mutable absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int deferred_ ABSL_GUARDED_BY(mu_) = 0;  // of in_flight_
  // Deadlines of deferred calls (an entry may outlive its call: skipped then).
  std::multimap<absl::Time, std::weak_ptr<internal::ServerCall>> deadlines_ ABSL_GUARDED_BY(mu_);
  absl::CondVar deadline_cv_;
  std::thread deadline_thread_ ABSL_GUARDED_BY(mu_);
  std::vector<UniqueFd> listen_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> accept_threads_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::shared_ptr<internal::ServerConnection>> connections_
      ABSL_GUARDED_BY(mu_);
  // Reader threads (one per connection, plus those a slow inline call handed off from),
  // by thread id; a finished one is joined by the next ServeFd or by Shutdown.
  absl::flat_hash_map<std::thread::id, std::thread> readers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> finished_readers_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stopping_{false};
  std::atomic<bool> watchdog_active_{false};
  bool watchdog_stop_ ABSL_GUARDED_BY(mu_) = false;
  const UniqueFd wake_fd_;  // eventfd: Shutdown wakes the accept loops
  std::thread watchdog_;
};

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_SERVER_H_
