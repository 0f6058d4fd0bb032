// Test kit of the ttRPC end-to-end tests (client_test, server_test, streaming_test):
// testonly, for //src/libs/ttrpc only.
//
//   TestEcho         ttrpc.interop.Echo as interop/echo.proto describes it, with a per-test hook
//                    and records of what its handlers saw (concurrency, how each SleepFor ended)
//   RawPeer          the other end of a stream, written and read frame by frame by hand
//   TtrpcFixture     a Server serving a TestEcho; Connect() gives a Client, ConnectRaw() a
//                    RawPeer, each over a fresh socketpair
//   SocketPair, OpenRawPty, WaitUntil, Bounded, Pattern, RequestBytes, EchoPayload
//
// Every wait is bounded, so a bug fails a test instead of hanging it.
#ifndef KATA_SRC_LIBS_TTRPC_TEST_UTIL_H_
#define KATA_SRC_LIBS_TTRPC_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/interop/echo.ttrpc.pb.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace ttrpc {

using ::ttrpc::interop::EchoRequest;
using ::ttrpc::interop::EchoResponse;
using EchoClient = ::ttrpc::interop::EchoTtrpc::Client;

inline constexpr char kEcho[] = "ttrpc.interop.Echo";

// Call options with a timeout (30 s unless given).
CallOptions Bounded(absl::Duration timeout = absl::Seconds(30));

// `n` bytes of a pattern that depends on `seed`.
std::string Pattern(size_t n, int seed = 0);

// Polls `done` every 2 ms until it holds (true) or `timeout` passes (false).
bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout);

// A connected AF_UNIX stream socketpair (close-on-exec); both invalid on failure.
std::pair<UniqueFd, UniqueFd> SocketPair();

// A pty pair with the slave in raw mode: a byte stream that is not a socket, like a
// virtio-serial port.
struct Pty {
  UniqueFd master;
  UniqueFd slave;
};
absl::StatusOr<Pty> OpenRawPty();

// ---- The service under test ------------------------------------------------------------

// Echo as echo.proto describes it, plus: `count` > 0 answers `count` bytes of payload (to make
// big responses), and a per-test hook that runs first (in Echo and ServerStream). It records
// what its handlers saw: how many ran at once, and how each SleepFor ended.
class TestEcho : public ::ttrpc::interop::EchoTtrpc::Service {
 public:
  using Hook = std::function<absl::Status(ServerContext&, const EchoRequest&)>;

  struct Sleep {
    absl::Status status;
    bool cancelled = false;  // ctx.cancelled() right after SleepFor returned
    absl::Time entered;
    absl::Time deadline;
    int64_t timeout_nano = 0;
  };

  void set_hook(Hook hook);

  absl::Status Echo(ServerContext& ctx, const EchoRequest& request,
                    EchoResponse* response) override;
  // Sleeps sleep_ms, sends `count` messages "<payload><i>", then fail_code (if set) or OK.
  absl::Status ServerStream(ServerContext& ctx, const EchoRequest& request,
                            ServerWriter<EchoResponse>* writer) override;
  // Concatenates the payloads; answers "messages=N" in metadata; a message with fail_code
  // ends the call with that status.
  absl::Status ClientStream(ServerContext& ctx, ServerReader<EchoRequest>* reader,
                            EchoResponse* response) override;

  // The most handlers that ran at once.
  int max_running();
  // Waits until `n` handlers have finished a SleepFor; their records.
  std::vector<Sleep> WaitForSleeps(size_t n, absl::Duration timeout = absl::Seconds(10));

 private:
  class Running;
  Hook hook();
  // Echo's sleep_ms: sleeps and records how the sleep ended.
  absl::Status RecordedSleep(ServerContext& ctx, const EchoRequest& request, absl::Time entered);

  absl::Mutex mu_;
  Hook hook_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int max_running_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Sleep> sleeps_ ABSL_GUARDED_BY(mu_);
};

// ---- A raw peer: writes and reads frames by hand ---------------------------------------

class RawPeer {
 public:
  explicit RawPeer(UniqueFd fd) : fd_(std::move(fd)) {}

  void Close() { fd_.reset(); }

  // All of `bytes` (send, MSG_NOSIGNAL: false rather than SIGPIPE if the other end closed).
  bool Write(absl::string_view bytes);
  bool WriteFrame(uint32_t stream_id, MessageType type, uint8_t flags, absl::string_view data);
  static std::string Header(uint32_t length, uint32_t stream_id, MessageType type,
                            uint8_t flags = 0);

  // One frame, or false at end of stream or after `timeout`.
  bool ReadFrame(FrameHeader* h, std::string* data, absl::Duration timeout = absl::Seconds(10));
  // The next frame must be a Response; false otherwise.
  bool ReadResponse(uint32_t* stream_id, ::ttrpc::Response* response,
                    absl::Duration timeout = absl::Seconds(10));
  // True if nothing (not even end of stream) arrives within `d`.
  bool Quiet(absl::Duration d);

 private:
  bool ReadExactly(size_t n, std::string* out, absl::Time deadline);

  UniqueFd fd_;
};

// A serialized ::ttrpc::Request.
std::string RequestBytes(absl::string_view service, absl::string_view method,
                         absl::string_view payload, int64_t timeout_nano = 0);
// A serialized EchoRequest with `text` as payload.
std::string EchoPayload(absl::string_view text);

// ---- Fixture ---------------------------------------------------------------------------

class TtrpcFixture : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(Server::Options()); }

  // Replaces the server (the old one is shut down) by one with `options`.
  void StartServer(Server::Options options);

  // A client connected to the server over a fresh socketpair (nullptr on failure).
  std::unique_ptr<Client> Connect();
  // A raw peer connected to the server (nullptr on failure).
  std::unique_ptr<RawPeer> ConnectRaw();

  // One plain Echo on `client`: "" if it worked, else why not.
  static std::string Ping(Client& client, absl::string_view text = "ping");

  // Waits until the server has calls in flight (true), at most `timeout`.
  bool WaitForACall(absl::Duration timeout = absl::Seconds(10));
  // Waits until the server has no call in flight (true), at most `timeout`.
  bool WaitForNoCall(absl::Duration timeout = absl::Seconds(10));

  // Handlers of a burst of `calls` calls of `method` (Echo or ServerStream) run at once, also
  // when the server already has an idle thread: every handler waits for all the others, so a
  // server that queues some behind a busy thread makes them time out.
  void BurstRunsConcurrently(absl::string_view method, int calls);

  TestEcho service_;
  std::unique_ptr<Server> server_;
};

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_TEST_UTIL_H_
