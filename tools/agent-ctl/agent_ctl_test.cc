// agent-ctl against an in-process fake agent: a ttRPC server on a unix socket in a temp
// dir, with a Health that is SERVING and an AgentService that answers GetGuestDetails
// (recording the request) and fails CreateContainer with NOT_FOUND; everything else is
// the generated UNIMPLEMENTED.
#include "tools/agent-ctl/agent_ctl.h"

#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/protocols/health.ttrpc.pb.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace agent_ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

class FakeHealth : public grpc::HealthTtrpc::Service {
 public:
  absl::Status Check(ttrpc::ServerContext&, const grpc::CheckRequest&,
                     grpc::HealthCheckResponse* response) override {
    response->set_status(grpc::HealthCheckResponse::SERVING);
    return absl::OkStatus();
  }
};

class FakeAgent : public grpc::AgentServiceTtrpc::Service {
 public:
  absl::Status GetGuestDetails(ttrpc::ServerContext& context,
                               const grpc::GuestDetailsRequest& request,
                               grpc::GuestDetailsResponse* response) override {
    absl::MutexLock lock(&mu_);
    last_request_ = request;
    last_metadata_ = std::string(context.GetMetadata("who"));
    response->set_mem_block_size_bytes(134217728);
    response->mutable_agent_details()->set_version("3.2.1");
    response->mutable_agent_details()->add_device_handlers("blk");
    return absl::OkStatus();
  }
  absl::Status CreateContainer(ttrpc::ServerContext&, const grpc::CreateContainerRequest&,
                               google::protobuf::Empty*) override {
    return absl::NotFoundError("no such thing");
  }

  grpc::GuestDetailsRequest last_request() {
    absl::MutexLock lock(&mu_);
    return last_request_;
  }
  std::string last_metadata() {
    absl::MutexLock lock(&mu_);
    return last_metadata_;
  }

 private:
  absl::Mutex mu_;
  grpc::GuestDetailsRequest last_request_ ABSL_GUARDED_BY(mu_);
  std::string last_metadata_ ABSL_GUARDED_BY(mu_);
};

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunCtl(const std::vector<std::string>& args, const std::string& stdin_text = "") {
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  int code = RunAgentCtl(args, in, out, err);
  return {code, out.str(), err.str()};
}

class AgentCtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    addr_ = "unix://" + dir_.Join("agent.sock");
    ASSERT_TRUE(server_.Register(&health_).ok());
    ASSERT_TRUE(server_.Register(&agent_).ok());
    absl::Status listen = server_.Listen(addr_);
    ASSERT_TRUE(listen.ok()) << listen;
  }
  void TearDown() override { server_.Shutdown(absl::Seconds(1)); }

  // Runs with "--addr <fake> --timeout 5s" in front of `args`.
  Result RunAt(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), {"--addr", addr_, "--timeout", "5s"});
    return RunCtl(args, stdin_text);
  }

  // /tmp rather than TEST_TMPDIR: a unix socket path must stay under 108 bytes.
  kata::testing::TempDir dir_{"/tmp"};
  std::string addr_;
  FakeHealth health_;
  FakeAgent agent_;
  ttrpc::Server server_;
};

TEST_F(AgentCtlTest, CheckSucceedsWhenServing) {
  Result r = RunAt({"check"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(AgentCtlTest, CallPrintsResponseAsJson) {
  Result r = RunAt({"call", "GetGuestDetails", R"({"mem_block_size": true})"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  EXPECT_THAT(r.out, HasSubstr(R"("mem_block_size_bytes": "134217728")"));
  EXPECT_THAT(r.out, HasSubstr(R"("version": "3.2.1")"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("support_mem_hotplug_probe")));  // default omitted
  grpc::GuestDetailsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r.out;
  EXPECT_EQ(parsed.mem_block_size_bytes(), 134217728u);
  EXPECT_EQ(parsed.agent_details().version(), "3.2.1");
  ASSERT_EQ(parsed.agent_details().device_handlers_size(), 1);
  EXPECT_EQ(parsed.agent_details().device_handlers(0), "blk");
}

TEST_F(AgentCtlTest, RequestFieldsAndMetadataReachTheServer) {
  Result r = RunAt({"--metadata", "who=test", "call", "grpc.AgentService/GetGuestDetails",
                    R"({"memBlockSize": true, "mem_hotplug_probe": true})"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  grpc::GuestDetailsRequest got = agent_.last_request();
  EXPECT_TRUE(got.mem_block_size());
  EXPECT_TRUE(got.mem_hotplug_probe());
  EXPECT_EQ(agent_.last_metadata(), "test");
}

TEST_F(AgentCtlTest, RequestFromStdin) {
  Result r = RunAt({"call", "AgentService.GetGuestDetails", "-"}, R"({"mem_hotplug_probe": true})");
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_FALSE(agent_.last_request().mem_block_size());
  EXPECT_TRUE(agent_.last_request().mem_hotplug_probe());
}

TEST_F(AgentCtlTest, RpcErrorPrintsCodeAndMessage) {
  Result r = RunAt({"call", "CreateContainer", R"({"container_id": "c1"})"});
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND: no such thing"));
}

TEST_F(AgentCtlTest, UnimplementedMethodFails) {
  Result r = RunAt({"call", "StatsContainer", R"({"container_id": "c1"})"});
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_THAT(r.err, HasSubstr("UNIMPLEMENTED"));
  Result v = RunAt({"call", "Health.Version"});
  EXPECT_EQ(v.code, kExitRpcError);
  EXPECT_THAT(v.err, HasSubstr("UNIMPLEMENTED"));
}

TEST(AgentCtlNoServerTest, UnknownMethodFailsBeforeConnecting) {
  // The address does not exist: reaching it would fail with kExitConnection instead.
  Result r = RunCtl({"--addr", "unix:///nonexistent/agent.sock", "call", "CreateContaner", "{}"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("unknown method \"CreateContaner\""));
  EXPECT_THAT(r.err, HasSubstr("grpc.AgentService/CreateContainer"));  // a close name
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("connect")));
}

TEST(AgentCtlNoServerTest, BadJsonFailsBeforeConnecting) {
  Result r = RunCtl({"--addr", "unix:///nonexistent/agent.sock", "call", "GetGuestDetails",
                     R"({"mem_block_size": "yes please"})"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("not a valid grpc.GuestDetailsRequest"));
  Result unknown_field = RunCtl({"--addr", "unix:///nonexistent/agent.sock", "call",
                                 "GetGuestDetails", R"({"no_such_field": 1})"});
  EXPECT_EQ(unknown_field.code, kExitUsage);
  Result not_json =
      RunCtl({"--addr", "unix:///nonexistent/agent.sock", "call", "GetGuestDetails", "{"});
  EXPECT_EQ(not_json.code, kExitUsage);
}

TEST(AgentCtlNoServerTest, ConnectionFailure) {
  Result r = RunCtl({"--addr", "unix:///nonexistent/agent.sock", "--timeout", "200ms", "check"});
  EXPECT_EQ(r.code, kExitConnection);
  EXPECT_THAT(r.err, HasSubstr("cannot connect to unix:///nonexistent/agent.sock"));
}

TEST(AgentCtlNoServerTest, ListNamesEveryMethod) {
  Result r = RunCtl({"list"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  int agent = 0;
  for (const std::string& line : lines) {
    if (line.rfind("grpc.AgentService/", 0) == 0) ++agent;
  }
  EXPECT_EQ(agent, 42);
  EXPECT_EQ(lines.size(), 44u);
  EXPECT_THAT(r.out, HasSubstr("grpc.AgentService/CreateContainer  grpc.CreateContainerRequest"));
  EXPECT_THAT(r.out, HasSubstr("grpc.Health/Check  grpc.CheckRequest"));
  EXPECT_THAT(r.out, HasSubstr("grpc.Health/Version  grpc.CheckRequest"));
}

TEST(AgentCtlNoServerTest, FindMethodForms) {
  for (const char* name : {"CreateContainer", "grpc.AgentService/CreateContainer",
                           "AgentService/CreateContainer", "AgentService.CreateContainer"}) {
    auto m = FindMethod(name);
    ASSERT_TRUE(m.ok()) << name << ": " << m.status();
    EXPECT_EQ((*m)->full_name(), "grpc.AgentService.CreateContainer");
  }
  for (const char* name : {"Check", "Health.Check", "grpc.Health.Check", "grpc.Health/Check"}) {
    auto m = FindMethod(name);
    ASSERT_TRUE(m.ok()) << name << ": " << m.status();
    EXPECT_EQ((*m)->full_name(), "grpc.Health.Check");
  }
  EXPECT_EQ(FindMethod("Health/CreateContainer").status().code(), absl::StatusCode::kNotFound);
}

TEST(AgentCtlNoServerTest, UsageErrors) {
  EXPECT_EQ(RunCtl({}).code, kExitUsage);
  EXPECT_EQ(RunCtl({"frobnicate"}).code, kExitUsage);
  EXPECT_EQ(RunCtl({"--bogus", "list"}).code, kExitUsage);
  EXPECT_EQ(RunCtl({"--timeout", "soon", "list"}).code, kExitUsage);
  EXPECT_EQ(RunCtl({"--metadata", "novalue", "list"}).code, kExitUsage);
  EXPECT_EQ(RunCtl({"call"}).code, kExitUsage);
  Result no_addr = RunCtl({"check"});
  EXPECT_EQ(no_addr.code, kExitConnection);
  EXPECT_THAT(no_addr.err, HasSubstr("--addr is required"));
  Result help = RunCtl({"--help"});
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_THAT(help.out, HasSubstr("Exit codes:"));
  Result version = RunCtl({"version"});
  EXPECT_EQ(version.code, kExitOk);
  EXPECT_EQ(version.out, std::string("agent-ctl ") + kAgentCtlVersion + "\n");
}

}  // namespace
}  // namespace agent_ctl
}  // namespace kata
