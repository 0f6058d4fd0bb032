// The ttRPC server end to end: what it answers to bad or unknown requests and to a client
// that sends raw bytes, cancellation when a client leaves, shutdown (graceful, with a grace
// period, on a pty), how many handlers run at once, registration, and ServeFd's on_closed.
#include "src/libs/ttrpc/server.h"

#include <atomic>
#include <memory>
#include <random>
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
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/test_util.h"

namespace kata {
namespace ttrpc {
namespace {

using ::testing::HasSubstr;

class TtrpcTest : public TtrpcFixture {
 protected:
  void GracefulShutdown(absl::Duration running_for);
};

// ---- Unknown methods, over-limit answers ---------------------------------------------------

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
  ASSERT_TRUE(
      peer->WriteFrame(3, MessageType::kRequest, 0, RequestBytes(kEcho, "Echo", "\x0a\xff\xff")));
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
  WaitForACall();
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
  WaitForACall();
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
  WaitForNoCall();
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
  auto [theirs, mine] = SocketPair();
  ASSERT_TRUE(mine.valid());
  EXPECT_FALSE(server_->ServeFd(theirs.release()).ok());
  {
    Client late(mine.release());
    absl::Status s =
        late.Call(kEcho, "Echo", EchoPayload("late"), Bounded(absl::Seconds(5))).status();
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

TEST_F(TtrpcTest, GracefulShutdownWhileALongCallRuns) { GracefulShutdown(absl::Milliseconds(100)); }

TEST_F(TtrpcTest, ShutdownGraceCancelsCallsThatOutlastIt) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  absl::Status pending;
  std::thread caller([&] {
    EchoRequest req;
    req.set_sleep_ms(20000);
    pending = client->Call(kEcho, "Echo", req.SerializeAsString(), Bounded()).status();
  });
  WaitForACall();
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

// ---- How many handlers run at once ---------------------------------------------------------

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

TEST_F(TtrpcTest, BurstOfUnaryCallsRunsConcurrently) { BurstRunsConcurrently("Echo", 8); }

// ---- Registration, ServeFd ---------------------------------------------------------------

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
  auto [theirs, mine] = SocketPair();
  ASSERT_TRUE(mine.valid());
  ASSERT_TRUE(server.ServeFd(theirs.release()).ok());
  Client client(mine.release());
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

// ServeFd's on_closed runs once when the peer leaves, and only then: this is how the agent
// learns to reopen a virtio-serial port.
TEST(ServeFdTest, OnClosedRunsOnceWhenThePeerLeaves) {
  TestEcho service;
  Server server;
  ASSERT_TRUE(server.Register(&service).ok());
  auto [theirs, mine] = SocketPair();
  ASSERT_TRUE(mine.valid());
  std::atomic<int> closed{0};
  absl::Notification ended;
  ASSERT_TRUE(server
                  .ServeFd(theirs.release(),
                           [&] {
                             ++closed;
                             ended.Notify();
                           })
                  .ok());
  {
    Client client(mine.release());
    EchoClient echo(&client);
    EchoRequest req;
    req.set_payload("x");
    EchoResponse resp;
    ASSERT_TRUE(echo.Echo(req, &resp).ok());
    EXPECT_EQ(closed.load(), 0);  // a live connection has not ended
  }                               // the client closes its end
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(absl::Seconds(5)));
  server.Shutdown();
  EXPECT_EQ(closed.load(), 1);
}

TEST_F(TtrpcTest, ServerShutdownEndsAPtyClientsCalls) {
  absl::StatusOr<Pty> pty = OpenRawPty();
  ASSERT_TRUE(pty.ok()) << pty.status();
  ASSERT_TRUE(server_->ServeFd(pty->master.release()).ok());
  Client client(pty->slave.release());
  absl::Status pending;
  std::thread caller([&] {
    EchoRequest req;
    req.set_sleep_ms(20000);
    pending = client.Call(kEcho, "Echo", req.SerializeAsString(), Bounded()).status();
  });
  WaitForACall();
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::ZeroDuration());
  caller.join();
  EXPECT_EQ(pending.code(), absl::StatusCode::kUnavailable) << pending;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
