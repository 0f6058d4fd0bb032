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
// Promises:
// - Thread-safe: any number of threads call at once; answers are matched by stream id.
//   There is no reader thread: a waiting caller reads for everyone, so a lone call costs
//   one wake-up on each side.
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
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
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

  // Sends a Request frame and registers `pending` under a new stream id.
  absl::StatusOr<uint32_t> Start(absl::string_view service, absl::string_view method,
                                 absl::string_view request, const CallOptions& options,
                                 uint8_t flags,
                                 const std::shared_ptr<internal::PendingCall>& pending,
                                 absl::Time* deadline);
  void Forget(uint32_t stream_id);

  // Waits until `ready(p)` holds or `deadline` passes (false). There is no reader thread:
  // one waiting caller at a time reads the connection for everybody (the leader) and hands
  // that role to the next waiter when its own wait is over.
  template <class Ready>
  bool WaitFor(internal::PendingCall* p, absl::Time deadline, Ready ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The leader's loop: reads until `done()` or the deadline; returns with mu_ held.
  template <class Done>
  void Lead(absl::Time deadline, Done done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PassLeadership() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailAll(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

 public:
  // The FrameDecoder sink, called by the leader (without mu_).
  void OnFrame(const FrameHeader& header, absl::string_view data);
  void OnOversized(const FrameHeader& header);

 private:
  Channel channel_;
  std::atomic<bool> closed_{false};
  absl::Mutex mu_;
  uint32_t next_stream_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint32_t, std::shared_ptr<internal::PendingCall>> pending_
      ABSL_GUARDED_BY(mu_);
  class ActiveScope;
  int active_ ABSL_GUARDED_BY(mu_) = 0;                                // threads inside our methods
  bool leading_ ABSL_GUARDED_BY(mu_) = false;                          // someone reads
  std::deque<internal::PendingCall*> followers_ ABSL_GUARDED_BY(mu_);  // waiting, in order
  internal::PendingCall* successor_ ABSL_GUARDED_BY(mu_) = nullptr;    // handed the lead
  // Only the leader touches these.
  FrameDecoder decoder_;
  std::unique_ptr<char[]> buffer_;
};

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_CLIENT_H_
