// What a ttRPC server serves: services, each a table of methods, each method a handler
// that reads its request from and writes its response to a ServerContext.
//
// Services are normally generated from a .proto service by protoc-gen-ttrpc (the macro
// kata_cc_proto_library(..., ttrpc = True)): for `service Echo` in package `p` it generates
// `p::EchoTtrpc::Service`, a class with one virtual method per rpc,
//
//   absl::Status Echo(kata::ttrpc::ServerContext& ctx, const p::EchoRequest& request,
//                     p::EchoResponse* response);
//   absl::Status ServerStream(ServerContext& ctx, const Req& request, ServerWriter<Resp>* out);
//   absl::Status ClientStream(ServerContext& ctx, ServerReader<Req>* in, Resp* response);
//
// each answering UNIMPLEMENTED until overridden, and `p::EchoTtrpc::Client`, the typed
// client. A handler is written once, by overriding those methods.
//
// Deferred answers (unary calls): a handler that would block (waiting for a process, for
// output) takes the call with `ServerContext::Defer(on_cancel)` and returns at once; its
// return value and response are then ignored. The move-only DeferredResponse it got answers
// later, from any thread, with `Finish(status, response)`. No thread is held meanwhile: any
// number of deferred calls cost their state only. Each deferred call ends exactly once:
// - by Finish (true: the answer is on its way), or
// - by the server: its connection closed or broke, the server shut down (nothing is sent),
//   or its deadline passed (DEADLINE_EXCEEDED is sent). Then `on_cancel` runs once, on the
//   server's thread that ended it, with no server lock held (it must not block for long:
//   typically it drops the owner's DeferredResponse). A later Finish is a no-op (false).
// A DeferredResponse destroyed unfinished answers CANCELLED. Server::Shutdown does not wait
// for deferred calls: it cancels them. A deferred call counts in Server::in_flight until it
// has ended. Defer on a call that is already cancelled, or on a streaming call, returns a
// DeferredResponse that is done() at once (on_cancel never runs); the handler then answers
// by returning as usual.
#ifndef KATA_SRC_LIBS_TTRPC_SERVICE_H_
#define KATA_SRC_LIBS_TTRPC_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace kata {
namespace ttrpc {

namespace internal {
class ServerCall;
struct DeferredCall;
}  // namespace internal

// A unary call taken by ServerContext::Defer, answered later (see the top of this file).
// Move-only; any thread. Empty (default-constructed or moved from): done(), Finish false.
class DeferredResponse {
 public:
  DeferredResponse() = default;
  explicit DeferredResponse(std::shared_ptr<internal::DeferredCall> call)
      : call_(std::move(call)) {}
  DeferredResponse(DeferredResponse&&) noexcept = default;
  DeferredResponse& operator=(DeferredResponse&& other) noexcept;
  DeferredResponse(const DeferredResponse&) = delete;
  DeferredResponse& operator=(const DeferredResponse&) = delete;
  ~DeferredResponse();  // unfinished: answers CANCELLED

  // Answers with `status`, and with `response` if OK. True if the answer is on its way; false
  // if the call had already ended (answered, or ended by the server).
  template <class Response>
  bool Finish(const absl::Status& status, const Response& response) {
    std::string payload;
    if (status.ok()) response.SerializeToString(&payload);
    return FinishRaw(status, payload);
  }
  // The same with a serialized response.
  bool FinishRaw(const absl::Status& status, absl::string_view payload);
  // The call has ended (or this holds none): Finish would do nothing.
  bool done() const;

 private:
  std::shared_ptr<internal::DeferredCall> call_;
};

// One call as its handler sees it. Valid only during the handler.
class ServerContext {
 public:
  explicit ServerContext(internal::ServerCall* call) : call_(call) {}

  absl::string_view service() const;
  absl::string_view method() const;
  // The request's metadata, in the order sent (keys may repeat).
  const std::vector<std::pair<std::string, std::string>>& metadata() const;
  // The first value of `key`, or empty.
  absl::string_view GetMetadata(absl::string_view key) const;
  // When the caller stops waiting (InfiniteFuture if it set no timeout).
  absl::Time deadline() const;
  // The request's timeout as sent (0 = none).
  int64_t timeout_nano() const;

  // True once the caller cannot receive an answer any more: the deadline passed, the
  // connection closed, or the server is shutting down.
  bool cancelled() const;
  // Waits `d`, unless the call is cancelled first. OK after the full wait; otherwise
  // DEADLINE_EXCEEDED (deadline passed) or CANCELLED.
  absl::Status SleepFor(absl::Duration d) const;

  // Takes this (unary) call, to be answered later through the result (see the top of this
  // file). `on_cancel` (optional) runs once if the server ends the call first.
  DeferredResponse Defer(std::function<void()> on_cancel = nullptr);

  // For generated code and streaming helpers:
  absl::string_view request_payload() const;
  std::string* mutable_response_payload();
  // Client streaming: the next message (true), or the end of the client's stream or a
  // cancelled call (false).
  bool ReadMessage(std::string* message);
  // Server streaming: sends one message to the caller.
  absl::Status WriteMessage(absl::string_view message);

 private:
  internal::ServerCall* call_;
};

enum class MethodKind { kUnary, kClientStreaming, kServerStreaming, kBidiStreaming };

class Service;
using MethodHandler = absl::Status (*)(Service& service, ServerContext& context);

struct Method {
  const char* name;
  MethodKind kind;
  MethodHandler handler;
};

class Service {
 public:
  virtual ~Service() = default;
  // The full name as on the wire: "<proto package>.<service>", e.g. "grpc.AgentService".
  virtual absl::string_view ServiceName() const = 0;
  virtual absl::Span<const Method> Methods() const = 0;
  // Whether `method` may block for long (waits for a process, reads a stream that may stay
  // empty). The server runs each call of a blocking method on a thread of its own at once,
  // so any number of them never hold up the other calls (see server.h).
  virtual bool IsBlocking(absl::string_view method) const {
    (void)method;
    return false;
  }
};

// Typed streams for generated handlers. They parse/serialize protobuf messages (lite API
// only) over the context's raw messages.
template <class T>
class ServerReader {
 public:
  explicit ServerReader(ServerContext& context) : context_(context) {}
  // The next message; false at the end of the stream or on a message that does not parse
  // (then status() says so).
  bool Read(T* message) {
    std::string bytes;
    if (!context_.ReadMessage(&bytes)) return false;
    if (!message->ParseFromString(bytes)) {
      status_ = absl::InvalidArgumentError(absl::StrCat(context_.service(), "/", context_.method(),
                                                        ": cannot parse a stream message"));
      return false;
    }
    return true;
  }
  const absl::Status& status() const { return status_; }

 private:
  ServerContext& context_;
  absl::Status status_;
};

template <class T>
class ServerWriter {
 public:
  explicit ServerWriter(ServerContext& context) : context_(context) {}
  absl::Status Write(const T& message) {
    return context_.WriteMessage(message.SerializeAsString());
  }

 private:
  ServerContext& context_;
};

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_SERVICE_H_
