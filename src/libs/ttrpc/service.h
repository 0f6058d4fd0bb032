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
#ifndef KATA_SRC_LIBS_TTRPC_SERVICE_H_
#define KATA_SRC_LIBS_TTRPC_SERVICE_H_

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
}  // namespace internal

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
