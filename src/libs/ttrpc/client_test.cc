// The ttRPC client end to end, against the server in the same process: unary calls (payload,
// metadata, timeouts, statuses), the 4 MiB frame limit, a peer that goes away, and the
// transports (socketpair, a real unix socket, a pty standing in for a virtio-serial port).
#include "src/libs/ttrpc/client.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/server.h"
#include "src/libs/ttrpc/status.h"
#include "src/libs/ttrpc/test_util.h"

namespace kata {
namespace ttrpc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using TtrpcTest = TtrpcFixture;

// ---- Unary calls -----------------------------------------------------------------------

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
  auto [peer_fd, client_fd] = SocketPair();
  ASSERT_TRUE(client_fd.valid());
  RawPeer peer(std::move(peer_fd));
  Client client(client_fd.release());

  absl::StatusOr<std::string> r = client.Call("s", "m", std::string(kMaxFrameData, 'x'), Bounded());
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
  auto [peer_fd, client_fd] = SocketPair();
  ASSERT_TRUE(client_fd.valid());
  RawPeer peer(std::move(peer_fd));
  Client client(client_fd.release());
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

// ---- The server goes away ----------------------------------------------------------------

TEST(TtrpcClientTest, PeerClosingItsEndFailsPendingCallsPromptlyAndLaterCallsFast) {
  auto [peer_fd, client_fd] = SocketPair();
  ASSERT_TRUE(client_fd.valid());
  RawPeer peer(std::move(peer_fd));
  Client client(client_fd.release());
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

// ---- Other transports -----------------------------------------------------------------------

TEST_F(TtrpcTest, RealUnixSocketListenAndDial) {
  kata::testing::TempDir dir("/tmp");  // socket paths must fit in 108 bytes
  ASSERT_FALSE(dir.path().empty());
  const std::string address = absl::StrCat("unix://", dir.Join("ttrpc.sock"));
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
  absl::StatusOr<Pty> pty = OpenRawPty();
  ASSERT_TRUE(pty.ok()) << pty.status();
  ASSERT_TRUE(server_->ServeFd(pty->master.release()).ok());
  {
    Client client(pty->slave.release());
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
  WaitForNoCall(absl::Seconds(5));
  EXPECT_EQ(server_->in_flight(), 0);
  // Shutdown does not hang on the pty connection.
  const absl::Time start = absl::Now();
  server_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
