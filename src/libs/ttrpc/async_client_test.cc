// The asynchronous client API (Client::CallAsync, Cancel) end to end, against the server in
// the same process: many calls in flight from one thread, callbacks that start new calls,
// deadlines (with the reader thread reading and with a blocking caller reading), cancellation,
// a connection that closes or is destroyed with calls in flight (every callback runs exactly
// once, with an error), calls that cannot start, and blocking and asynchronous calls mixed.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/test_util.h"

namespace kata {
namespace ttrpc {
namespace {

using AsyncTest = TtrpcFixture;

// Collects the outcomes of asynchronous calls by index and counts each callback's runs.
class Outcomes {
 public:
  explicit Outcomes(int n) : results_(static_cast<size_t>(n)), runs_(static_cast<size_t>(n)) {}

  Client::Completion For(int i) {
    return [this, i](absl::StatusOr<std::string> r) {
      absl::MutexLock lock(&mu_);
      ++runs_[static_cast<size_t>(i)];
      results_[static_cast<size_t>(i)] = std::move(r);
      ++completed_;
    };
  }
  // Waits until `n` callbacks ran (true), at most `timeout`.
  bool AwaitCompleted(int n, absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return completed_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  int runs(int i) {
    absl::MutexLock lock(&mu_);
    return runs_[static_cast<size_t>(i)];
  }
  absl::StatusOr<std::string> result(int i) {
    absl::MutexLock lock(&mu_);
    return results_[static_cast<size_t>(i)];
  }
  int completed() {
    absl::MutexLock lock(&mu_);
    return completed_;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::StatusOr<std::string>> results_ ABSL_GUARDED_BY(mu_);
  std::vector<int> runs_ ABSL_GUARDED_BY(mu_);
  int completed_ ABSL_GUARDED_BY(mu_) = 0;
};

std::string Request(absl::string_view payload, int64_t sleep_ms = 0) {
  EchoRequest req;
  req.set_payload(std::string(payload));
  req.set_sleep_ms(sleep_ms);
  return req.SerializeAsString();
}

std::string PayloadOf(const absl::StatusOr<std::string>& r) {
  EchoResponse resp;
  if (!r.ok() || !resp.ParseFromString(*r)) return "<" + r.status().ToString() + ">";
  return resp.payload();
}

TEST_F(AsyncTest, ManyOutstandingCallsFromOneThread) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  constexpr int kCalls = 512;
  Outcomes out(kCalls);
  // Every handler waits 200 ms: all the calls are in flight at once, from this thread.
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(
        client->CallAsync(kEcho, "Echo", Request(Pattern(100, i), 200), {}, out.For(i)).ok());
  }
  EXPECT_GT(client->async_in_flight(), kCalls / 2);
  ASSERT_TRUE(out.AwaitCompleted(kCalls, absl::Seconds(60)));
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(out.runs(i), 1) << i;
    EXPECT_EQ(PayloadOf(out.result(i)), Pattern(100, i)) << i;
  }
  EXPECT_EQ(client->async_in_flight(), 0);
}

// A blocking call from a callback would wait for the reader thread that runs the callback:
// it fails at once instead of hanging the client.
TEST_F(AsyncTest, BlockingCallFromACallbackFailsInsteadOfHanging) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  Outcomes out(1);
  absl::Status inner = absl::UnknownError("not run");
  ASSERT_TRUE(client
                  ->CallAsync(kEcho, "Echo", Request("outer"), {},
                              [&](absl::StatusOr<std::string> r) {
                                inner = client->Call(kEcho, "Echo", Request("inner")).status();
                                out.For(0)(std::move(r));
                              })
                  .ok());
  ASSERT_TRUE(out.AwaitCompleted(1));
  EXPECT_EQ(PayloadOf(out.result(0)), "outer");
  EXPECT_EQ(inner.code(), absl::StatusCode::kFailedPrecondition) << inner;
  EXPECT_NE(inner.message().find("would wait for itself"), absl::string_view::npos) << inner;
  // The client still works.
  EXPECT_EQ(PayloadOf(client->Call(kEcho, "Echo", Request("after"))), "after");
}

TEST_F(AsyncTest, TypedCallParsesTheResponse) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EchoRequest req;
  req.set_payload("typed");
  absl::Mutex mu;
  absl::StatusOr<EchoResponse> got = absl::UnknownError("not run");
  bool done = false;
  ASSERT_TRUE(client
                  ->CallAsync<EchoResponse>(kEcho, "Echo", req, Bounded(),
                                            [&](absl::StatusOr<EchoResponse> r) {
                                              absl::MutexLock lock(&mu);
                                              got = std::move(r);
                                              done = true;
                                            })
                  .ok());
  absl::MutexLock lock(&mu);
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(30)));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload(), "typed");
}

// Each callback starts the next call: 64 chains of 50 calls each, all driven by callbacks.
TEST_F(AsyncTest, CallbacksStartNewCalls) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  constexpr int kChains = 64, kLength = 50;
  absl::Mutex mu;
  int finished = 0, failures = 0;
  std::function<void(int, int)> next = [&](int chain, int step) {
    const std::string text = absl::StrCat(chain, ".", step);
    absl::StatusOr<Client::CallId> id =
        client->CallAsync(kEcho, "Echo", Request(text), Bounded(),
                          [&, chain, step, text](absl::StatusOr<std::string> r) {
                            bool ok = PayloadOf(r) == text;
                            if (ok && step + 1 < kLength) return next(chain, step + 1);
                            absl::MutexLock lock(&mu);
                            ++finished;
                            if (!ok) ++failures;
                          });
    if (!id.ok()) {
      absl::MutexLock lock(&mu);
      ++finished;
      ++failures;
    }
  };
  for (int c = 0; c < kChains; ++c) next(c, 0);
  absl::MutexLock lock(&mu);
  auto all = [&]() { return finished == kChains; };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(60)));
  EXPECT_EQ(failures, 0);
}

// Answers request `stream_id` with `payload`.
bool Answer(RawPeer& peer, uint32_t stream_id, absl::string_view payload) {
  ::ttrpc::Response response;
  response.set_payload(std::string(payload));
  return peer.WriteFrame(stream_id, MessageType::kResponse, 0, response.SerializeAsString());
}

// The reader thread reads (a call without deadline is in flight) when a call with a short
// deadline starts: the read is interrupted and the call ends at its deadline. (A raw peer
// that answers nothing, so the deadline is the client's own.)
TEST(AsyncClientTest, DeadlineWhileTheReaderThreadReads) {
  auto [peer_fd, client_fd] = SocketPair();
  ASSERT_TRUE(client_fd.valid());
  RawPeer peer(std::move(peer_fd));
  Client client(client_fd.release());
  Outcomes out(2);
  ASSERT_TRUE(client.CallAsync("s", "slow", "", {}, out.For(0)).ok());
  FrameHeader first;
  std::string data;
  ASSERT_TRUE(peer.ReadFrame(&first, &data));
  absl::SleepFor(absl::Milliseconds(100));  // the reader thread is now blocked reading
  const absl::Time start = absl::Now();
  ASSERT_TRUE(
      client.CallAsync("s", "short", "", Bounded(absl::Milliseconds(200)), out.For(1)).ok());
  FrameHeader second;
  ASSERT_TRUE(peer.ReadFrame(&second, &data));
  ASSERT_TRUE(out.AwaitCompleted(1, absl::Seconds(10)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(out.runs(0), 0) << "the slow call ended first";
  EXPECT_EQ(out.result(1).status().code(), absl::StatusCode::kDeadlineExceeded)
      << out.result(1).status();
  EXPECT_EQ(out.result(1).status().message(), "ttrpc: s/short: deadline exceeded");
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Milliseconds(1500));
  // A late answer to the expired call is dropped; the other call still gets its own.
  ASSERT_TRUE(Answer(peer, second.stream_id, "late"));
  ASSERT_TRUE(Answer(peer, first.stream_id, "slow"));
  ASSERT_TRUE(out.AwaitCompleted(2, absl::Seconds(10)));
  EXPECT_EQ(*out.result(0), "slow");
  EXPECT_EQ(out.runs(1), 1);
}

// A blocking caller reads the connection (it waits for an answer): the reader thread still
// ends an asynchronous call at its deadline.
TEST(AsyncClientTest, DeadlineWhileABlockingCallerReads) {
  auto [peer_fd, client_fd] = SocketPair();
  ASSERT_TRUE(client_fd.valid());
  RawPeer peer(std::move(peer_fd));
  Client client(client_fd.release());
  absl::StatusOr<std::string> blocking_result = absl::UnknownError("not run");
  std::thread blocking([&] { blocking_result = client.Call("s", "blocking", ""); });
  FrameHeader first;
  std::string data;
  ASSERT_TRUE(peer.ReadFrame(&first, &data));
  absl::SleepFor(absl::Milliseconds(100));  // the blocking caller reads
  Outcomes out(1);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(
      client.CallAsync("s", "short", "", Bounded(absl::Milliseconds(200)), out.For(0)).ok());
  ASSERT_TRUE(out.AwaitCompleted(1, absl::Seconds(10)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Milliseconds(1500));
  EXPECT_EQ(out.result(0).status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(Answer(peer, first.stream_id, "blocking"));
  blocking.join();
  ASSERT_TRUE(blocking_result.ok()) << blocking_result.status();
  EXPECT_EQ(*blocking_result, "blocking");
}

TEST_F(AsyncTest, CancelRunsTheCallbackOnceAndDropsTheAnswer) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  Outcomes out(2);
  absl::StatusOr<Client::CallId> id =
      client->CallAsync(kEcho, "Echo", Request("cancelled", 300), {}, out.For(0));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(client->CallAsync(kEcho, "Echo", Request("kept", 400), {}, out.For(1)).ok());
  EXPECT_TRUE(client->Cancel(*id));
  EXPECT_EQ(out.runs(0), 1) << "the callback runs before Cancel returns";
  EXPECT_EQ(out.result(0).status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(client->Cancel(*id));
  ASSERT_TRUE(out.AwaitCompleted(2, absl::Seconds(10)));
  EXPECT_EQ(PayloadOf(out.result(1)), "kept");
  EXPECT_EQ(out.runs(0), 1);
  EXPECT_FALSE(client->Cancel(*id));
  EXPECT_EQ(Ping(*client), "");
}

// The peer closes the connection with calls in flight: every callback runs once, UNAVAILABLE.
TEST(AsyncClientTest, PeerClosesWithCallsInFlight) {
  auto [peer_fd, client_fd] = SocketPair();
  ASSERT_TRUE(client_fd.valid());
  RawPeer peer(std::move(peer_fd));
  Client client(client_fd.release());
  constexpr int kCalls = 100;
  Outcomes out(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(client.CallAsync("s", "m", "x", Bounded(), out.For(i)).ok());
  }
  FrameHeader h;
  std::string data;
  ASSERT_TRUE(peer.ReadFrame(&h, &data));
  peer.Close();
  ASSERT_TRUE(out.AwaitCompleted(kCalls, absl::Seconds(10)));
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(out.runs(i), 1) << i;
    EXPECT_EQ(out.result(i).status().code(), absl::StatusCode::kUnavailable) << i;
  }
  EXPECT_EQ(client.async_in_flight(), 0);
  // A call after the end fails at once and its callback never runs.
  Outcomes late(1);
  EXPECT_EQ(client.CallAsync("s", "m", "x", {}, late.For(0)).status().code(),
            absl::StatusCode::kUnavailable);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(late.completed(), 0);
}

TEST(AsyncClientTest, RequestOverTheLimitIsRefusedWithoutCallback) {
  auto [peer_fd, client_fd] = SocketPair();
  ASSERT_TRUE(client_fd.valid());
  RawPeer peer(std::move(peer_fd));
  Client client(client_fd.release());
  Outcomes out(1);
  EXPECT_EQ(
      client.CallAsync("s", "m", std::string(kMaxFrameData, 'x'), {}, out.For(0)).status().code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(peer.Quiet(absl::Milliseconds(100)));
  EXPECT_EQ(out.completed(), 0);
  EXPECT_EQ(client.async_in_flight(), 0);
}

// Close and destruction with calls in flight, while callbacks keep starting new calls and
// other threads start calls too: every callback runs exactly once, and nothing is left.
TEST_F(AsyncTest, DestroyedWithCallsInFlightAndCallbacksRestarting) {
  for (int round = 0; round < 20; ++round) {
    std::unique_ptr<Client> client = Connect();
    ASSERT_NE(client, nullptr);
    Client* c = client.get();  // callbacks may run inside the destructor
    absl::Mutex mu;
    int started = 0, ran = 0;
    std::function<void()> start = [&]() {
      {
        absl::MutexLock lock(&mu);
        ++started;
      }
      absl::StatusOr<Client::CallId> id = c->CallAsync(kEcho, "Echo", Request("r", round % 3), {},
                                                       [&](absl::StatusOr<std::string> r) {
                                                         {
                                                           absl::MutexLock lock(&mu);
                                                           ++ran;
                                                         }
                                                         if (r.ok()) start();
                                                       });
      if (!id.ok()) {
        absl::MutexLock lock(&mu);
        --started;  // never started: no callback
      }
    };
    for (int i = 0; i < 32; ++i) start();
    std::atomic<bool> stop{false};
    std::thread other([&] {
      while (!stop.load()) {
        start();
        absl::SleepFor(absl::Microseconds(200));
      }
    });
    absl::SleepFor(absl::Milliseconds(5 + round));
    if (round % 2 == 0) client->Close();
    stop = true;
    other.join();
    client.reset();
    absl::MutexLock lock(&mu);
    EXPECT_EQ(ran, started) << "round " << round;
  }
}

// Blocking calls from several threads and asynchronous ones from one, on one connection.
TEST_F(AsyncTest, BlockingAndAsynchronousCallsMix) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  constexpr int kAsync = 2000;
  Outcomes out(kAsync);
  std::atomic<int> blocking_failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string text = absl::StrCat("b", t, ".", i);
        if (PayloadOf(client->Call(kEcho, "Echo", Request(text), Bounded())) != text) {
          ++blocking_failures;
        }
      }
    });
  }
  for (int i = 0; i < kAsync; ++i) {
    ASSERT_TRUE(
        client->CallAsync(kEcho, "Echo", Request(Pattern(10, i)), Bounded(), out.For(i)).ok());
    if (i % 100 == 99) absl::SleepFor(absl::Milliseconds(1));
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(out.AwaitCompleted(kAsync, absl::Seconds(60)));
  EXPECT_EQ(blocking_failures.load(), 0);
  for (int i = 0; i < kAsync; ++i) {
    ASSERT_EQ(PayloadOf(out.result(i)), Pattern(10, i)) << i;
  }
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
