#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/rpc/agent_service.h"
#include "src/agent/rpc/health_service.h"
#include "src/agent/version.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/protocols/health.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace agent {
namespace {

using ::testing::HasSubstr;

TEST(AgentServiceTest, ParsesBlockSize) {
  EXPECT_EQ(*ParseMemBlockSize("8000000\n"), 134217728u);
  EXPECT_EQ(*ParseMemBlockSize("0x8000000"), 134217728u);
  EXPECT_FALSE(ParseMemBlockSize("").ok());
  EXPECT_FALSE(ParseMemBlockSize("zz").ok());
}

TEST(AgentServiceTest, GuestDetailsFromSysfs) {
  kata::testing::TempDir tmp;
  const std::string dir = tmp.path();
  ASSERT_TRUE(WriteStringToFile(dir + "/block_size_bytes", "8000000\n").ok());
  ASSERT_TRUE(WriteStringToFile(dir + "/probe", "").ok());
  AgentService::Options o;
  o.memory_dir = dir;
  o.init_daemon = true;
  AgentService agent(o);
  grpc::GuestDetailsRequest req;
  req.set_mem_block_size(true);
  req.set_mem_hotplug_probe(true);
  auto r = agent.GuestDetails(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mem_block_size_bytes(), 134217728u);
  EXPECT_TRUE(r->support_mem_hotplug_probe());
  EXPECT_EQ(r->agent_details().version(), kAgentVersion);
  EXPECT_TRUE(r->agent_details().init_daemon());
  EXPECT_THAT(r->agent_details().storage_handlers(),
              ::testing::IsSupersetOf({"9p", "virtio-fs", "blk", "mmioblk", "scsi", "ephemeral",
                                       "local", "bind", "overlayfs"}));
  EXPECT_THAT(r->agent_details().device_handlers(),
              ::testing::IsSupersetOf({"blk", "mmioblk", "scsi", "vfio-pci"}));

  // Not requested: not read.
  r = agent.GuestDetails(grpc::GuestDetailsRequest());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mem_block_size_bytes(), 0u);
  EXPECT_FALSE(r->support_mem_hotplug_probe());

  // Absent files: 0 and false.
  o.memory_dir = dir + "/absent";
  o.init_daemon = false;
  AgentService bare(o);
  r = bare.GuestDetails(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->mem_block_size_bytes(), 0u);
  EXPECT_FALSE(r->support_mem_hotplug_probe());
  EXPECT_FALSE(r->agent_details().init_daemon());

  // Garbage: an error naming the file.
  ASSERT_TRUE(WriteStringToFile(dir + "/block_size_bytes", "garbage").ok());
  r = agent.GuestDetails(req);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("block_size_bytes"));
}

TEST(RpcTest, OverTtrpc) {
  HealthService health;
  AgentService agent({});
  ttrpc::Server server;
  ASSERT_TRUE(server.Register(&health).ok());
  ASSERT_TRUE(server.Register(&agent).ok());
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_TRUE(server.ServeFd(sv[0]).ok());
  ttrpc::Client client(sv[1]);
  ttrpc::CallOptions o;
  o.timeout = absl::Seconds(5);

  grpc::HealthTtrpc::Client h(&client);
  grpc::HealthCheckResponse check;
  ASSERT_TRUE(h.Check(grpc::CheckRequest(), &check, o).ok());
  EXPECT_EQ(check.status(), grpc::HealthCheckResponse::SERVING);
  grpc::VersionCheckResponse version;
  ASSERT_TRUE(h.Version(grpc::CheckRequest(), &version, o).ok());
  EXPECT_EQ(version.agent_version(), kAgentVersion);
  EXPECT_EQ(version.grpc_version(), "ttrpc");

  grpc::AgentServiceTtrpc::Client a(&client);
  grpc::GuestDetailsResponse details;
  ASSERT_TRUE(a.GetGuestDetails(grpc::GuestDetailsRequest(), &details, o).ok());
  EXPECT_EQ(details.agent_details().version(), kAgentVersion);

  // An rpc the agent does not implement (yet) keeps the generated UNIMPLEMENTED answer.
  grpc::MemAgentMemcgConfig memcg;
  google::protobuf::Empty empty;
  absl::Status s = a.MemAgentMemcgSet(memcg, &empty, o);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("MemAgentMemcgSet"));
  server.Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace agent
}  // namespace kata
