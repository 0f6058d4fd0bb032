// AgentService over the GuestEngine seam (guest_engine.h) with the fake engine
// (testing/fake_engine.h): the container, storage and sandbox rpcs reach the engine and
// nothing else, so the agent's rpc fuzzer drives them without touching the host.
#include "src/agent/rpc/testing/fake_engine.h"

#include <sys/socket.h>

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/rpc/agent_service.h"
#include "src/agent/rpc/test_client.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace agent {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

class FakeEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    device::DeviceOptions devices;
    devices.sysfs_root = dir_.path() + "/sys";
    devices.dev_root = dir_.path() + "/dev";
    devices.timeout = absl::ZeroDuration();
    engine_ = std::make_shared<testing::FakeEngine>(devices);
    AgentService::Options o;
    o.init_daemon = false;
    o.copy_file_base = dir_.path();
    o.engine = engine_;
    agent_ = std::make_unique<AgentService>(std::move(o));
    ASSERT_TRUE(server_.Register(agent_.get()).ok());
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_TRUE(server_.ServeFd(sv[0]).ok());
    api_ = std::make_unique<testing::AgentApi>(std::make_unique<ttrpc::Client>(sv[1]),
                                               absl::Seconds(30));
  }
  void TearDown() override {
    api_.reset();
    server_.Shutdown(absl::Seconds(5));
  }

  static grpc::CreateContainerRequest Request(const std::string& id) {
    grpc::CreateContainerRequest r;
    r.set_container_id(id);
    r.mutable_oci()->mutable_process()->add_args("sh");
    r.mutable_oci()->mutable_root()->set_path("/nonexistent/rootfs");
    r.add_storages()->set_mount_point("/run/kata-containers/shared/vol");
    return r;
  }

  kata::testing::TempDir dir_;
  std::shared_ptr<testing::FakeEngine> engine_;
  std::unique_ptr<AgentService> agent_;
  ttrpc::Server server_;
  std::unique_ptr<testing::AgentApi> api_;
};

TEST_F(FakeEngineTest, ContainerLifecycleGoesThroughTheEngine) {
  ASSERT_TRUE(api_->Create(Request("c1")).ok());
  EXPECT_EQ(engine_->live_containers(), 1);
  EXPECT_THAT(agent_->HeldStorages(), ElementsAre(Pair("/run/kata-containers/shared/vol", 1)));
  ASSERT_TRUE(api_->Start("c1").ok());
  // The fake init echoes its stdin; an exec'd process prints its args and exits at once.
  EXPECT_EQ(*api_->WriteStdin("c1", "c1", "ping"), 4u);
  EXPECT_EQ(*api_->ReadSome("c1", "c1"), "ping");
  ASSERT_TRUE(api_->Exec("c1", "e1", {"echo", "hi"}).ok());
  EXPECT_EQ(*api_->ReadAll("c1", "e1"), "echo hi");
  grpc::ReadStreamRequest err;
  err.set_container_id("c1");
  err.set_exec_id("e1");
  err.set_len(4096);
  grpc::ReadStreamResponse got;
  ASSERT_TRUE(api_->service().ReadStderr(err, &got, api_->opts()).ok());
  EXPECT_EQ(got.data(), "echo: done");
  EXPECT_EQ(api_->service().ReadStderr(err, &got, api_->opts()).code(),
            absl::StatusCode::kOutOfRange);  // EOF
  EXPECT_EQ(*api_->Wait("c1", "e1"), 2);
  // Its exit collected and its output read, the exec is freed.
  EXPECT_EQ(api_->Wait("c1", "e1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Exec("c1", "e2", {}).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(api_->Pause("c1").ok());
  EXPECT_EQ(api_->Pause("c1").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(api_->Resume("c1").ok());
  ASSERT_TRUE(api_->Signal("c1", "c1", 9).ok());
  EXPECT_EQ(*api_->Wait("c1", "c1"), 128 + 9);
  EXPECT_EQ(api_->Exec("c1", "e3", {"true"}).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(api_->Remove("c1").ok());
  EXPECT_EQ(engine_->live_containers(), 0);
  EXPECT_TRUE(agent_->HeldStorages().empty());
}

TEST_F(FakeEngineTest, DestroySandboxReleasesEverything) {
  grpc::CreateSandboxRequest sb;
  sb.set_sandbox_id("sb");
  sb.add_storages()->set_mount_point("/run/kata-containers/sandbox/shm");
  ASSERT_TRUE(api_->CreateSandbox(sb).ok());
  EXPECT_EQ(api_->CreateSandbox(sb).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(api_->Create(Request("c1")).ok());
  ASSERT_TRUE(api_->Create(Request("c2")).ok());
  EXPECT_EQ(agent_->HeldStorages().size(), 2u);
  ASSERT_TRUE(api_->DestroySandbox().ok());
  EXPECT_EQ(engine_->live_containers(), 0);
  EXPECT_TRUE(agent_->HeldStorages().empty());
}

TEST_F(FakeEngineTest, BadStoragesChangeNothing) {
  grpc::CreateContainerRequest r = Request("c1");
  r.add_storages()->set_mount_point("relative");
  EXPECT_EQ(api_->Create(r).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->live_containers(), 0);
  EXPECT_TRUE(agent_->HeldStorages().empty());
}

}  // namespace
}  // namespace agent
}  // namespace kata
