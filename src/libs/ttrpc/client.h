// A ttRPC client: many concurrent calls multiplexed over one connection.
//
//   KATA_ASSIGN_OR_RETURN(auto client, kata::ttrpc::Client::Dial("unix:///run/x.sock"));
//   grpc::CheckRequest req;
//   grpc::HealthCheckResponse resp;
//   KATA_RETURN_IF_ERROR(client->Call("grpc.Health", "Check", req, &resp,
//                                     {.timeout = absl::Seconds(1)}));
//
// (Generated `<Service>Ttrpc::Client` classes wrap this with one typed method per rpc.)
//
// Asynchronous calls: many in flight from one thread, each completed by a callback.
//
//   client->CallAsync<EchoResponse>("p.Echo", "Echo", req, {},
//       [](absl::StatusOr<EchoResponse> r) { ... });   // runs once, on the reading thread
//
// Promises:
// - Thread-safe: any number of threads call at once; answers are matched by stream id.
//   One reader thread per client (started by the first call) reads the connection for
//   everybody and completes the calls: a blocking Call is an asynchronous call waited for,
//   so no thread is blocked per asynchronous call and every caller sleeps on its own
//   notification. The reader busy-polls briefly before it sleeps, and writes the requests
//   callers start while it is awake, together (channel.h); a blocking caller waits awake
//   (yielding) as long as the reader spins, then asleep. So a peer that answers within
//   microseconds costs no wake-up on this side.
// - A blocking Call from a callback of the same client fails with FAILED_PRECONDITION (it
//   would wait for the thread that runs it).
// - An asynchronous call's callback runs exactly once: with the answer, DEADLINE_EXCEEDED at
//   its deadline, CANCELLED after Cancel, or UNAVAILABLE once the connection closes or breaks
//   (Close, the destructor). It runs on the thread reading the connection, without locks
//   held, so it must not block: no blocking call on this client, and it must not destroy
//   the client; it may start new asynchronous calls (the requests that callbacks of one
//   read start are written together, in one system call). A call that cannot start (closed
//   connection, request over the limit) returns its error and its callback never runs.
// - A call returns its server's status, DEADLINE_EXCEEDED when CallOptions::timeout passes
//   (the server is told the timeout too), RESOURCE_EXHAUSTED for a request over the 4 MiB
//   frame limit (nothing is sent), and UNAVAILABLE promptly for every pending and later call
//   once the connection closes or breaks.
// - A request the server does not read for `write_stall_timeout` (channel.h) fails with
//   UNAVAILABLE naming the stall, and closes the connection (every pending call fails).
#ifndef KATA_SRC_LIBS_TTRPC_CLIENT_H_
#define KATA_SRC_LIBS_TTRPC_CLIENT_H_

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/ttrpc/channel.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/service.h"

namespace kata {
namespace ttrpc {

struct CallOptions {
  absl::Duration timeout = absl::InfiniteDuration();
  std::vector<std::pair<std::string, std::string>> metadata;
};

namespace internal {
struct PendingCall;
}  // namespace internal

class Client;

// A streaming call. Not thread-safe: one thread sends, one receives (they may differ).
// It must be destroyed before the Client that opened it.
class ClientStream {
 public:
  ~ClientStream();
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  // Client/bidi streaming: sends one message; CloseSend ends the client's side.
  absl::Status Send(absl::string_view message);
  absl::Status CloseSend();
  // Server/bidi streaming: the next message, or false once the server's side has ended
  // (then Finish tells how).
  bool Recv(std::string* message);
  // Waits for the call's end: the final status, and the response payload for a
  // client-streaming call.
  absl::StatusOr<std::string> Finish();

 private:
  friend class Client;
  ClientStream(Client* client, uint32_t stream_id, std::shared_ptr<internal::PendingCall> pending,
               absl::Time deadline, bool send_closed);

  Client* client_;
  uint32_t stream_id_;
  std::shared_ptr<internal::PendingCall> pending_;
  absl::Time deadline_;
  bool send_closed_;
};

class Client {
 public:
  // Connects to `address` (see address.h), retrying until `connect_timeout`.
  static absl::StatusOr<std::unique_ptr<Client>> Dial(
      absl::string_view address, absl::Duration connect_timeout = absl::Seconds(5));

  // Uses a connected stream (takes ownership of `fd`).
  explicit Client(int fd, absl::Duration write_stall_timeout = kDefaultWriteStallTimeout);
  ~Client();  // Close(); waits for threads still inside Call to return (UNAVAILABLE)
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A unary call on serialized messages: the response payload, or the call's status.
  absl::StatusOr<std::string> Call(absl::string_view service, absl::string_view method,
                                   absl::string_view request, const CallOptions& options = {});

  // A unary call on protobuf messages (lite API).
  template <class Request, class Response>
  absl::Status Call(absl::string_view service, absl::string_view method, const Request& request,
                    Response* response, const CallOptions& options = {}) {
    absl::StatusOr<std::string> payload =
        Call(service, method, request.SerializeAsString(), options);
    if (!payload.ok()) return payload.status();
    if (!response->ParseFromString(*payload)) {
      return absl::InternalError(
          absl::StrCat("ttrpc: ", service, "/", method, ": cannot parse the response"));
    }
    return absl::OkStatus();
  }

  // An asynchronous unary call. Returns its id (for Cancel) once its request is on its way;
  // `done` then runs exactly once (see the promises above).
  using CallId = uint32_t;
  using Completion = absl::AnyInvocable<void(absl::StatusOr<std::string>)>;
  absl::StatusOr<CallId> CallAsync(absl::string_view service, absl::string_view method,
                                   absl::string_view request, const CallOptions& options,
                                   Completion done);

  // The same on protobuf messages: `done` gets the parsed response. Response is named
  // (CallAsync<EchoResponse>(...)), never deduced.
  template <class Response, class Request>
  absl::StatusOr<CallId> CallAsync(
      absl::string_view service, absl::string_view method, const Request& request,
      const CallOptions& options,
      typename std::common_type<absl::AnyInvocable<void(absl::StatusOr<Response>)>>::type done) {
    std::string what = absl::StrCat(service, "/", method);
    return CallAsync(service, method, request.SerializeAsString(), options,
                     [done = std::move(done),
                      what = std::move(what)](absl::StatusOr<std::string> payload) mutable {
                       if (!payload.ok()) return done(payload.status());
                       Response response;
                       if (!response.ParseFromString(*payload)) {
                         return done(absl::InternalError(
                             absl::StrCat("ttrpc: ", what, ": cannot parse the response")));
                       }
                       done(std::move(response));
                     });
  }

  // Ends asynchronous call `id` at once: its callback runs with CANCELLED (on this thread,
  // before Cancel returns) and a late answer is dropped. False if the call is already over.
  bool Cancel(CallId id);

  // Asynchronous calls started and not yet completed.
  int async_in_flight() const;

  // Starts a streaming call. For kServerStreaming `request` is the one request message; for
  // client/bidi streaming it is sent as the first message when not empty.
  absl::StatusOr<std::unique_ptr<ClientStream>> OpenStream(absl::string_view service,
                                                           absl::string_view method,
                                                           MethodKind kind,
                                                           absl::string_view request,
                                                           const CallOptions& options = {});

  // Closes the connection: pending calls fail with UNAVAILABLE. Idempotent.
  void Close();
  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  friend class ClientStream;

  // A completed asynchronous call's callback and result, to run without mu_.
  struct Finished {
    Completion done;
    absl::StatusOr<std::string> result;
  };
  using ReadyList = std::vector<Finished>;

  // Sends a Request frame and registers `pending` under a new stream id (an asynchronous
  // one also in the deadline index, and starts the reader thread).
  absl::StatusOr<uint32_t> Start(absl::string_view service, absl::string_view method,
                                 absl::string_view request, const CallOptions& options,
                                 uint8_t flags,
                                 const std::shared_ptr<internal::PendingCall>& pending,
                                 absl::Time* deadline);
  void RegisterAsyncLocked(uint32_t id, absl::Time deadline, internal::PendingCall* call)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops call `stream_id` if still registered (true).
  bool Forget(uint32_t stream_id);
  // Completes the registered call `id` and drops it; an asynchronous one's callback is
  // appended to `ready`.
  void CompleteLocked(uint32_t id, absl::Status status, std::string payload, ReadyList* ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Asynchronous calls whose deadline is at or before `now` end with DEADLINE_EXCEEDED.
  void ExpireLocked(absl::Time now, ReadyList* ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs the callbacks of `ready` with mu_ released, then writes the requests they started.
  void RunReadyLocked(ReadyList* ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The reader thread: reads while calls are in flight and no stream's caller reads;
  // otherwise sleeps until the next deadline, and expires it.
  void ReaderLoop();

  // A stream's wait: until `ready(p)` holds or `deadline` passes (false). Without calls in
  // flight the reader thread does not read: one waiting caller at a time reads the connection
  // for everybody (the leader) and hands that role to the next waiter when its wait is over.
  template <class Ready>
  bool WaitFor(internal::PendingCall* p, absl::Time deadline, Ready ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The leader's loop: reads until `done()` or the deadline; returns with mu_ held.
  // The reader thread reads `interruptible`: a new earlier deadline interrupts its read.
  template <class Done>
  void Lead(absl::Time deadline, Done done, bool interruptible = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PassLeadership() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailAll(const absl::Status& status, ReadyList* ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

 public:
  // The FrameDecoder sink, called by the leader (without mu_).
  void OnFrame(const FrameHeader& header, absl::string_view data);
  void OnOversized(const FrameHeader& header);

 private:
  Channel channel_;
  std::atomic<bool> closed_{false};
  mutable absl::Mutex mu_;
  uint32_t next_stream_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint32_t, std::shared_ptr<internal::PendingCall>> pending_
      ABSL_GUARDED_BY(mu_);
  class ActiveScope;
  int active_ ABSL_GUARDED_BY(mu_) = 0;                                // threads inside our methods
  bool leading_ ABSL_GUARDED_BY(mu_) = false;                          // someone reads
  std::deque<internal::PendingCall*> followers_ ABSL_GUARDED_BY(mu_);  // waiting, in order
  internal::PendingCall* successor_ ABSL_GUARDED_BY(mu_) = nullptr;    // handed the lead
  // Asynchronous calls: how many are in flight, their deadlines (with stream ids), a count
  // of deadline additions (wakes the idle reader thread), and the reader thread.
  int async_pending_ ABSL_GUARDED_BY(mu_) = 0;
  absl::btree_set<std::pair<absl::Time, uint32_t>> async_deadlines_ ABSL_GUARDED_BY(mu_);
  uint64_t deadlines_added_ ABSL_GUARDED_BY(mu_) = 0;
  bool reader_leads_ ABSL_GUARDED_BY(mu_) = false;  // the reader thread reads (interruptible)
  absl::Time lead_read_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::thread reader_ ABSL_GUARDED_BY(mu_);
  UniqueFd interrupt_fd_;  // eventfd: interrupts the reader thread's read
  // Only the leader touches these.
  FrameDecoder decoder_;
  std::unique_ptr<char[]> buffer_;
};

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_CLIENT_H_
