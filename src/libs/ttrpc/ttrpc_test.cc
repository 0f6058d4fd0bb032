// End-to-end tests of the ttRPC client and server, in one process: over socketpairs, a real
// unix socket and a pty (a non-socket stream, like a virtio-serial port), and with raw bytes
// written to the server to check what it does with a misbehaving peer.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/interop/echo.ttrpc.pb.h"
#include "src/libs/ttrpc/server.h"
#include "src/libs/ttrpc/status.h"

namespace kata {
namespace ttrpc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::ttrpc::interop::EchoRequest;
using ::ttrpc::interop::EchoResponse;
using EchoClient = ::ttrpc::interop::EchoTtrpc::Client;

constexpr char kEcho[] = "ttrpc.interop.Echo";

// Every call in these tests is bounded, so a bug fails a test instead of hanging it.
CallOptions Bounded(absl::Duration timeout = absl::Seconds(30)) {
  CallOptions o;
  o.timeout = timeout;
  return o;
}

std::string Pattern(size_t n, int seed = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + static_cast<size_t>(seed)) % 251);
  return s;
}

// ---- The service under test -----------------------------------------------------------

// Echo as echo.proto describes it, plus: `count` > 0 answers `count` bytes of payload (to
// make big responses), and a per-test hook that runs first (in Echo and ServerStream). It records what its handlers
// saw: how many ran at once, and how each SleepFor ended.
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

  void set_hook(Hook hook) {
    absl::MutexLock lock(&mu_);
    hook_ = std::move(hook);
  }

  absl::Status Echo(ServerContext& ctx, const EchoRequest& request,
                    EchoResponse* response) override {
    const absl::Time entered = absl::Now();
    Enter();
    absl::Cleanup leave = [this] { Leave(); };
    Hook hook;
    {
      absl::MutexLock lock(&mu_);
      hook = hook_;
    }
    if (hook) {
      absl::Status s = hook(ctx, request);
      if (!s.ok()) return s;
    }
    if (request.sleep_ms() > 0) {
      Sleep sleep;
      sleep.entered = entered;
      sleep.deadline = ctx.deadline();
      sleep.timeout_nano = ctx.timeout_nano();
      sleep.status = ctx.SleepFor(absl::Milliseconds(request.sleep_ms()));
      sleep.cancelled = ctx.cancelled();
      {
        absl::MutexLock lock(&mu_);
        sleeps_.push_back(sleep);
      }
      if (!sleep.status.ok()) return sleep.status;
    }
    if (request.fail_code() != 0) {
      return absl::Status(static_cast<absl::StatusCode>(request.fail_code()),
                          request.fail_message());
    }
    if (request.count() > 0) {
      response->set_payload(std::string(static_cast<size_t>(request.count()), 'r'));
      return absl::OkStatus();
    }
    response->set_payload(request.payload());
    std::vector<std::string> md;
    for (const auto& [k, v] : ctx.metadata()) md.push_back(absl::StrCat(k, "=", v));
    std::sort(md.begin(), md.end());
    for (std::string& s : md) response->add_metadata(std::move(s));
    response->set_timeout_nano(ctx.timeout_nano());
    return absl::OkStatus();
  }

  // Sleeps sleep_ms, sends `count` messages "<payload><i>", then fail_code (if set) or OK.
  absl::Status ServerStream(ServerContext& ctx, const EchoRequest& request,
                            ServerWriter<EchoResponse>* writer) override {
    Enter();
    absl::Cleanup leave = [this] { Leave(); };
    if (request.sleep_ms() > 0) {
      absl::Status s = ctx.SleepFor(absl::Milliseconds(request.sleep_ms()));
      if (!s.ok()) return s;
    }
    Hook hook;
    {
      absl::MutexLock lock(&mu_);
      hook = hook_;
    }
    if (hook) {
      absl::Status s = hook(ctx, request);
      if (!s.ok()) return s;
    }
    for (int i = 0; i < request.count(); ++i) {
      EchoResponse r;
      r.set_payload(absl::StrCat(request.payload(), i));
      absl::Status s = writer->Write(r);
      if (!s.ok()) return s;
    }
    if (request.fail_code() != 0) {
      return absl::Status(static_cast<absl::StatusCode>(request.fail_code()),
                          request.fail_message());
    }
    return absl::OkStatus();
  }

  // Concatenates the payloads; answers "messages=N" in metadata; a message with fail_code
  // ends the call with that status.
  absl::Status ClientStream(ServerContext& ctx, ServerReader<EchoRequest>* reader,
                            EchoResponse* response) override {
    EchoRequest request;
    int n = 0;
    while (reader->Read(&request)) {
      ++n;
      if (request.fail_code() != 0) {
        return absl::Status(static_cast<absl::StatusCode>(request.fail_code()),
                            request.fail_message());
      }
      response->mutable_payload()->append(request.payload());
    }
    response->add_metadata(absl::StrCat("messages=", n));
    return absl::OkStatus();
  }

  void Enter() {
    absl::MutexLock lock(&mu_);
    ++running_;
    max_running_ = std::max(max_running_, running_);
  }
  void Leave() {
    absl::MutexLock lock(&mu_);
    --running_;
  }

  int max_running() {
    absl::MutexLock lock(&mu_);
    return max_running_;
  }

  // Waits until `n` handlers have finished a SleepFor; their records.
  std::vector<Sleep> WaitForSleeps(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return sleeps_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
    return sleeps_;
  }

 private:
  absl::Mutex mu_;
  Hook hook_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
  int max_running_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Sleep> sleeps_ ABSL_GUARDED_BY(mu_);
};

// ---- A raw peer: writes and reads frames by hand ---------------------------------------

class RawPeer {
 public:
  explicit RawPeer(int fd) : fd_(fd) {}
  ~RawPeer() { Close(); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  bool Write(absl::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  bool WriteFrame(uint32_t stream_id, MessageType type, uint8_t flags, absl::string_view data) {
    return Write(Header(static_cast<uint32_t>(data.size()), stream_id, type, flags)) &&
           Write(data);
  }

  static std::string Header(uint32_t length, uint32_t stream_id, MessageType type,
                            uint8_t flags = 0) {
    FrameHeader h;
    h.length = length;
    h.stream_id = stream_id;
    h.type = static_cast<uint8_t>(type);
    h.flags = flags;
    char head[kFrameHeaderSize];
    EncodeFrameHeader(h, head);
    return std::string(head, kFrameHeaderSize);
  }

  // One frame, or false at end of stream or after `timeout`.
  bool ReadFrame(FrameHeader* h, std::string* data, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    std::string head;
    if (!ReadExactly(kFrameHeaderSize, &head, deadline)) return false;
    *h = DecodeFrameHeader(head.data());
    data->clear();
    return ReadExactly(h->length, data, deadline);
  }

  // The next frame must be a Response; false otherwise.
  bool ReadResponse(uint32_t* stream_id, ::ttrpc::Response* response,
                    absl::Duration timeout = absl::Seconds(10)) {
    FrameHeader h;
    std::string data;
    if (!ReadFrame(&h, &data, timeout)) return false;
    if (h.type != static_cast<uint8_t>(MessageType::kResponse)) return false;
    *stream_id = h.stream_id;
    return response->ParseFromString(data);
  }

  // True if nothing (not even end of stream) arrives within `d`.
  bool Quiet(absl::Duration d) {
    struct pollfd p = {fd_, POLLIN, 0};
    return poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(d))) == 0;
  }

  int fd() const { return fd_; }

 private:
  bool ReadExactly(size_t n, std::string* out, absl::Time deadline) {
    while (out->size() < n) {
      int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      struct pollfd p = {fd_, POLLIN, 0};
      if (ms <= 0 || poll(&p, 1, ms) <= 0) return false;
      char buf[65536];
      ssize_t r = read(fd_, buf, std::min(sizeof buf, n - out->size()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      out->append(buf, static_cast<size_t>(r));
    }
    return true;
  }

  int fd_;
};

std::string RequestBytes(absl::string_view service, absl::string_view method,
                         absl::string_view payload, int64_t timeout_nano = 0) {
  ::ttrpc::Request r;
  r.set_service(std::string(service));
  r.set_method(std::string(method));
  r.set_payload(std::string(payload));
  r.set_timeout_nano(timeout_nano);
  return r.SerializeAsString();
}

std::string EchoPayload(absl::string_view text) {
  EchoRequest e;
  e.set_payload(std::string(text));
  return e.SerializeAsString();
}

// ---- Fixture ---------------------------------------------------------------------------

class TtrpcTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(Server::Options()); }

  void StartServer(Server::Options options) {
    if (server_ != nullptr) server_->Shutdown();
    server_ = std::make_unique<Server>(options);
    ASSERT_TRUE(server_->Register(&service_).ok());
  }

  // A client connected to the server over a fresh socketpair.
  std::unique_ptr<Client> Connect() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return nullptr;
    if (!server_->ServeFd(fds[0]).ok()) {
      close(fds[1]);
      return nullptr;
    }
    return std::make_unique<Client>(fds[1]);
  }

  // A raw peer connected to the server.
  std::unique_ptr<RawPeer> ConnectRaw() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return nullptr;
    if (!server_->ServeFd(fds[0]).ok()) {
      close(fds[1]);
      return nullptr;
    }
    return std::make_unique<RawPeer>(fds[1]);
  }

  // One plain Echo on `client`: "" if it worked, else why not.
  static std::string Ping(Client& client, absl::string_view text = "ping") {
    EchoClient echo(&client);
    EchoRequest req;
    req.set_payload(std::string(text));
    EchoResponse resp;
    absl::Status s = echo.Echo(req, &resp, Bounded(absl::Seconds(10)));
    if (!s.ok()) return s.ToString();
    if (resp.payload() != text) return absl::StrCat("wrong payload \"", resp.payload(), "\"");
    return "";
  }

  void GracefulShutdown(absl::Duration running_for);
  void BurstRunsConcurrently(absl::string_view method, int calls);

  TestEcho service_;
  std::unique_ptr<Server> server_;
};

// ---- Unary calls ----------------------------------------------------------------------

TEST_F(TtrpcTest, UnaryCallCarriesPayloadMetadataAndTimeout) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  std::string seen_service, seen_method, seen_first_k1;
  service_.set_hook([&](ServerContext& ctx, const EchoRequest&) {
    seen_service = std::string(ctx.service());
    seen_method = std::string(ctx.method());
    seen_first_k1 = std::string(ctx.GetMetadata("k1"));
    return absl::OkStatus();
  });
  EchoRequest req;
  req.set_payload(Pattern(1000));
  EchoResponse resp;
  CallOptions options = Bounded(absl::Seconds(20));
  options.metadata = {{"k2", "v2"}, {"k1", "first"}, {"k1", "second"}};
  ASSERT_TRUE(echo.Echo(req, &resp, options).ok());
  EXPECT_EQ(resp.payload(), req.payload());
  EXPECT_THAT(resp.metadata(), ElementsAre("k1=first", "k1=second", "k2=v2"));
  EXPECT_EQ(resp.timeout_nano(), absl::ToInt64Nanoseconds(absl::Seconds(20)));
  EXPECT_EQ(seen_service, kEcho);
  EXPECT_EQ(seen_method, "Echo");
  EXPECT_EQ(seen_first_k1, "first");
}

TEST_F(TtrpcTest, CallWithoutTimeoutSendsNone) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  absl::Time deadline = absl::Now();
  service_.set_hook([&](ServerContext& ctx, const EchoRequest&) {
    deadline = ctx.deadline();
    return absl::OkStatus();
  });
  EchoClient echo(client.get());
  EchoRequest req;
  req.set_payload("x");
  EchoResponse resp;
  ASSERT_TRUE(echo.Echo(req, &resp).ok());
  EXPECT_EQ(resp.timeout_nano(), 0);
  EXPECT_EQ(deadline, absl::InfiniteFuture());
}

TEST_F(TtrpcTest, RawCallOnSerializedMessages) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<std::string> r = client->Call(kEcho, "Echo", EchoPayload("raw"), Bounded());
  ASSERT_TRUE(r.ok()) << r.status();
  EchoResponse resp;
  ASSERT_TRUE(resp.ParseFromString(*r));
  EXPECT_EQ(resp.payload(), "raw");
}

TEST_F(TtrpcTest, ThousandConcurrentCallsOnOneConnectionAreAnsweredCorrectly) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  constexpr int kCalls = 1000;
  absl::Notification go;
  std::atomic<int> wrong{0};
  std::vector<std::string> errors(kCalls);
  std::vector<std::thread> threads;
  threads.reserve(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      go.WaitForNotificationWithTimeout(absl::Seconds(30));
      EchoRequest req;
      req.set_payload(absl::StrCat("call-", i, "-", Pattern(static_cast<size_t>(i % 97), i)));
      CallOptions options = Bounded(absl::Seconds(60));
      options.metadata = {{"i", absl::StrCat(i)}};
      EchoResponse resp;
      absl::Status s = echo.Echo(req, &resp, options);
      if (!s.ok()) {
        errors[static_cast<size_t>(i)] = s.ToString();
        ++wrong;
      } else if (resp.payload() != req.payload() || resp.metadata_size() != 1 ||
                 resp.metadata(0) != absl::StrCat("i=", i)) {
        errors[static_cast<size_t>(i)] = "answer of another call";
        ++wrong;
      }
    });
  }
  go.Notify();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  for (int i = 0; i < kCalls; ++i) {
    if (!errors[static_cast<size_t>(i)].empty()) {
      ADD_FAILURE() << "call " << i << ": " << errors[static_cast<size_t>(i)];
      break;
    }
  }
  EXPECT_EQ(Ping(*client), "");
}

TEST_F(TtrpcTest, DeadlineExceededOnBothSides) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  EchoRequest req;
  req.set_sleep_ms(10000);
  EchoResponse resp;
  const absl::Time start = absl::Now();
  absl::Status s = echo.Echo(req, &resp, Bounded(absl::Milliseconds(100)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_GE(took, absl::Milliseconds(99));
  EXPECT_LT(took, absl::Milliseconds(1500)) << absl::FormatDuration(took);

  // The handler was told the timeout and its SleepFor ended at the deadline.
  std::vector<TestEcho::Sleep> sleeps = service_.WaitForSleeps(1);
  ASSERT_EQ(sleeps.size(), 1u);
  EXPECT_EQ(sleeps[0].status.code(), absl::StatusCode::kDeadlineExceeded) << sleeps[0].status;
  EXPECT_TRUE(sleeps[0].cancelled);
  EXPECT_EQ(sleeps[0].timeout_nano, absl::ToInt64Nanoseconds(absl::Milliseconds(100)));
  EXPECT_LE(sleeps[0].deadline - sleeps[0].entered, absl::Milliseconds(100));
  EXPECT_GT(sleeps[0].deadline, start);

  // The late answer does not disturb later calls.
  EXPECT_EQ(Ping(*client), "");
}

TEST_F(TtrpcTest, NonPositiveTimeoutFailsAtOnce) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<std::string> r =
      client->Call(kEcho, "Echo", EchoPayload("x"), Bounded(absl::ZeroDuration()));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Ping(*client), "");
}

TEST_F(TtrpcTest, UnknownServiceAndMethodAreUnimplemented) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<std::string> r = client->Call("no.such.Service", "Echo", "", Bounded());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("no.such.Service"));
  r = client->Call(kEcho, "NoSuchMethod", "", Bounded());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("NoSuchMethod"));
  EXPECT_EQ(Ping(*client), "");
}

TEST_F(TtrpcTest, HandlerErrorCodeAndMessageSurvive) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  EchoRequest req;
  req.set_fail_code(static_cast<int>(absl::StatusCode::kNotFound));
  req.set_fail_message("container c1: no such thing \xE2\x9C\x93");
  EchoResponse resp;
  absl::Status s = echo.Echo(req, &resp, Bounded());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "container c1: no such thing \xE2\x9C\x93");
}

TEST_F(TtrpcTest, EveryStatusCodeRoundTripsThroughTheWire) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  for (int code = 0; code <= 16; ++code) {
    EchoRequest req;
    req.set_payload("p");
    req.set_fail_code(code);
    req.set_fail_message(absl::StrCat("message for code ", code));
    EchoResponse resp;
    absl::Status s = echo.Echo(req, &resp, Bounded());
    EXPECT_EQ(static_cast<int>(s.code()), code) << s;
    if (code != 0) {
      EXPECT_EQ(s.message(), absl::StrCat("message for code ", code));
    } else {
      EXPECT_EQ(resp.payload(), "p");
    }
  }
}

TEST(StatusTest, ProtoConversionKeepsCodeAndMessageAndMapsUnknownCodes) {
  for (int code = 0; code <= 16; ++code) {
    absl::Status in(static_cast<absl::StatusCode>(code), code == 0 ? "" : "why");
    google::rpc::Status proto;
    StatusToProto(in, &proto);
    EXPECT_EQ(proto.code(), code);
    EXPECT_EQ(StatusFromProto(proto), in);
  }
  for (int code : {-1, 17, 100, 1 << 30}) {
    google::rpc::Status proto;
    proto.set_code(code);
    proto.set_message("odd");
    absl::Status s = StatusFromProto(proto);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnknown) << code;
    EXPECT_EQ(s.message(), "odd");
  }
}

// ---- The 4 MiB frame limit -------------------------------------------------------------

TEST_F(TtrpcTest, OverLimitRequestIsRefusedByTheClientAndTheConnectionStaysUsable) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  EchoRequest req;
  req.set_payload(std::string(kMaxFrameData + 1, 'x'));
  EchoResponse resp;
  absl::Status s = echo.Echo(req, &resp, Bounded());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(Ping(*client), "");
}

// With a raw peer in place of the server: nothing of the refused request reaches the wire,
// while a request of exactly 4 MiB does.
TEST(TtrpcClientTest, OverLimitRequestSendsNothingAndMaxSizeRequestIsSent) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  RawPeer peer(fds[0]);
  Client client(fds[1]);

  absl::StatusOr<std::string> r =
      client.Call("s", "m", std::string(kMaxFrameData, 'x'), Bounded());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_TRUE(peer.Quiet(absl::Milliseconds(100))) << "bytes of a refused request were sent";

  // A request whose Request message is exactly kMaxFrameData bytes.
  size_t payload_size = kMaxFrameData;
  while (RequestBytes("s", "m", std::string(payload_size, 'y'), 30'000'000'000).size() >
         kMaxFrameData) {
    --payload_size;
  }
  std::atomic<bool> ok{false};
  std::thread caller([&] {
    absl::StatusOr<std::string> r2 =
        client.Call("s", "m", std::string(payload_size, 'y'), Bounded(absl::Seconds(30)));
    ok = r2.ok() && *r2 == "answer";
  });
  FrameHeader h;
  std::string data;
  ASSERT_TRUE(peer.ReadFrame(&h, &data, absl::Seconds(20)));
  EXPECT_EQ(h.type, static_cast<uint8_t>(MessageType::kRequest));
  EXPECT_EQ(h.length, kMaxFrameData);
  EXPECT_EQ(h.stream_id % 2, 1u);
  ::ttrpc::Request req;
  ASSERT_TRUE(req.ParseFromString(data));
  EXPECT_EQ(req.payload().size(), payload_size);
  ::ttrpc::Response resp;
  resp.set_payload("answer");
  ASSERT_TRUE(peer.WriteFrame(h.stream_id, MessageType::kResponse, 0, resp.SerializeAsString()));
  caller.join();
  EXPECT_TRUE(ok);
}

TEST(TtrpcClientTest, OverLimitResponseIsResourceExhaustedAndTheConnectionStaysUsable) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  RawPeer peer(fds[0]);
  Client client(fds[1]);
  absl::Status first;
  std::thread caller([&] { first = client.Call("s", "m", "q1", Bounded()).status(); });
  FrameHeader h;
  std::string data;
  ASSERT_TRUE(peer.ReadFrame(&h, &data));
  // The over-limit frame is written from another thread: the client need not read all of
  // it before the call ends (it reads only while a caller waits).
  const uint32_t big = kMaxFrameData + 1000;
  std::atomic<bool> written{false};
  std::thread writer([&] {
    written = peer.Write(RawPeer::Header(big, h.stream_id, MessageType::kResponse)) &&
              peer.Write(std::string(big, '\x01'));
  });
  caller.join();
  EXPECT_EQ(first.code(), absl::StatusCode::kResourceExhausted) << first;

  absl::StatusOr<std::string> second;
  std::thread caller2([&] { second = client.Call("s", "m", "q2", Bounded()); });
  ASSERT_TRUE(peer.ReadFrame(&h, &data));
  writer.join();  // the rest of the big frame was drained by the second call
  EXPECT_TRUE(written);
  ::ttrpc::Response resp;
  resp.set_payload("fine");
  ASSERT_TRUE(peer.WriteFrame(h.stream_id, MessageType::kResponse, 0, resp.SerializeAsString()));
  caller2.join();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, "fine");
}

TEST_F(TtrpcTest, OverLimitHandlerResponseIsResourceExhausted) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  EchoRequest req;
  req.set_count(static_cast<int>(kMaxFrameData + 1));
  EchoResponse resp;
  absl::Status s = echo.Echo(req, &resp, Bounded());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  // A big response under the limit still goes through.
  req.set_count(3 << 20);
  s = echo.Echo(req, &resp, Bounded());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(resp.payload().size(), 3u << 20);
  EXPECT_EQ(Ping(*client), "");
}

// ---- A misbehaving client, byte by byte --------------------------------------------------

TEST_F(TtrpcTest, RawOverLimitFrameIsAnsweredOnItsStreamAndTheConnectionKeepsWorking) {
  std::unique_ptr<RawPeer> peer = ConnectRaw();
  ASSERT_NE(peer, nullptr);
  const uint32_t big = kMaxFrameData + 1;
  ASSERT_TRUE(peer->Write(RawPeer::Header(big, 7, MessageType::kRequest)));
  ASSERT_TRUE(peer->Write(std::string(big, 'x')));
  uint32_t id = 0;
  ::ttrpc::Response resp;
  ASSERT_TRUE(peer->ReadResponse(&id, &resp));
  EXPECT_EQ(id, 7u);
  EXPECT_EQ(resp.status().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));

  ASSERT_TRUE(peer->WriteFrame(9, MessageType::kRequest, 0,
                               RequestBytes(kEcho, "Echo", EchoPayload("after"))));
  ASSERT_TRUE(peer->ReadResponse(&id, &resp));
  EXPECT_EQ(id, 9u);
  EXPECT_EQ(resp.status().code(), 0) << resp.status().message();
  EchoResponse echo;
  ASSERT_TRUE(echo.ParseFromString(resp.payload()));
  EXPECT_EQ(echo.payload(), "after");
}

TEST_F(TtrpcTest, RawUnparsableRequestIsInvalidArgument) {
  std::unique_ptr<RawPeer> peer = ConnectRaw();
  ASSERT_NE(peer, nullptr);
  ASSERT_TRUE(peer->WriteFrame(1, MessageType::kRequest, 0, "\xff\xff\xff\xff"));
  uint32_t id = 0;
  ::ttrpc::Response resp;
  ASSERT_TRUE(peer->ReadResponse(&id, &resp));
  EXPECT_EQ(id, 1u);
  EXPECT_EQ(resp.status().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  // The method's own message that does not parse is INVALID_ARGUMENT too.
  ASSERT_TRUE(peer->WriteFrame(3, MessageType::kRequest, 0,
                               RequestBytes(kEcho, "Echo", "\x0a\xff\xff")));
  ASSERT_TRUE(peer->ReadResponse(&id, &resp));
  EXPECT_EQ(id, 3u);
  EXPECT_EQ(resp.status().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  ASSERT_TRUE(peer->WriteFrame(5, MessageType::kRequest, 0,
                               RequestBytes(kEcho, "Echo", EchoPayload("ok"))));
  ASSERT_TRUE(peer->ReadResponse(&id, &resp));
  EXPECT_EQ(id, 5u);
  EXPECT_EQ(resp.status().code(), 0);
}

TEST_F(TtrpcTest, RawEvenStreamIdIsInvalidArgument) {
  std::unique_ptr<RawPeer> peer = ConnectRaw();
  ASSERT_NE(peer, nullptr);
  ASSERT_TRUE(peer->WriteFrame(2, MessageType::kRequest, 0,
                               RequestBytes(kEcho, "Echo", EchoPayload("even"))));
  uint32_t id = 0;
  ::ttrpc::Response resp;
  ASSERT_TRUE(peer->ReadResponse(&id, &resp));
  EXPECT_EQ(id, 2u);
  EXPECT_EQ(resp.status().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  ASSERT_TRUE(peer->WriteFrame(3, MessageType::kRequest, 0,
                               RequestBytes(kEcho, "Echo", EchoPayload("odd"))));
  ASSERT_TRUE(peer->ReadResponse(&id, &resp));
  EXPECT_EQ(id, 3u);
  EXPECT_EQ(resp.status().code(), 0);
}

TEST_F(TtrpcTest, RawStreamIdInUseIsInvalidArgument) {
  std::unique_ptr<RawPeer> peer = ConnectRaw();
  ASSERT_NE(peer, nullptr);
  EchoRequest slow;
  slow.set_sleep_ms(500);
  slow.set_payload("slow");
  ASSERT_TRUE(peer->WriteFrame(1, MessageType::kRequest, 0,
                               RequestBytes(kEcho, "Echo", slow.SerializeAsString())));
  ASSERT_TRUE(peer->WriteFrame(1, MessageType::kRequest, 0,
                               RequestBytes(kEcho, "Echo", EchoPayload("dup"))));
  uint32_t id = 0;
  ::ttrpc::Response resp;
  ASSERT_TRUE(peer->ReadResponse(&id, &resp));
  EXPECT_EQ(id, 1u);
  EXPECT_EQ(resp.status().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  ASSERT_TRUE(peer->ReadResponse(&id, &resp));
  EXPECT_EQ(id, 1u);
  EXPECT_EQ(resp.status().code(), 0);
  EchoResponse echo;
  ASSERT_TRUE(echo.ParseFromString(resp.payload()));
  EXPECT_EQ(echo.payload(), "slow");
}

TEST_F(TtrpcTest, RawFramesOfOtherTypesAreIgnored) {
  std::unique_ptr<RawPeer> peer = ConnectRaw();
  ASSERT_NE(peer, nullptr);
  ASSERT_TRUE(peer->WriteFrame(1, MessageType::kResponse, 0, "not for a server"));
  ASSERT_TRUE(peer->WriteFrame(3, static_cast<MessageType>(0x7f), 0xff, "unknown type"));
  ASSERT_TRUE(peer->WriteFrame(5, MessageType::kData, 0, "data for no stream"));
  ASSERT_TRUE(peer->WriteFrame(7, MessageType::kRequest, 0,
                               RequestBytes(kEcho, "Echo", EchoPayload("seven"))));
  uint32_t id = 0;
  ::ttrpc::Response resp;
  ASSERT_TRUE(peer->ReadResponse(&id, &resp));
  EXPECT_EQ(id, 7u);
  EXPECT_EQ(resp.status().code(), 0);
}

TEST_F(TtrpcTest, RandomGarbageThenCloseDoesNotStopTheServer) {
  std::unique_ptr<Client> bystander = Connect();
  ASSERT_NE(bystander, nullptr);
  std::mt19937 rng(12345);
  for (int round = 0; round < 20; ++round) {
    std::unique_ptr<RawPeer> peer = ConnectRaw();
    ASSERT_NE(peer, nullptr);
    std::string garbage(static_cast<size_t>(1 + rng() % 70000), '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    if (round % 4 == 1) {
      // A plausible header promising more data than will come.
      garbage = RawPeer::Header(1 << 20, 1, MessageType::kRequest) + garbage.substr(0, 100);
    } else if (round % 4 == 2) {
      // A valid request, then garbage.
      garbage = RawPeer::Header(3, 1, MessageType::kRequest) + "abc" + garbage;
    }
    peer->Write(garbage);  // the server may close first: not checked
    peer->Close();
    ASSERT_EQ(Ping(*bystander, absl::StrCat("round ", round)), "");
  }
  std::unique_ptr<Client> newcomer = Connect();
  ASSERT_NE(newcomer, nullptr);
  EXPECT_EQ(Ping(*newcomer), "");
}

// ---- Connection ends and shutdown --------------------------------------------------------

TEST_F(TtrpcTest, ServerShutdownFailsPendingCallsPromptlyAndLaterCallsFast) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  absl::Status pending;
  absl::Time pending_returned;
  std::thread caller([&] {
    EchoRequest req;
    req.set_sleep_ms(20000);
    EchoResponse resp;
    pending = echo.Echo(req, &resp, Bounded());
    pending_returned = absl::Now();
  });
  // Wait until the handler runs.
  for (absl::Time until = absl::Now() + absl::Seconds(10);
       server_->in_flight() == 0 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_EQ(server_->in_flight(), 1);
  const absl::Time shutdown_started = absl::Now();
  server_->Shutdown(absl::ZeroDuration());
  caller.join();
  EXPECT_EQ(pending.code(), absl::StatusCode::kUnavailable) << pending;
  EXPECT_LT(pending_returned - shutdown_started, absl::Seconds(1));
  // The handler was cancelled rather than left to run its 20 s.
  std::vector<TestEcho::Sleep> sleeps = service_.WaitForSleeps(1);
  ASSERT_EQ(sleeps.size(), 1u);
  EXPECT_EQ(sleeps[0].status.code(), absl::StatusCode::kCancelled) << sleeps[0].status;

  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> later = client->Call(kEcho, "Echo", EchoPayload("x"), Bounded());
  EXPECT_EQ(later.status().code(), absl::StatusCode::kUnavailable) << later.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  EXPECT_TRUE(client->closed());
}

TEST(TtrpcClientTest, PeerClosingItsEndFailsPendingCallsPromptlyAndLaterCallsFast) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  RawPeer peer(fds[0]);
  Client client(fds[1]);
  constexpr int kPending = 5;
  std::vector<absl::Status> results(kPending);
  std::vector<absl::Time> returned(kPending);
  std::vector<std::thread> callers;
  for (int i = 0; i < kPending; ++i) {
    callers.emplace_back([&, i] {
      results[static_cast<size_t>(i)] = client.Call("s", "m", "q", Bounded()).status();
      returned[static_cast<size_t>(i)] = absl::Now();
    });
  }
  for (int i = 0; i < kPending; ++i) {  // every request reached the peer
    FrameHeader h;
    std::string data;
    ASSERT_TRUE(peer.ReadFrame(&h, &data));
  }
  const absl::Time closed = absl::Now();
  peer.Close();
  for (std::thread& t : callers) t.join();
  for (int i = 0; i < kPending; ++i) {
    EXPECT_EQ(results[static_cast<size_t>(i)].code(), absl::StatusCode::kUnavailable)
        << results[static_cast<size_t>(i)];
    EXPECT_LT(returned[static_cast<size_t>(i)] - closed, absl::Seconds(1));
  }
  const absl::Time start = absl::Now();
  absl::Status later = client.Call("s", "m", "q", Bounded()).status();
  EXPECT_EQ(later.code(), absl::StatusCode::kUnavailable) << later;
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  EXPECT_TRUE(client.closed());
}

TEST_F(TtrpcTest, ClientClosingMidCallCancelsTheHandler) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  absl::Status pending;
  std::thread caller([&] {
    EchoRequest req;
    req.set_sleep_ms(20000);
    EchoResponse resp;
    pending = echo.Echo(req, &resp);  // no timeout: only the close ends it
  });
  for (absl::Time until = absl::Now() + absl::Seconds(10);
       server_->in_flight() == 0 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_EQ(server_->in_flight(), 1);
  const absl::Time closed = absl::Now();
  client->Close();
  caller.join();
  EXPECT_EQ(pending.code(), absl::StatusCode::kUnavailable) << pending;
  std::vector<TestEcho::Sleep> sleeps = service_.WaitForSleeps(1, absl::Seconds(5));
  ASSERT_EQ(sleeps.size(), 1u) << "the handler was not cancelled";
  EXPECT_EQ(sleeps[0].status.code(), absl::StatusCode::kCancelled) << sleeps[0].status;
  EXPECT_TRUE(sleeps[0].cancelled);
  EXPECT_LT(absl::Now() - closed, absl::Seconds(5));
  for (absl::Time until = absl::Now() + absl::Seconds(10);
       server_->in_flight() != 0 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_EQ(server_->in_flight(), 0);
}

TEST_F(TtrpcTest, CancelledIsSeenByAHandlerThatPolls) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  absl::Notification entered, saw_cancel;
  service_.set_hook([&](ServerContext& ctx, const EchoRequest&) {
    entered.Notify();
    for (absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
      if (ctx.cancelled()) {
        saw_cancel.Notify();
        return absl::CancelledError("seen");
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    return absl::OkStatus();
  });
  std::thread caller([&] { client->Call(kEcho, "Echo", EchoPayload("x")).status().IgnoreError(); });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  client->Close();
  caller.join();
  EXPECT_TRUE(saw_cancel.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

// Shutdown() while a call runs: the call completes OK, calls made after Shutdown began get
// UNAVAILABLE, and Shutdown returns only after the call. `running_for`: how long the call
// has run when Shutdown starts.
void TtrpcTest::GracefulShutdown(absl::Duration running_for) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  absl::Notification entered, release;
  std::atomic<int64_t> handler_done_ns{0};
  service_.set_hook([&](ServerContext& ctx, const EchoRequest& req) {
    if (req.payload() != "in-flight") return absl::OkStatus();
    entered.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(20));
    absl::Status s = ctx.SleepFor(absl::Milliseconds(300));
    handler_done_ns = absl::ToUnixNanos(absl::Now());
    return s;
  });
  absl::Status in_flight;
  std::string in_flight_payload;
  std::thread caller([&] {
    EchoRequest req;
    req.set_payload("in-flight");
    EchoResponse resp;
    in_flight = echo.Echo(req, &resp, Bounded());
    in_flight_payload = resp.payload();
  });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::SleepFor(running_for);

  absl::Time shutdown_returned;
  std::thread stopper([&] {
    server_->Shutdown();
    shutdown_returned = absl::Now();
  });
  // New calls on the open connection are refused once the shutdown has begun.
  absl::Status refused;
  for (absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
    refused = client->Call(kEcho, "Echo", EchoPayload("new"), Bounded(absl::Seconds(5))).status();
    if (!refused.ok()) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  // New connections are refused as well.
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  EXPECT_FALSE(server_->ServeFd(fds[0]).ok());
  {
    Client late(fds[1]);
    absl::Status s = late.Call(kEcho, "Echo", EchoPayload("late"), Bounded(absl::Seconds(5))).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  }

  release.Notify();
  caller.join();
  stopper.join();
  EXPECT_TRUE(in_flight.ok()) << in_flight;
  EXPECT_EQ(in_flight_payload, "in-flight");
  ASSERT_NE(handler_done_ns.load(), 0);
  EXPECT_GE(shutdown_returned, absl::FromUnixNanos(handler_done_ns.load()));
}

TEST_F(TtrpcTest, GracefulShutdownRightAfterACallStarted) {
  GracefulShutdown(absl::ZeroDuration());
}

TEST_F(TtrpcTest, GracefulShutdownWhileALongCallRuns) {
  GracefulShutdown(absl::Milliseconds(100));
}

TEST_F(TtrpcTest, ShutdownGraceCancelsCallsThatOutlastIt) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  absl::Status pending;
  std::thread caller([&] {
    EchoRequest req;
    req.set_sleep_ms(20000);
    pending = client->Call(kEcho, "Echo", req.SerializeAsString(), Bounded()).status();
  });
  for (absl::Time until = absl::Now() + absl::Seconds(10);
       server_->in_flight() == 0 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Milliseconds(200));
  const absl::Duration took = absl::Now() - start;
  caller.join();
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Seconds(3));
  EXPECT_FALSE(pending.ok());
  std::vector<TestEcho::Sleep> sleeps = service_.WaitForSleeps(1);
  ASSERT_EQ(sleeps.size(), 1u);
  EXPECT_EQ(sleeps[0].status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(server_->in_flight(), 0);
}

// ---- The worker pool ------------------------------------------------------------------------

// Unary calls run on the connection's reader, and slow ones are handed to new threads: at
// most max_workers beyond the reader (server.h). With 2, six 200 ms calls on one
// connection run three at a time: two waves.
TEST_F(TtrpcTest, MaxWorkersBoundsConcurrentUnaryHandlers) {
  Server::Options options;
  options.max_workers = 2;
  StartServer(options);
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  constexpr int kCalls = 6;
  std::vector<absl::Status> results(kCalls);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      EchoRequest req;
      req.set_sleep_ms(200);
      req.set_payload(absl::StrCat(i));
      EchoResponse resp;
      results[static_cast<size_t>(i)] = echo.Echo(req, &resp, Bounded());
      if (results[static_cast<size_t>(i)].ok() && resp.payload() != absl::StrCat(i)) {
        results[static_cast<size_t>(i)] = absl::InternalError("wrong answer");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const absl::Duration took = absl::Now() - start;
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_LE(service_.max_running(), options.max_workers + 1);
  EXPECT_GE(service_.max_running(), 2);  // slow calls do not wait for each other
  EXPECT_GE(took, absl::Milliseconds(390)) << absl::FormatDuration(took);
  EXPECT_LT(took, absl::Seconds(5)) << absl::FormatDuration(took);
}

// Streaming calls run on the pool of max_workers threads: with 2, six 200 ms calls take
// three waves.
TEST_F(TtrpcTest, MaxWorkersBoundsConcurrentStreamingHandlers) {
  Server::Options options;
  options.max_workers = 2;
  StartServer(options);
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  constexpr int kCalls = 6;
  std::vector<std::string> results(kCalls);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      EchoRequest req;
      req.set_sleep_ms(200);
      req.set_payload(absl::StrCat(i, "-"));
      req.set_count(1);
      absl::StatusOr<std::unique_ptr<ClientStream>> stream = echo.ServerStream(req, Bounded());
      std::string& result = results[static_cast<size_t>(i)];
      if (!stream.ok()) {
        result = stream.status().ToString();
        return;
      }
      std::string bytes;
      EchoResponse r;
      if (!(*stream)->Recv(&bytes) || !r.ParseFromString(bytes) ||
          r.payload() != absl::StrCat(i, "-0")) {
        result = "wrong or no message";
      }
      absl::StatusOr<std::string> end = (*stream)->Finish();
      if (!end.ok()) result = end.status().ToString();
    });
  }
  for (std::thread& t : threads) t.join();
  const absl::Duration took = absl::Now() - start;
  for (const std::string& r : results) EXPECT_EQ(r, "");
  EXPECT_EQ(service_.max_running(), 2);
  EXPECT_GE(took, absl::Milliseconds(590)) << absl::FormatDuration(took);
  EXPECT_LT(took, absl::Seconds(5)) << absl::FormatDuration(took);
}

// Handlers of a burst of calls run at once, also when the server already has an idle
// thread: every handler waits for all the others, so a server that queues some behind a
// busy thread makes them time out ("only N handlers ran at once").
void TtrpcTest::BurstRunsConcurrently(absl::string_view method, int calls) {
  {
    std::unique_ptr<Client> client = Connect();
    ASSERT_NE(client, nullptr);
    ASSERT_EQ(Ping(*client), "");  // leaves an idle thread behind
    EchoRequest warm;
    warm.set_count(1);
    absl::StatusOr<std::unique_ptr<ClientStream>> stream =
        EchoClient(client.get()).ServerStream(warm, Bounded());
    ASSERT_TRUE(stream.ok());
    ASSERT_TRUE((*stream)->Finish().ok());
  }
  absl::Mutex mu;
  int arrived = 0;
  service_.set_hook([&](ServerContext&, const EchoRequest& req) {
    if (req.payload() != "burst") return absl::OkStatus();
    absl::MutexLock lock(&mu);
    ++arrived;
    auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return arrived >= calls; };
    if (!mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(3))) {
      return absl::DeadlineExceededError(absl::StrCat("only ", arrived, " handlers ran at once"));
    }
    return absl::OkStatus();
  });
  for (int round = 0; round < 3; ++round) {
    {
      absl::MutexLock lock(&mu);
      arrived = 0;
    }
    // The burst comes from a raw peer in one write, so the server reads it in one go.
    std::unique_ptr<RawPeer> peer = ConnectRaw();
    ASSERT_NE(peer, nullptr);
    EchoRequest echo;
    echo.set_payload("burst");
    echo.set_count(1);
    const std::string req = RequestBytes(kEcho, method, echo.SerializeAsString());
    std::string burst;
    for (int i = 0; i < calls; ++i) {
      burst += RawPeer::Header(static_cast<uint32_t>(req.size()), static_cast<uint32_t>(2 * i + 1),
                               MessageType::kRequest, method == "Echo" ? 0 : kFlagRemoteClosed) +
               req;
    }
    ASSERT_TRUE(peer->Write(burst));
    int ok = 0;
    std::string first_error;
    for (int answered = 0; answered < calls;) {
      FrameHeader h;
      std::string data;
      ASSERT_TRUE(peer->ReadFrame(&h, &data, absl::Seconds(30)));
      if (h.type != static_cast<uint8_t>(MessageType::kResponse)) continue;  // stream Data
      ++answered;
      ::ttrpc::Response resp;
      ASSERT_TRUE(resp.ParseFromString(data));
      if (resp.status().code() == 0) {
        ++ok;
      } else if (first_error.empty()) {
        first_error = resp.status().message();
      }
    }
    ASSERT_EQ(ok, calls) << method << ", round " << round << ": " << first_error;
  }
}

TEST_F(TtrpcTest, BurstOfUnaryCallsRunsConcurrently) { BurstRunsConcurrently("Echo", 8); }

TEST_F(TtrpcTest, BurstOfStreamingCallsRunsConcurrently) {
  BurstRunsConcurrently("ServerStream", 8);
}

// ---- Streaming ------------------------------------------------------------------------------

TEST_F(TtrpcTest, ServerStreamingDeliversThousandMessagesInOrderThenOk) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  EchoRequest req;
  req.set_payload("m");
  req.set_count(1000);
  absl::StatusOr<std::unique_ptr<ClientStream>> stream = echo.ServerStream(req, Bounded());
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::string bytes;
  int n = 0;
  while ((*stream)->Recv(&bytes)) {
    EchoResponse r;
    ASSERT_TRUE(r.ParseFromString(bytes));
    ASSERT_EQ(r.payload(), absl::StrCat("m", n)) << "message " << n;
    ++n;
  }
  EXPECT_EQ(n, 1000);
  absl::StatusOr<std::string> end = (*stream)->Finish();
  EXPECT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(Ping(*client), "");
}

TEST_F(TtrpcTest, ServerStreamingEndedByAnError) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  EchoRequest req;
  req.set_payload("e");
  req.set_count(3);
  req.set_fail_code(static_cast<int>(absl::StatusCode::kDataLoss));
  req.set_fail_message("disk gone");
  absl::StatusOr<std::unique_ptr<ClientStream>> stream = echo.ServerStream(req, Bounded());
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::string bytes;
  std::vector<std::string> got;
  while ((*stream)->Recv(&bytes)) {
    EchoResponse r;
    ASSERT_TRUE(r.ParseFromString(bytes));
    got.push_back(r.payload());
  }
  EXPECT_THAT(got, ElementsAre("e0", "e1", "e2"));
  absl::StatusOr<std::string> end = (*stream)->Finish();
  EXPECT_EQ(end.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(end.status().message(), "disk gone");
}

TEST_F(TtrpcTest, ClientStreamingManyMessages) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  absl::StatusOr<std::unique_ptr<ClientStream>> stream = echo.ClientStream(Bounded());
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::string want;
  constexpr int kMessages = 2000;
  for (int i = 0; i < kMessages; ++i) {
    EchoRequest req;
    req.set_payload(absl::StrCat("[", i, "]"));
    want += req.payload();
    ASSERT_TRUE((*stream)->Send(req.SerializeAsString()).ok()) << i;
  }
  absl::StatusOr<std::string> end = (*stream)->Finish();
  ASSERT_TRUE(end.ok()) << end.status();
  EchoResponse resp;
  ASSERT_TRUE(resp.ParseFromString(*end));
  EXPECT_EQ(resp.payload(), want);
  EXPECT_THAT(resp.metadata(), ElementsAre(absl::StrCat("messages=", kMessages)));
  EXPECT_EQ(Ping(*client), "");
}

TEST_F(TtrpcTest, ClientStreamingEmptyStream) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  absl::StatusOr<std::unique_ptr<ClientStream>> stream = echo.ClientStream(Bounded());
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::string> end = (*stream)->Finish();
  ASSERT_TRUE(end.ok()) << end.status();
  EchoResponse resp;
  ASSERT_TRUE(resp.ParseFromString(*end));
  EXPECT_THAT(resp.metadata(), ElementsAre("messages=0"));
}

TEST_F(TtrpcTest, ClientStreamingEndedByAHandlerError) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  absl::StatusOr<std::unique_ptr<ClientStream>> stream = echo.ClientStream(Bounded());
  ASSERT_TRUE(stream.ok()) << stream.status();
  EchoRequest req;
  req.set_payload("a");
  ASSERT_TRUE((*stream)->Send(req.SerializeAsString()).ok());
  req.set_fail_code(static_cast<int>(absl::StatusCode::kAborted));
  req.set_fail_message("stop");
  ASSERT_TRUE((*stream)->Send(req.SerializeAsString()).ok());
  absl::StatusOr<std::string> end = (*stream)->Finish();
  EXPECT_EQ(end.status().code(), absl::StatusCode::kAborted) << end.status();
  EXPECT_EQ(end.status().message(), "stop");
  EXPECT_EQ(Ping(*client), "");
}

TEST_F(TtrpcTest, ClientStreamingUnparsableMessageIsInvalidArgument) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoClient echo(client.get());
  absl::StatusOr<std::unique_ptr<ClientStream>> stream = echo.ClientStream(Bounded());
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->Send("\x0a\xff").ok());
  absl::StatusOr<std::string> end = (*stream)->Finish();
  EXPECT_EQ(end.status().code(), absl::StatusCode::kInvalidArgument) << end.status();
}

// ---- Registration ---------------------------------------------------------------------------

TEST(ServerRegisterTest, SecondServiceOfTheSameNameIsAlreadyExists) {
  TestEcho a, b;
  Server server;
  ASSERT_TRUE(server.Register(&a).ok());
  absl::Status s = server.Register(&b);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(kEcho));
}

TEST(ServerRegisterTest, MethodNotOverriddenIsUnimplementedNamingIt) {
  ::ttrpc::interop::EchoTtrpc::Service bare;  // overrides nothing
  Server server;
  ASSERT_TRUE(server.Register(&bare).ok());
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ASSERT_TRUE(server.ServeFd(fds[0]).ok());
  Client client(fds[1]);
  EchoClient echo(&client);
  EchoRequest req;
  EchoResponse resp;
  absl::Status s = echo.Echo(req, &resp, Bounded());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("ttrpc.interop.Echo/Echo"));
  absl::StatusOr<std::unique_ptr<ClientStream>> stream = echo.ServerStream(req, Bounded());
  ASSERT_TRUE(stream.ok());
  absl::StatusOr<std::string> end = (*stream)->Finish();
  EXPECT_EQ(end.status().code(), absl::StatusCode::kUnimplemented) << end.status();
  EXPECT_THAT(std::string(end.status().message()), HasSubstr("ServerStream"));
}

// ---- Other transports -----------------------------------------------------------------------

std::string ShortTempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base != nullptr && std::strlen(base) < 60 ? base : "/tmp",
                                  "/ttrpc-test-XXXXXX");
  return mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
}

TEST_F(TtrpcTest, RealUnixSocketListenAndDial) {
  const std::string dir = ShortTempDir();
  ASSERT_FALSE(dir.empty());
  absl::Cleanup remove = [&] { (void)!system(absl::StrCat("rm -rf '", dir, "'").c_str()); };
  const std::string address = absl::StrCat("unix://", dir, "/ttrpc.sock");
  ASSERT_TRUE(server_->Listen(address).ok());
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Dial(address, absl::Seconds(5));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(Ping(**client), "");
  // Concurrent calls on one connection, and several connections.
  absl::StatusOr<std::unique_ptr<Client>> second = Client::Dial(address, absl::Seconds(5));
  ASSERT_TRUE(second.ok()) << second.status();
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int i = 0; i < 64; ++i) {
    threads.emplace_back([&, i] {
      Client& c = i % 2 == 0 ? **client : **second;
      if (!Ping(c, absl::StrCat("u", i, Pattern(static_cast<size_t>(i) * 100, i))).empty()) ++bad;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  // A large message through the socket buffers.
  EchoClient echo(client->get());
  EchoRequest req;
  req.set_payload(Pattern(3 << 20, 5));
  EchoResponse resp;
  ASSERT_TRUE(echo.Echo(req, &resp, Bounded()).ok());
  EXPECT_EQ(resp.payload(), req.payload());
}

TEST(TtrpcDialTest, DialOfABadAddressFails) {
  absl::StatusOr<std::unique_ptr<Client>> c = Client::Dial("tcp://localhost:1", absl::Seconds(1));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  c = Client::Dial("unix:///nonexistent-dir-for-ttrpc-test/x.sock", absl::Milliseconds(200));
  EXPECT_FALSE(c.ok());
}

// A pty pair in raw mode: a byte stream that is not a socket, like a virtio-serial port.
TEST_F(TtrpcTest, NonSocketStreamWorks) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0) << strerror(errno);
  ASSERT_EQ(grantpt(master), 0);
  ASSERT_EQ(unlockpt(master), 0);
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(slave, 0) << strerror(errno);
  struct termios t;
  ASSERT_EQ(tcgetattr(slave, &t), 0);
  cfmakeraw(&t);
  ASSERT_EQ(tcsetattr(slave, TCSANOW, &t), 0);
  ASSERT_TRUE(server_->ServeFd(master).ok());
  {
    Client client(slave);
    EXPECT_EQ(Ping(client), "");
    // Every byte value, in a message bigger than the pty's buffers.
    EchoClient echo(&client);
    EchoRequest req;
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    for (int i = 0; i < 1024; ++i) req.mutable_payload()->append(all);
    EchoResponse resp;
    absl::Status s = echo.Echo(req, &resp, Bounded());
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(resp.payload(), req.payload());
    // Concurrent calls.
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int i = 0; i < 32; ++i) {
      threads.emplace_back([&, i] {
        if (!Ping(client, absl::StrCat("pty-", i)).empty()) ++bad;
      });
    }
    for (std::thread& th : threads) th.join();
    EXPECT_EQ(bad.load(), 0);
    // Streaming.
    EchoRequest sreq;
    sreq.set_payload("s");
    sreq.set_count(100);
    absl::StatusOr<std::unique_ptr<ClientStream>> stream = echo.ServerStream(sreq, Bounded());
    ASSERT_TRUE(stream.ok());
    std::string bytes;
    int n = 0;
    while ((*stream)->Recv(&bytes)) ++n;
    EXPECT_EQ(n, 100);
    EXPECT_TRUE((*stream)->Finish().ok());
  }
  // The client is gone: the server notices and has nothing in flight.
  for (absl::Time until = absl::Now() + absl::Seconds(5);
       server_->in_flight() != 0 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_EQ(server_->in_flight(), 0);
  // Shutdown does not hang on the pty connection.
  const absl::Time start = absl::Now();
  server_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(TtrpcTest, ServerShutdownEndsAPtyClientsCalls) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  ASSERT_EQ(grantpt(master), 0);
  ASSERT_EQ(unlockpt(master), 0);
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(slave, 0);
  struct termios t;
  ASSERT_EQ(tcgetattr(slave, &t), 0);
  cfmakeraw(&t);
  ASSERT_EQ(tcsetattr(slave, TCSANOW, &t), 0);
  ASSERT_TRUE(server_->ServeFd(master).ok());
  Client client(slave);
  absl::Status pending;
  std::thread caller([&] {
    EchoRequest req;
    req.set_sleep_ms(20000);
    pending = client.Call(kEcho, "Echo", req.SerializeAsString(), Bounded()).status();
  });
  for (absl::Time until = absl::Now() + absl::Seconds(10);
       server_->in_flight() == 0 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::ZeroDuration());
  caller.join();
  EXPECT_EQ(pending.code(), absl::StatusCode::kUnavailable) << pending;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata

namespace kata {
namespace ttrpc {
namespace {

// ServeFd's on_closed runs once when the peer leaves, and only then: this is how the agent
// learns to reopen a virtio-serial port.
TEST(ServeFdTest, OnClosedRunsOnceWhenThePeerLeaves) {
  TestEcho service;
  Server server;
  ASSERT_TRUE(server.Register(&service).ok());
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  std::atomic<int> closed{0};
  absl::Notification ended;
  ASSERT_TRUE(server.ServeFd(fds[0], [&] {
                       ++closed;
                       ended.Notify();
                     }).ok());
  {
    Client client(fds[1]);
    EchoClient echo(&client);
    EchoRequest req;
    req.set_payload("x");
    EchoResponse resp;
    ASSERT_TRUE(echo.Echo(req, &resp).ok());
    EXPECT_EQ(closed.load(), 0);  // a live connection has not ended
  }  // the client closes its end
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
  server.Shutdown();
  EXPECT_EQ(closed.load(), 1);
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
