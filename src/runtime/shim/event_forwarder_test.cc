#include "src/runtime/shim/event_forwarder.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/protocols/containerd/events/task.pb.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace shim {
namespace {

namespace evpb = ::containerd::services::events::ttrpc::v1;

// containerd's side: records the envelopes; fails the first `fail_first` calls.
class FakeEvents : public evpb::EventsTtrpc::Service {
 public:
  absl::Status Forward(ttrpc::ServerContext&, const evpb::ForwardRequest& request,
                       google::protobuf::Empty*) override {
    absl::MutexLock lock(&mu);
    if (fail_first > 0) {
      --fail_first;
      return absl::UnavailableError("not yet");
    }
    envelopes.push_back(request.envelope());
    return absl::OkStatus();
  }
  std::vector<std::string> Topics() {
    absl::MutexLock lock(&mu);
    std::vector<std::string> topics;
    for (const auto& e : envelopes) topics.push_back(e.topic());
    return topics;
  }
  absl::Mutex mu;
  int fail_first = 0;
  std::vector<evpb::Envelope> envelopes;
};

// A fake publisher in place of the ttRPC call (Options::send): fails while `failing` says so,
// can be held (a containerd that does not answer), records what it got and when it was called.
class FakePublisher {
 public:
  std::function<absl::Status(const evpb::ForwardRequest&)> Send() {
    return [this](const evpb::ForwardRequest& r) { return Call(r); };
  }
  absl::Status Call(const evpb::ForwardRequest& r) {
    absl::MutexLock lock(&mu);
    calls.push_back(absl::Now());
    entered = true;
    mu.Await(absl::Condition(
        +[](bool* held) { return !*held; }, &held));
    if (failing && failing(r)) return absl::UnavailableError("containerd is down");
    topics.push_back(r.envelope().topic());
    ::containerd::events::TaskExit e;  // every event these tests publish is one
    e.ParseFromString(r.envelope().event().value());
    ids.push_back(e.container_id());
    return absl::OkStatus();
  }
  std::vector<std::string> Ids() {
    absl::MutexLock lock(&mu);
    return ids;
  }
  std::vector<std::string> Topics() {
    absl::MutexLock lock(&mu);
    return topics;
  }
  absl::Mutex mu;
  std::function<bool(const evpb::ForwardRequest&)> failing;  // under mu
  bool held ABSL_GUARDED_BY(mu) = false;
  bool entered ABSL_GUARDED_BY(mu) = false;
  std::vector<absl::Time> calls ABSL_GUARDED_BY(mu);
  std::vector<std::string> topics ABSL_GUARDED_BY(mu);
  std::vector<std::string> ids ABSL_GUARDED_BY(mu);
};

::containerd::events::TaskExit Exit(const std::string& id) {
  ::containerd::events::TaskExit e;
  e.set_container_id(id);
  return e;
}

class EventForwarderTest : public ::testing::Test {
 protected:
  void SetUp() override { address_ = "unix://" + dir_.Join("containerd.sock.ttrpc"); }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  }
  void Serve() {  // (again: a restarted containerd on the same socket)
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
    server_ = std::make_unique<ttrpc::Server>();
    ASSERT_TRUE(server_->Register(&events_).ok());
    ASSERT_TRUE(server_->Listen(address_).ok());
  }
  kata::testing::TempDir dir_{"/tmp"};  // /tmp: a unix socket path must stay short
  std::string address_;
  FakeEvents events_;
  std::unique_ptr<ttrpc::Server> server_;
};

TEST_F(EventForwarderTest, DeliversInOrderWithTypeUrlsAndNamespace) {
  Serve();
  auto f = EventForwarder::Start({.address = address_, .ns = "k8s.io"});
  ::containerd::events::TaskCreate create;
  create.set_container_id("c1");
  create.set_pid(42);
  ::containerd::events::TaskStart start;
  start.set_container_id("c1");
  ::containerd::events::TaskExit exit;
  exit.set_container_id("c1");
  exit.set_exit_status(3);
  f->Publish(kTopicCreate, create);
  f->Publish(kTopicStart, start);
  f->Publish(kTopicExit, exit);
  ASSERT_TRUE(f->Flush(absl::Seconds(10)));
  EXPECT_EQ(f->sent(), 3);
  absl::MutexLock lock(&events_.mu);
  ASSERT_EQ(events_.envelopes.size(), 3u);
  EXPECT_EQ(events_.envelopes[0].topic(), "/tasks/create");
  EXPECT_EQ(events_.envelopes[1].topic(), "/tasks/start");
  EXPECT_EQ(events_.envelopes[2].topic(), "/tasks/exit");
  EXPECT_EQ(events_.envelopes[0].namespace_(), "k8s.io");
  EXPECT_EQ(events_.envelopes[0].event().type_url(), "containerd.events.TaskCreate");
  EXPECT_GT(events_.envelopes[0].timestamp().seconds(), 0);
  ::containerd::events::TaskExit got;
  ASSERT_TRUE(got.ParseFromString(events_.envelopes[2].event().value()));
  EXPECT_EQ(got.exit_status(), 3u);
}

TEST(EventTypeUrlTest, EachTopicNamesItsEventsMessageAndNoOtherTopicAny) {
  namespace events = ::containerd::events;
  const std::vector<std::pair<const char*, std::unique_ptr<google::protobuf::Message>>> cases = [] {
    std::vector<std::pair<const char*, std::unique_ptr<google::protobuf::Message>>> v;
    v.emplace_back(kTopicCreate, std::make_unique<events::TaskCreate>());
    v.emplace_back(kTopicStart, std::make_unique<events::TaskStart>());
    v.emplace_back(kTopicExit, std::make_unique<events::TaskExit>());
    v.emplace_back(kTopicDelete, std::make_unique<events::TaskDelete>());
    v.emplace_back(kTopicExecAdded, std::make_unique<events::TaskExecAdded>());
    v.emplace_back(kTopicExecStarted, std::make_unique<events::TaskExecStarted>());
    v.emplace_back(kTopicPaused, std::make_unique<events::TaskPaused>());
    v.emplace_back(kTopicResumed, std::make_unique<events::TaskResumed>());
    v.emplace_back(kTopicOom, std::make_unique<events::TaskOOM>());
    return v;
  }();
  for (const auto& [topic, message] : cases) {
    EXPECT_EQ(EventTypeUrl(topic), message->GetDescriptor()->full_name()) << topic;
  }
  EXPECT_EQ(EventTypeUrl("/tasks/checkpointed"), "");
  EXPECT_EQ(EventTypeUrl(""), "");
  events::TaskExit exit;
  exit.set_container_id("c1");
  exit.set_exit_status(7);
  google::protobuf::Any named = PackAny(exit, EventTypeUrl(kTopicExit));
  google::protobuf::Any described = PackAny(exit);
  EXPECT_EQ(named.type_url(), "containerd.events.TaskExit");
  EXPECT_EQ(named.type_url(), described.type_url());
  EXPECT_EQ(named.value(), described.value());
}

TEST_F(EventForwarderTest, AnEventOfAnUnknownTopicGoesUnderItsMessagesName) {
  Serve();
  auto f = EventForwarder::Start({.address = address_, .ns = "k8s.io"});
  ::containerd::events::TaskCheckpointed checkpointed;
  checkpointed.set_container_id("c1");
  f->Publish("/tasks/checkpointed", checkpointed);
  ASSERT_TRUE(f->Flush(absl::Seconds(10)));
  absl::MutexLock lock(&events_.mu);
  ASSERT_EQ(events_.envelopes.size(), 1u);
  EXPECT_EQ(events_.envelopes[0].event().type_url(), "containerd.events.TaskCheckpointed");
}

TEST_F(EventForwarderTest, RetriesAFailingCallAndKeepsOrder) {
  events_.fail_first = 2;
  Serve();
  auto f = EventForwarder::Start({.address = address_, .ns = "default"});
  ::containerd::events::TaskPaused paused;
  ::containerd::events::TaskResumed resumed;
  f->Publish(kTopicPaused, paused);
  f->Publish(kTopicResumed, resumed);
  ASSERT_TRUE(f->Flush(absl::Seconds(10)));
  EXPECT_EQ(f->sent(), 2);
  EXPECT_EQ(f->dropped(), 0);
  EXPECT_EQ(events_.Topics(), (std::vector<std::string>{"/tasks/paused", "/tasks/resumed"}));
}

TEST_F(EventForwarderTest, ContainerdAbsentDropsAfterRetryForWithoutHanging) {
  auto f = EventForwarder::Start({.address = address_,
                                  .ns = "default",
                                  .first_backoff = absl::Milliseconds(1),
                                  // a dial waits up to 1 s for the socket to appear
                                  .retry_for = absl::Milliseconds(1500)});
  ::containerd::events::TaskOOM oom;
  f->Publish(kTopicOom, oom);
  ASSERT_TRUE(f->Flush(absl::Seconds(10)));
  EXPECT_EQ(f->dropped(), 1);
  EXPECT_GE(f->failed_attempts(), 2);
}

// Issue 11 item 15: containerd restarted on the same socket. Events published while it was
// gone (the old forwarder gave up after 0.3 s) reach the new one, in order.
TEST_F(EventForwarderTest, ContainerdRestartedOnTheSameSocketGetsWhatItMissed) {
  Serve();
  auto f = EventForwarder::Start({.address = address_, .ns = "default"});
  f->Publish(kTopicExit, Exit("before"));
  ASSERT_TRUE(f->Flush(absl::Seconds(10)));
  server_->Shutdown(absl::Seconds(1));  // containerd goes away
  f->Publish(kTopicExit, Exit("during-1"));
  f->Publish(kTopicDelete, Exit("during-2"));
  absl::SleepFor(absl::Seconds(2));  // down for longer than the old 0.3 s of retries
  EXPECT_GT(f->failed_attempts(), 0);
  Serve();
  ASSERT_TRUE(f->Flush(absl::Seconds(30)));
  EXPECT_EQ(f->sent(), 3);
  EXPECT_EQ(f->dropped(), 0);
  EXPECT_EQ(events_.Topics(),
            (std::vector<std::string>{"/tasks/exit", "/tasks/exit", "/tasks/delete"}));
}

TEST(EventForwarderFakeTest, AnOutageOfSecondsIsRetriedThroughWithTheDefaults) {
  FakePublisher fake;
  const absl::Time back = absl::Now() + absl::Milliseconds(1500);
  fake.failing = [back](const evpb::ForwardRequest&) { return absl::Now() < back; };
  auto f = EventForwarder::Start({.ns = "default", .send = fake.Send()});
  f->Publish(kTopicExit, Exit("a"));
  f->Publish(kTopicDelete, Exit("a"));
  ASSERT_TRUE(f->Flush(absl::Seconds(30)));
  EXPECT_EQ(f->sent(), 2);
  EXPECT_EQ(f->dropped(), 0);
  EXPECT_GE(f->failed_attempts(), 5);
  EXPECT_EQ(fake.Topics(), (std::vector<std::string>{"/tasks/exit", "/tasks/delete"}));
}

TEST(EventForwarderFakeTest, BackoffDoublesUpToTheCap) {
  FakePublisher fake;
  int failures = 7;
  fake.failing = [&failures](const evpb::ForwardRequest&) { return failures-- > 0; };
  auto f = EventForwarder::Start({.ns = "default",
                                  .first_backoff = absl::Milliseconds(20),
                                  .max_backoff = absl::Milliseconds(80),
                                  .send = fake.Send()});
  f->Publish(kTopicExit, Exit("a"));
  ASSERT_TRUE(f->Flush(absl::Seconds(30)));
  EXPECT_EQ(f->sent(), 1);
  EXPECT_EQ(f->failed_attempts(), 7);
  absl::MutexLock lock(&fake.mu);
  ASSERT_EQ(fake.calls.size(), 8u);
  const int want_ms[] = {20, 40, 80, 80, 80, 80, 80};
  for (size_t i = 1; i < fake.calls.size(); ++i) {
    absl::Duration gap = fake.calls[i] - fake.calls[i - 1];
    EXPECT_GE(gap, absl::Milliseconds(want_ms[i - 1])) << "pause " << i;
    EXPECT_LT(gap, absl::Milliseconds(want_ms[i - 1]) + absl::Seconds(2)) << "pause " << i;
  }
}

TEST(EventForwarderFakeTest, AnExpiredEventIsDroppedAndTheNextOneStillSent) {
  FakePublisher fake;
  fake.failing = [](const evpb::ForwardRequest& r) { return r.envelope().topic() == kTopicOom; };
  auto f = EventForwarder::Start({.ns = "default",
                                  .first_backoff = absl::Milliseconds(5),
                                  .retry_for = absl::Milliseconds(300),
                                  .send = fake.Send()});
  f->Publish(kTopicOom, Exit("a"));
  f->Publish(kTopicExit, Exit("a"));
  ASSERT_TRUE(f->Flush(absl::Seconds(30)));
  EXPECT_EQ(f->dropped(), 1);
  EXPECT_EQ(f->sent(), 1);
  EXPECT_EQ(fake.Topics(), (std::vector<std::string>{"/tasks/exit"}));
}

// Publish runs under the task service's lock: a containerd that does not answer must not
// block it; the queue is bounded and its oldest events give way.
TEST(EventForwarderFakeTest, PublishNeverBlocksAndTheQueueIsBounded) {
  FakePublisher fake;
  {
    absl::MutexLock lock(&fake.mu);
    fake.held = true;
  }
  auto f = EventForwarder::Start({.ns = "default", .max_queue = 3, .send = fake.Send()});
  f->Publish(kTopicCreate, Exit("0"));
  {
    absl::MutexLock lock(&fake.mu);
    fake.mu.Await(absl::Condition(&fake.entered));  // event 0 is in flight, held
  }
  for (int i = 1; i <= 100; ++i) f->Publish(kTopicExit, Exit(std::to_string(i)));
  EXPECT_FALSE(f->Flush(absl::Milliseconds(50)));
  EXPECT_EQ(f->dropped(), 97);
  {
    absl::MutexLock lock(&fake.mu);
    fake.held = false;
  }
  ASSERT_TRUE(f->Flush(absl::Seconds(30)));
  EXPECT_EQ(f->sent(), 4);
  EXPECT_EQ(f->dropped(), 97);
  EXPECT_EQ(fake.Ids(), (std::vector<std::string>{"0", "98", "99", "100"}));
}

TEST(EventForwarderFakeTest, StoppingInterruptsALongPause) {
  FakePublisher fake;
  fake.failing = [](const evpb::ForwardRequest&) { return true; };
  auto f = EventForwarder::Start({.ns = "default",
                                  .first_backoff = absl::Hours(1),
                                  .retry_for = absl::Hours(2),
                                  .send = fake.Send()});
  f->Publish(kTopicExit, Exit("a"));
  EXPECT_FALSE(f->Flush(absl::Milliseconds(100)));
  f.reset();  // flushes 5 s, then stops: must not wait out the hour
  absl::MutexLock lock(&fake.mu);
  EXPECT_EQ(fake.calls.size(), 1u);
}

}  // namespace
}  // namespace shim
}  // namespace kata
