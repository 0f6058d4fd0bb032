// The server's side of one connection (internal to //src/libs/ttrpc, used by server.cc and
// server_context.cc).
//
// A ServerConnection reads frames from its Channel and turns Requests into ServerCalls. The
// thread holding its reader role runs the unary calls it read itself, in order; the server's
// watchdog hands the role to a new thread when a handler is slow (TryHandOff). Streaming calls
// go to the server's worker pool. Answers to unknown methods, bad requests and over-limit frames
// are written at once, by the reader. Close() ends the stream and cancels every call on it.
// A deferred call (service.h) is a ServerCall with a DeferredCall: EndDeferred ends it once.
#ifndef KATA_SRC_LIBS_TTRPC_INTERNAL_SERVER_CONNECTION_H_
#define KATA_SRC_LIBS_TTRPC_INTERNAL_SERVER_CONNECTION_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/channel.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/server.h"
#include "src/libs/ttrpc/service.h"

namespace kata {
namespace ttrpc {
namespace internal {

// One call on the server: what the handler sees through ServerContext, plus the state the
// connection's reader shares with it (cancellation, client-stream messages).
//
// Ownership: a call is owned by whoever is to run it (the connection's queue of unary calls
// read and not started, a pool's task, the thread running it) and owns its connection. The
// connection's table of calls (for Data frames and cancellation) holds them weakly, and the
// queue is emptied when the connection is closed, so no cycle keeps a call or a connection
// alive. A call accepted for running counts in its server's in_flight until it is freed, or,
// deferred, until it has ended (EndDeferred).
//
// A deferred call and its DeferredCall point at each other until the call ends: EndDeferred
// breaks the cycle, and every way a call can end (Finish, the DeferredResponse dropped, the
// connection closed, Shutdown, the deadline) reaches it.
class ServerCall;
struct DeferredCall {
  absl::Mutex mu;
  std::shared_ptr<ServerCall> call ABSL_GUARDED_BY(mu);  // until the call has ended
  std::function<void()> on_cancel ABSL_GUARDED_BY(mu);
};

class ServerCall : public std::enable_shared_from_this<ServerCall> {
 public:
  ServerCall() = default;
  ServerCall(const ServerCall&) = delete;
  ServerCall& operator=(const ServerCall&) = delete;
  ~ServerCall();

  // Counts the call in `server`'s in_flight until the call is freed (or EndCount).
  void CountIn(Server* server);
  // A deferred call that has ended stops counting now.
  void EndCount();

  std::shared_ptr<ServerConnection> connection;
  uint32_t stream_id = 0;
  ::ttrpc::Request request;
  std::vector<std::pair<std::string, std::string>> metadata;
  absl::Time deadline = absl::InfiniteFuture();
  Service* service = nullptr;
  const Method* method = nullptr;
  bool blocking = false;  // its service says the method may block for long
  std::string response_payload;
  bool more_coming = false;  // more answers follow at once: let the channel batch them

  absl::Mutex mu;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  std::deque<std::string> inbox ABSL_GUARDED_BY(mu);
  bool remote_closed ABSL_GUARDED_BY(mu) = true;
  bool was_deferred ABSL_GUARDED_BY(mu) = false;               // ServerContext::Defer took it
  std::shared_ptr<DeferredCall> deferred ABSL_GUARDED_BY(mu);  // until it has ended

 private:
  Server* counted_by_ = nullptr;
};

class ServerConnection : public std::enable_shared_from_this<ServerConnection> {
 public:
  enum class ReadEnd { kEnded, kHandedOff };

  ServerConnection(Server* server, UniqueFd fd);

  Channel& channel() { return channel_; }

  // Set before the first reader starts; run once, by the reader that sees the end.
  void set_on_closed(std::function<void()> f) { on_closed_ = std::move(f); }
  void RunOnClosed() {
    if (on_closed_) std::exchange(on_closed_, nullptr)();
  }

  // Holds the reader role: reads, and runs the unary requests it read itself, in order (no
  // thread hand-off on the fast path). If a handler is slow, the server's watchdog hands the
  // role (and the requests queued behind it) to a new reader thread (TryHandOff), and this one
  // returns kHandedOff once its handler is done.
  ReadEnd ReadLoop();

  // For the watchdog: the number of the call the current reader runs now (0 if none).
  uint64_t InlineCall();
  // For the watchdog: if the current reader still runs call `seq`, that reader gives up the
  // role (it returns once the call is done) and true is returned: the caller must start a new
  // reader, or call UndoHandOff.
  bool TryHandOff(uint64_t seq);
  void UndoHandOff(uint64_t seq);

  // Ends the stream; the calls still running on it are cancelled, those read and not started
  // are dropped (their answers could not be sent).
  void Close();

  // Runs the call's handler, answers (unless the handler deferred the call), and tells the
  // server the call is over.
  static void Execute(const std::shared_ptr<ServerCall>& call);

  // Ends deferred call `d` if it has not ended yet (false otherwise): sends (status, payload)
  // unless kDropped, and runs its on_cancel unless kFinished.
  enum class DeferredEnd { kFinished, kDeadline, kDropped };
  static bool EndDeferred(DeferredCall& d, DeferredEnd how, const absl::Status& status,
                          absl::string_view payload);
  // The server's deadline timer: `call`, deferred, ends with DEADLINE_EXCEEDED.
  static void ExpireDeferred(const std::shared_ptr<ServerCall>& call);

  // ServerContext::Defer took `call` (under call->mu): the server counts it, and ends it at a
  // finite `deadline`.
  void NoteDeferred(const std::shared_ptr<ServerCall>& call, absl::Time deadline) {
    server_->CallDeferred(call, deadline);
  }

  // FrameDecoder sink.
  void OnFrame(const FrameHeader& h, absl::string_view data);
  void OnOversized(const FrameHeader& h);

 private:
  // The next unary call read and not yet run (its number in *seq), or nullptr.
  std::shared_ptr<ServerCall> TakeQueued(uint64_t* seq);
  // After running call `seq` inline: true if the reader role was handed off meanwhile.
  bool EndInlineCall(uint64_t seq);
  void OnRequest(const FrameHeader& h, absl::string_view data);
  // Fills `call` from a Request frame; a non-OK status is the answer that refuses it.
  absl::Status Accept(const FrameHeader& h, absl::string_view data, ServerCall& call);
  void OnData(const FrameHeader& h, absl::string_view data);
  void Finish(const std::shared_ptr<ServerCall>& call, absl::Status status);
  // Answers call `call` (a response over the frame limit becomes RESOURCE_EXHAUSTED) and
  // forgets its stream id.
  void Answer(const ServerCall& call, absl::Status status, absl::string_view payload);
  void Respond(uint32_t stream_id, const absl::Status& status, absl::string_view payload,
               bool more_coming = false);
  void CancelAll();

  Server* const server_;
  Channel channel_;
  std::function<void()> on_closed_;
  absl::Mutex mu_;
  // The calls on this connection by stream id, held weakly (see ServerCall).
  absl::flat_hash_map<uint32_t, std::weak_ptr<ServerCall>> calls_ ABSL_GUARDED_BY(mu_);

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
}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_INTERNAL_SERVER_CONNECTION_H_
