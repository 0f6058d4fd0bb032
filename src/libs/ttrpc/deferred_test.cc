// Deferred answers (ServerContext::Defer, service.h) end to end: many deferred calls on one
// connection hold no thread and are answered in any order; a connection that closes, a
// Shutdown and a deadline end the outstanding ones exactly once (on_cancel runs, a later
// Finish is a no-op); Finish racing a connection's close ends each call once; a dropped
// DeferredResponse answers CANCELLED.
#include <dirent.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/threads.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/service.h"
#include "src/libs/ttrpc/test_util.h"

namespace kata {
namespace ttrpc {
namespace {

// The Echo hook that defers every call whose payload starts with "park", keyed by payload,
// and counts each key's on_cancel runs.
class Parked {
 public:
  TestEcho::Hook Hook() {
    return [this](ServerContext& ctx, const EchoRequest& req) -> absl::Status {
      if (!absl::StartsWith(req.payload(), "park")) return absl::OkStatus();
      const std::string key = req.payload();
      DeferredResponse d = ctx.Defer([this, key] {
        absl::MutexLock lock(&mu_);
        ++cancels_[key];
      });
      if (d.done()) return absl::CancelledError("cancelled before it was deferred");
      absl::MutexLock lock(&mu_);
      parked_.emplace(key, std::move(d));
      return absl::OkStatus();
    };
  }
  bool AwaitParked(size_t n, absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return parked_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  DeferredResponse Take(const std::string& key) {
    absl::MutexLock lock(&mu_);
    auto it = parked_.find(key);
    if (it == parked_.end()) return DeferredResponse();
    DeferredResponse d = std::move(it->second);
    parked_.erase(it);
    return d;
  }
  int cancels(const std::string& key) {
    absl::MutexLock lock(&mu_);
    auto it = cancels_.find(key);
    return it == cancels_.end() ? 0 : it->second;
  }
  int total_cancels() {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& [k, v] : cancels_) n += v;
    return n;
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, DeferredResponse> parked_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> cancels_ ABSL_GUARDED_BY(mu_);
};

// Collects asynchronous outcomes by index.
class Results {
 public:
  explicit Results(int n) : results_(static_cast<size_t>(n)), runs_(static_cast<size_t>(n)) {}
  Client::Completion For(int i) {
    return [this, i](absl::StatusOr<std::string> r) {
      absl::MutexLock lock(&mu_);
      results_[static_cast<size_t>(i)] = std::move(r);
      ++runs_[static_cast<size_t>(i)];
      ++completed_;
    };
  }
  bool Await(int n, absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return completed_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  absl::StatusOr<std::string> result(int i) {
    absl::MutexLock lock(&mu_);
    return results_[static_cast<size_t>(i)];
  }
  int runs(int i) {
    absl::MutexLock lock(&mu_);
    return runs_[static_cast<size_t>(i)];
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::StatusOr<std::string>> results_ ABSL_GUARDED_BY(mu_);
  std::vector<int> runs_ ABSL_GUARDED_BY(mu_);
  int completed_ ABSL_GUARDED_BY(mu_) = 0;
};

class DeferredTest : public TtrpcFixture {
 protected:
  void SetUp() override {
    TtrpcFixture::SetUp();
    service_.set_hook(parked_.Hook());
  }

  // Starts asynchronous Echo call `i` with payload "park<key>" (key = i unless given).
  void Park(Client& client, Results& results, int i, CallOptions options = Bounded(),
            int key = -1) {
    EchoRequest req;
    req.set_payload(absl::StrCat("park", key < 0 ? i : key));
    ASSERT_TRUE(
        client.CallAsync(kEcho, "Echo", req.SerializeAsString(), options, results.For(i)).ok());
  }

  static std::string Answer(int i) {
    EchoResponse resp;
    resp.set_payload(absl::StrCat("answer", i));
    return resp.SerializeAsString();
  }

  Parked parked_;
};

TEST_F(DeferredTest, ManyDeferredCallsHoldNoThreadAndAnswerInAnyOrder) {
  constexpr int kCalls = 200;
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  Results results(kCalls);
  // One first, so every thread the connection ever needs has started.
  Park(*client, results, 0);
  ASSERT_TRUE(parked_.AwaitParked(1));
  const int threads_before = kata::testing::ThreadCount();
  for (int i = 1; i < kCalls; ++i) Park(*client, results, i);
  ASSERT_TRUE(parked_.AwaitParked(kCalls));
  EXPECT_EQ(kata::testing::ThreadCount(), threads_before) << "deferred calls must not hold threads";
  EXPECT_EQ(server_->deferred(), kCalls);
  EXPECT_EQ(server_->in_flight(), kCalls);
  // The connection still serves other calls meanwhile.
  EXPECT_EQ(Ping(*client), "");

  // Answered in reverse, then odd before even: each caller gets its own answer.
  for (int i = kCalls - 1; i >= 0; i -= 2) {
    EXPECT_TRUE(parked_.Take(absl::StrCat("park", i)).FinishRaw(absl::OkStatus(), Answer(i)));
  }
  for (int i = kCalls - 2; i >= 0; i -= 2) {
    DeferredResponse d = parked_.Take(absl::StrCat("park", i));
    EchoResponse resp;
    resp.set_payload(absl::StrCat("answer", i));
    EXPECT_FALSE(d.done());
    EXPECT_TRUE(d.Finish(absl::OkStatus(), resp));
    EXPECT_TRUE(d.done());
    EXPECT_FALSE(d.FinishRaw(absl::InternalError("twice"), "")) << "Finish after Finish";
  }
  ASSERT_TRUE(results.Await(kCalls));
  for (int i = 0; i < kCalls; ++i) {
    absl::StatusOr<std::string> r = results.result(i);
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
    EchoResponse resp;
    ASSERT_TRUE(resp.ParseFromString(*r));
    EXPECT_EQ(resp.payload(), absl::StrCat("answer", i));
    EXPECT_EQ(results.runs(i), 1);
    EXPECT_EQ(parked_.cancels(absl::StrCat("park", i)), 0);
  }
  EXPECT_TRUE(WaitForNoCall());
  EXPECT_EQ(server_->deferred(), 0);
}

TEST_F(DeferredTest, ClosedConnectionEndsOutstandingDeferredCallsOnce) {
  constexpr int kCalls = 50;
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  Results results(kCalls);
  for (int i = 0; i < kCalls; ++i) Park(*client, results, i);
  ASSERT_TRUE(parked_.AwaitParked(kCalls));
  client.reset();  // the connection closes with every call outstanding
  ASSERT_TRUE(WaitUntil([&] { return parked_.total_cancels() == kCalls; }, absl::Seconds(10)));
  EXPECT_TRUE(WaitForNoCall()) << "ended deferred calls must not count in flight";
  EXPECT_EQ(server_->deferred(), 0);
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(parked_.cancels(absl::StrCat("park", i)), 1);
    DeferredResponse d = parked_.Take(absl::StrCat("park", i));
    EXPECT_TRUE(d.done());
    EXPECT_FALSE(d.FinishRaw(absl::OkStatus(), Answer(i))) << "Finish after cancel";
  }
  EXPECT_EQ(parked_.total_cancels(), kCalls);
}

TEST_F(DeferredTest, ShutdownCancelsDeferredCallsWithoutWaitingForThem) {
  constexpr int kCalls = 20;
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  Results results(kCalls);
  for (int i = 0; i < kCalls; ++i) Park(*client, results, i);
  ASSERT_TRUE(parked_.AwaitParked(kCalls));
  const absl::Time start = absl::Now();
  server_->Shutdown();  // an infinite grace: deferred calls are not waited for
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(parked_.total_cancels(), kCalls);
  EXPECT_EQ(server_->in_flight(), 0);
  ASSERT_TRUE(results.Await(kCalls));  // the callers see the connection go
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_FALSE(results.result(i).ok());
    EXPECT_FALSE(parked_.Take(absl::StrCat("park", i)).FinishRaw(absl::OkStatus(), Answer(i)));
  }
}

TEST_F(DeferredTest, DeadlineEndsADeferredCall) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  Results results(2);
  Park(*client, results, 0, Bounded(absl::Milliseconds(300)));
  Park(*client, results, 1);  // no early deadline: stays
  ASSERT_TRUE(parked_.AwaitParked(2));
  ASSERT_TRUE(WaitUntil([&] { return parked_.cancels("park0") == 1; }, absl::Seconds(10)));
  ASSERT_TRUE(results.Await(1));
  EXPECT_EQ(results.result(0).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(parked_.Take("park0").FinishRaw(absl::OkStatus(), Answer(0)));
  EXPECT_EQ(server_->deferred(), 1);
  EXPECT_EQ(parked_.cancels("park1"), 0);
  EXPECT_TRUE(parked_.Take("park1").FinishRaw(absl::OkStatus(), Answer(1)));
  ASSERT_TRUE(results.Await(2));
  EXPECT_TRUE(results.result(1).ok()) << results.result(1).status();
  EXPECT_TRUE(WaitForNoCall());
}

TEST_F(DeferredTest, DroppedDeferredResponseAnswersCancelled) {
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  Results results(1);
  Park(*client, results, 0);
  ASSERT_TRUE(parked_.AwaitParked(1));
  { DeferredResponse d = parked_.Take("park0"); }
  ASSERT_TRUE(results.Await(1));
  EXPECT_EQ(results.result(0).status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(parked_.cancels("park0"), 0);
  EXPECT_TRUE(WaitForNoCall());
}

// Finish on one thread while the connection closes on another: every call ends exactly once,
// either answered (Finish true, no on_cancel) or cancelled (on_cancel once, Finish false).
TEST_F(DeferredTest, FinishRacingCancelEndsEachCallOnce) {
  constexpr int kRounds = 100;
  constexpr int kCalls = 8;
  for (int round = 0; round < kRounds; ++round) {
    std::unique_ptr<Client> client = Connect();
    ASSERT_NE(client, nullptr);
    Results results(kCalls);
    for (int i = 0; i < kCalls; ++i) Park(*client, results, i, Bounded(), round * kCalls + i);
    ASSERT_TRUE(parked_.AwaitParked(static_cast<size_t>(kCalls)));
    std::vector<DeferredResponse> ds;
    for (int i = 0; i < kCalls; ++i) {
      ds.push_back(parked_.Take(absl::StrCat("park", round * kCalls + i)));
    }
    std::atomic<int> finished{0};
    std::thread finisher([&] {
      for (int i = 0; i < kCalls; ++i) {
        if (ds[static_cast<size_t>(i)].FinishRaw(absl::OkStatus(), Answer(i))) ++finished;
      }
    });
    client.reset();
    finisher.join();
    auto cancelled = [&] {
      int n = 0;
      for (int i = 0; i < kCalls; ++i)
        n += parked_.cancels(absl::StrCat("park", round * kCalls + i));
      return n;
    };
    // The server sees the close on its reader thread, maybe after the finisher is done.
    ASSERT_TRUE(
        WaitUntil([&] { return finished.load() + cancelled() >= kCalls; }, absl::Seconds(10)))
        << "round " << round << ": a call never ended";
    ASSERT_TRUE(WaitForNoCall());
    ASSERT_EQ(finished.load() + cancelled(), kCalls) << "round " << round << ": ended twice";
    for (int i = 0; i < kCalls; ++i) {
      ASSERT_LE(parked_.cancels(absl::StrCat("park", round * kCalls + i)), 1);
    }
  }
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
