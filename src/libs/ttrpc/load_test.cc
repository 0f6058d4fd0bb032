// The ttRPC server and client under load and against peers that stop reading (issue 11 item
// 12): any number of calls of blocking methods (Service::IsBlocking) on one connection never
// stop it reading nor hold up its other calls; past Options::max_blocking_calls they are
// refused, not queued; a write that makes no progress for the write stall timeout fails
// the call and the connection, on the client's side and on the server's.
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/eintr.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"
#include "src/libs/ttrpc/service.h"
#include "src/libs/ttrpc/test_util.h"

namespace kata {
namespace ttrpc {
namespace {

using ::testing::HasSubstr;

constexpr char kBlocker[] = "test.Blocker";

// A service of one blocking method, Wait: it blocks until Release() or its call is
// cancelled, and answers its request payload. Written by hand (no .proto).
class Blocker : public Service {
 public:
  absl::string_view ServiceName() const override { return kBlocker; }
  absl::Span<const Method> Methods() const override { return methods_; }
  bool IsBlocking(absl::string_view method) const override { return method == "Wait"; }

  void Release() {
    if (!released_.HasBeenNotified()) released_.Notify();
  }
  int waiting() {
    absl::MutexLock lock(&mu_);
    return waiting_;
  }

 private:
  static absl::Status Wait(Service& service, ServerContext& ctx) {
    auto& self = static_cast<Blocker&>(service);
    {
      absl::MutexLock lock(&self.mu_);
      ++self.waiting_;
    }
    while (!self.released_.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
      if (ctx.cancelled()) return absl::CancelledError("Wait: cancelled");
    }
    *ctx.mutable_response_payload() = std::string(ctx.request_payload());
    return absl::OkStatus();
  }

  const Method methods_[1] = {{"Wait", MethodKind::kUnary, &Blocker::Wait}};
  absl::Notification released_;
  absl::Mutex mu_;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

class LoadTest : public TtrpcFixture {
 protected:
  void StartWithBlocker(Server::Options options) {
    StartServer(options);
    ASSERT_TRUE(server_->Register(&blocker_).ok());
  }
  ~LoadTest() override {
    blocker_.Release();
    if (server_ != nullptr) server_->Shutdown();
  }

  Blocker blocker_;
};

// 300 blocked calls on one connection (a pod's 100 processes: a wait and two reads each),
// far past max_workers (128): a fresh unary call on the same connection still answers.
TEST_F(LoadTest, ThreeHundredBlockedCallsDoNotStopAFreshCallOnTheSameConnection) {
  StartWithBlocker(Server::Options());
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  constexpr int kBlocked = 300;
  std::vector<absl::StatusOr<std::string>> results(kBlocked, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kBlocked; ++i) {
    threads.emplace_back([&, i] {
      results[static_cast<size_t>(i)] =
          client->Call(kBlocker, "Wait", absl::StrCat("w", i), Bounded(absl::Seconds(120)));
    });
  }
  EXPECT_TRUE(WaitUntil([&] { return blocker_.waiting() == kBlocked; }, absl::Seconds(60)))
      << blocker_.waiting() << " of " << kBlocked << " blocked calls are running";
  const absl::Time start = absl::Now();
  EXPECT_EQ(Ping(*client, "fresh"), "");
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // And a second connection is served too.
  std::unique_ptr<Client> other = Connect();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(Ping(*other, "other"), "");
  blocker_.Release();
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kBlocked; ++i) {
    ASSERT_TRUE(results[static_cast<size_t>(i)].ok()) << i << ": " << results[i].status();
    EXPECT_EQ(*results[static_cast<size_t>(i)], absl::StrCat("w", i));
  }
}

// Past max_blocking_calls a blocking call is refused at once, naming the limit; the
// connection keeps serving (no call waits behind the blocked ones).
TEST_F(LoadTest, BlockingCallsPastTheLimitAreRefusedAndTheConnectionServes) {
  Server::Options options;
  options.max_blocking_calls = 4;
  StartWithBlocker(options);
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (client->Call(kBlocker, "Wait", "x", Bounded(absl::Seconds(60))).ok()) ++ok;
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return blocker_.waiting() == 4; }, absl::Seconds(10)));
  absl::StatusOr<std::string> refused =
      client->Call(kBlocker, "Wait", "y", Bounded(absl::Seconds(10)));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("too many blocking calls"));
  EXPECT_EQ(Ping(*client), "");
  blocker_.Release();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  // Their threads are free again.
  EXPECT_TRUE(client->Call(kBlocker, "Wait", "z", Bounded(absl::Seconds(10))).ok());
}

// A server that does not read: the client's write fails after the stall timeout with an
// error that says so, and the connection is closed (pending and later calls fail).
TEST(ClientWriteStallTest, AWriteTheServerDoesNotReadFailsTheCallAndTheConnection) {
  auto [theirs, mine] = SocketPair();
  ASSERT_TRUE(theirs && mine);
  Client client(mine.release(), absl::Milliseconds(300));
  // A pending call, so the stall must fail it too.
  absl::StatusOr<std::string> pending = absl::UnknownError("not run");
  std::thread waiter([&] { pending = client.Call(kEcho, "Echo", "", Bounded(absl::Seconds(30))); });
  const absl::Time start = absl::Now();
  // Far more than the socket buffers hold.
  absl::StatusOr<std::string> big =
      client.Call(kEcho, "Echo", std::string(3 << 20, 'x'), Bounded(absl::Seconds(30)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(big.status().code(), absl::StatusCode::kUnavailable) << big.status();
  EXPECT_THAT(big.status().message(), HasSubstr("made no progress for 300ms"));
  EXPECT_LT(took, absl::Seconds(5)) << absl::FormatDuration(took);
  waiter.join();
  EXPECT_EQ(pending.status().code(), absl::StatusCode::kUnavailable) << pending.status();
  EXPECT_TRUE(client.closed());
  EXPECT_EQ(client.Call(kEcho, "Echo", "", Bounded()).status().code(),
            absl::StatusCode::kUnavailable);
}

// A client that sends requests and never reads the answers: the server gives the
// connection up after the stall timeout (the peer reads the end of the stream) and keeps
// serving others.
TEST_F(LoadTest, AClientThatDoesNotReadIsDisconnectedByTheServer) {
  Server::Options options;
  options.write_stall_timeout = absl::Milliseconds(300);
  StartServer(options);
  auto [theirs, mine] = SocketPair();
  ASSERT_TRUE(server_->ServeFd(theirs.release()).ok());
  RawPeer peer(UniqueFd(dup(mine.get())));
  EchoRequest big;
  big.set_count(1 << 20);  // 1 MiB answers
  for (uint32_t id = 1; id < 40; id += 2) {
    ASSERT_TRUE(peer.WriteFrame(id, MessageType::kRequest, 0,
                                RequestBytes(kEcho, "Echo", big.SerializeAsString())));
  }
  ASSERT_TRUE(WaitForACall());
  EXPECT_TRUE(WaitForNoCall(absl::Seconds(10))) << "the stalled answers still hold the server";
  // Whatever the server wrote before giving up, then the end of the stream.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  long n = 1;
  char buf[65536];
  const int fd = mine.get();
  while (n > 0 && absl::Now() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    n = RetryEintr([&] { return read(fd, buf, sizeof buf); });
  }
  EXPECT_EQ(n, 0) << "the server did not close the stalled connection";
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(Ping(*client), "");
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
