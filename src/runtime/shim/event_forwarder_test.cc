#include "src/runtime/shim/event_forwarder.h"

#include <string>
#include <vector>

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
  absl::Mutex mu;
  int fail_first = 0;
  std::vector<evpb::Envelope> envelopes;
};

class EventForwarderTest : public ::testing::Test {
 protected:
  void SetUp() override { address_ = "unix://" + dir_.Join("containerd.sock.ttrpc"); }
  void TearDown() override { server_.Shutdown(absl::Seconds(1)); }
  void Serve() {
    ASSERT_TRUE(server_.Register(&events_).ok());
    ASSERT_TRUE(server_.Listen(address_).ok());
  }
  kata::testing::TempDir dir_{"/tmp"};  // /tmp: a unix socket path must stay short
  std::string address_;
  FakeEvents events_;
  ttrpc::Server server_;
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
  absl::MutexLock lock(&events_.mu);
  ASSERT_EQ(events_.envelopes.size(), 2u);
  EXPECT_EQ(events_.envelopes[0].topic(), "/tasks/paused");
  EXPECT_EQ(events_.envelopes[1].topic(), "/tasks/resumed");
}

TEST_F(EventForwarderTest, ContainerdAbsentDropsAfterAttemptsWithoutHanging) {
  auto f = EventForwarder::Start({.address = address_,
                                  .ns = "default",
                                  .attempts = 2,
                                  .first_backoff = absl::Milliseconds(1)});
  ::containerd::events::TaskOOM oom;
  f->Publish(kTopicOom, oom);
  ASSERT_TRUE(f->Flush(absl::Seconds(10)));
  EXPECT_EQ(f->dropped(), 1);
}

}  // namespace
}  // namespace shim
}  // namespace kata
