// The server's calls end, on every path, with the connection's and the server's hold on them
// (issue 11 item 17: the agent fuzzer's LeakSanitizer report of a ServerCall never freed).
// Server::in_flight() counts the call objects alive: a call leaves it when the last reference
// to it goes, so 0 after Shutdown means no call was leaked. The stress mixes, on connections
// that come and go and over a server shut down under them: inline unary calls slow enough for
// the watchdog to hand the reader role off, blocking calls whose client gives up and calls past
// the blocking limit, streams abandoned by their client, raw bursts of requests (duplicate and
// bad stream ids, unknown methods) whose peer leaves at once. Under `--config=asan`
// LeakSanitizer checks the process at exit as well.
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"
#include "src/libs/ttrpc/service.h"
#include "src/libs/ttrpc/test_util.h"

namespace kata {
namespace ttrpc {
namespace {

constexpr char kHold[] = "test.Hold";

// One blocking method, Wait: blocks until the server ends the call (deadline, connection
// closed, shutdown) or Release().
class Hold : public Service {
 public:
  absl::string_view ServiceName() const override { return kHold; }
  absl::Span<const Method> Methods() const override { return methods_; }
  bool IsBlocking(absl::string_view method) const override { return method == "Wait"; }
  void Release() {
    if (!released_.HasBeenNotified()) released_.Notify();
  }

 private:
  static absl::Status Wait(Service& service, ServerContext& ctx) {
    auto& self = static_cast<Hold&>(service);
    while (!self.released_.WaitForNotificationWithTimeout(absl::Milliseconds(1))) {
      if (ctx.cancelled()) return absl::CancelledError("Wait: cancelled");
    }
    return absl::OkStatus();
  }

  const Method methods_[1] = {{"Wait", MethodKind::kUnary, &Hold::Wait}};
  absl::Notification released_;
};

class CallLifetimeTest : public TtrpcFixture {
 protected:
  void StartSmallServer() {
    Server::Options o;
    o.max_workers = 2;
    o.max_blocking_calls = 3;
    o.idle_worker_timeout = absl::Milliseconds(5);  // pool threads come and go
    StartServer(o);
    ASSERT_TRUE(server_->Register(&hold_).ok());
  }

  // Random calls on one connection until `stop` (or the server is gone).
  void ClientLoop(int seed, const std::atomic<bool>& stop) {
    std::mt19937 rng(static_cast<uint32_t>(seed));
    std::unique_ptr<Client> client = Connect();
    if (client == nullptr) return;  // the server is shutting down already
    while (!stop.load()) {
      EchoClient echo(client.get());
      EchoRequest req;
      req.set_payload(Pattern(rng() % 64, seed));
      const absl::Duration timeout = absl::Milliseconds(1 + rng() % 6);
      switch (rng() % 6) {
        case 0:
        case 1: {  // inline unary, sometimes slower than a watchdog tick
          req.set_sleep_ms(rng() % 4);
          EchoResponse resp;
          (void)echo.Echo(req, &resp, Bounded(timeout));
          break;
        }
        case 2:  // blocking: the client gives up, or the call is past the limit
          (void)client->Call(kHold, "Wait", "", Bounded(timeout));
          break;
        case 3: {  // a server stream the client abandons
          req.set_count(3);
          req.set_sleep_ms(rng() % 3);
          auto stream = echo.ServerStream(req, Bounded(timeout));
          break;
        }
        case 4: {  // a client stream left open
          auto stream = client->OpenStream(kEcho, "ClientStream", MethodKind::kClientStreaming, "",
                                           Bounded(timeout));
          break;
        }
        default:  // the peer leaves with calls running
          client = Connect();
          if (client == nullptr) return;
          break;
      }
    }
  }

  // Raw bursts: duplicate, even and unknown streams, then the peer leaves at once.
  void RawLoop(int seed, const std::atomic<bool>& stop) {
    std::mt19937 rng(static_cast<uint32_t>(seed));
    while (!stop.load()) {
      std::unique_ptr<RawPeer> peer = ConnectRaw();
      if (peer == nullptr) return;
      EchoRequest slow;
      slow.set_sleep_ms(rng() % 4);
      const std::string echo = RequestBytes(kEcho, "Echo", slow.SerializeAsString());
      const std::string wait = RequestBytes(kHold, "Wait", "", 2'000'000);
      const std::string unknown = RequestBytes(kEcho, "Nope", "");
      std::string burst;
      for (uint32_t i = 0; i < 8; ++i) {
        const std::string& req = (i % 3 == 0) ? wait : (i % 3 == 1 ? echo : unknown);
        const uint32_t id = (rng() % 5 == 0) ? 2 * (i / 2) + 1 : 2 * i + 1 + (rng() % 7 == 0);
        burst +=
            RawPeer::Header(static_cast<uint32_t>(req.size()), id, MessageType::kRequest) + req;
      }
      (void)peer->Write(burst);
      if (rng() % 2 == 0) absl::SleepFor(absl::Milliseconds(rng() % 3));
    }
  }

  // Runs the loops for `run`, then shuts the server down under them with `grace`.
  void Round(int round, absl::Duration run, absl::Duration grace) {
    StartSmallServer();
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([this, round, i, &stop] { ClientLoop(round * 10 + i, stop); });
    }
    threads.emplace_back([this, round, &stop] { RawLoop(round * 10 + 9, stop); });
    absl::SleepFor(run);
    server_->Shutdown(grace);
    EXPECT_EQ(server_->in_flight(), 0) << "round " << round << ": calls outlived Shutdown";
    stop.store(true);
    for (std::thread& t : threads) t.join();
    server_.reset();
  }

  Hold hold_;
};

TEST_F(CallLifetimeTest, NoCallOutlivesAShutdownUnderLoad) {
  for (int round = 0; round < 12; ++round) {
    Round(round, absl::Milliseconds(150),
          round % 2 == 0 ? absl::ZeroDuration() : absl::Milliseconds(3));
  }
}

TEST_F(CallLifetimeTest, NoCallOutlivesItsConnection) {
  StartSmallServer();
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back([this, i, &stop] { ClientLoop(100 + i, stop); });
  threads.emplace_back([this, &stop] { RawLoop(109, stop); });
  absl::SleepFor(absl::Seconds(2));
  stop.store(true);
  for (std::thread& t : threads) t.join();
  // Every connection is gone: the server holds no call any more.
  EXPECT_TRUE(WaitUntil([&] { return server_->in_flight() == 0; }, absl::Seconds(10)))
      << server_->in_flight() << " calls left";
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
