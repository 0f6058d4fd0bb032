// ttRPC streaming calls end to end: server streaming (many messages in order, ended by an
// error), client streaming (many messages, none, a handler error, a message that does not
// parse), and how many streaming handlers run at once.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"
#include "src/libs/ttrpc/test_util.h"

namespace kata {
namespace ttrpc {
namespace {

using ::testing::ElementsAre;
using TtrpcTest = TtrpcFixture;

// ---- Server streaming ------------------------------------------------------------------------

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

// ---- Client streaming ------------------------------------------------------------------------

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

// ---- How many streaming handlers run at once ---------------------------------------------------

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

TEST_F(TtrpcTest, BurstOfStreamingCallsRunsConcurrently) {
  BurstRunsConcurrently("ServerStream", 8);
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
