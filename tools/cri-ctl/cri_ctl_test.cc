// cri-ctl against an in-process fake CRI RuntimeService on a unix socket, and the CRI log
// parser.
#include "tools/cri-ctl/cri_ctl.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "tools/cri-ctl/api.grpc.pb.h"
#include "tools/cri-ctl/cri_log.h"

namespace kata {
namespace cri_ctl {
namespace {

namespace v1 = ::runtime::v1;

class FakeRuntime final : public v1::RuntimeService::Service {
 public:
  grpc::Status RunPodSandbox(grpc::ServerContext*, const v1::RunPodSandboxRequest* req,
                             v1::RunPodSandboxResponse* resp) override {
    absl::MutexLock l(&mu_);
    last_run_ = *req;
    resp->set_pod_sandbox_id("pod-1");
    return grpc::Status::OK;
  }
  grpc::Status ExecSync(grpc::ServerContext*, const v1::ExecSyncRequest* req,
                        v1::ExecSyncResponse* resp) override {
    absl::MutexLock l(&mu_);
    last_exec_ = *req;
    if (req->container_id() == "missing") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "container \"missing\" not found");
    }
    resp->set_stdout("out\n");
    resp->set_stderr("err\n");
    resp->set_exit_code(3);
    return grpc::Status::OK;
  }
  grpc::Status PodSandboxStatus(grpc::ServerContext*, const v1::PodSandboxStatusRequest* req,
                                v1::PodSandboxStatusResponse* resp) override {
    resp->mutable_status()->set_id(req->pod_sandbox_id());
    resp->mutable_status()->set_state(v1::SANDBOX_READY);
    return grpc::Status::OK;
  }

  v1::RunPodSandboxRequest last_run() {
    absl::MutexLock l(&mu_);
    return last_run_;
  }
  v1::ExecSyncRequest last_exec() {
    absl::MutexLock l(&mu_);
    return last_exec_;
  }

 private:
  absl::Mutex mu_;
  v1::RunPodSandboxRequest last_run_ ABSL_GUARDED_BY(mu_);
  v1::ExecSyncRequest last_exec_ ABSL_GUARDED_BY(mu_);
};

class CriCtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder b;
    b.AddListeningPort("unix:" + sock_, grpc::InsecureServerCredentials());
    b.RegisterService(&fake_);
    server_ = b.BuildAndStart();
    ASSERT_TRUE(server_);
  }
  void TearDown() override { server_->Shutdown(); }

  int Run(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--endpoint", "unix://" + sock_});
    std::istringstream in(input);
    out_.str("");
    err_.str("");
    return RunCriCtl(args, in, out_, err_);
  }

  kata::testing::TempDir tmp_{"/tmp"};
  std::string sock_ = tmp_.Join("cri.sock");
  FakeRuntime fake_;
  std::unique_ptr<grpc::Server> server_;
  std::ostringstream out_, err_;
};

TEST_F(CriCtlTest, RunPodSendsTheJsonConfigAndTheHandlerAndPrintsTheId) {
  EXPECT_EQ(Run({"runp", "--runtime", "kata", "-"},
                R"({"metadata": {"name": "p", "uid": "u1", "namespace": "ns"},
                    "hostname": "h", "log_directory": "/tmp/l",
                    "linux": {"cgroup_parent": "/kubepods/podu1",
                              "resources": {"memory_limit_in_bytes": 536870912}}})"),
            kExitOk)
      << err_.str();
  EXPECT_EQ(out_.str(), "pod-1\n");
  v1::RunPodSandboxRequest got = fake_.last_run();
  EXPECT_EQ(got.runtime_handler(), "kata");
  EXPECT_EQ(got.config().metadata().uid(), "u1");
  EXPECT_EQ(got.config().hostname(), "h");
  EXPECT_EQ(got.config().linux().cgroup_parent(), "/kubepods/podu1");
  EXPECT_EQ(got.config().linux().resources().memory_limit_in_bytes(), 536870912);
}

TEST_F(CriCtlTest, ExecCopiesStdoutAndStderrAndExitsWithTheCommandsCode) {
  EXPECT_EQ(Run({"exec", "--timeout", "7", "c1", "sh", "-c", "echo out; exit 3"}), 3);
  EXPECT_EQ(out_.str(), "out\n");
  EXPECT_EQ(err_.str(), "err\n");
  v1::ExecSyncRequest got = fake_.last_exec();
  EXPECT_EQ(got.container_id(), "c1");
  EXPECT_EQ(got.timeout(), 7);
  ASSERT_EQ(got.cmd_size(), 3);
  EXPECT_EQ(got.cmd(2), "echo out; exit 3");
}

TEST_F(CriCtlTest, ExecOfAMissingContainerIsAnRpcFailureNamingIt) {
  EXPECT_EQ(Run({"exec", "missing", "true"}), kExitExecFailed);
  EXPECT_NE(err_.str().find("ExecSync: container \"missing\" not found"), std::string::npos)
      << err_.str();
}

TEST_F(CriCtlTest, InspectPodPrintsTheReadyStateAlthoughItIsTheEnumsZero) {
  EXPECT_EQ(Run({"inspectp", "pod-1"}), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("\"state\": \"SANDBOX_READY\""), std::string::npos) << out_.str();
}

TEST_F(CriCtlTest, BadInputIsAUsageErrorAndSendsNothing) {
  EXPECT_EQ(Run({"runp", "-"}, R"({"metadata": {"nmae": "typo"}})"), kExitUsage);
  EXPECT_NE(err_.str().find("not a PodSandboxConfig"), std::string::npos) << err_.str();
  EXPECT_EQ(Run({"stop", "--timeout", "soon", "c1"}), kExitUsage);
  EXPECT_EQ(Run({"create", "pod-1"}), kExitUsage);
  EXPECT_NE(err_.str().find("usage: cri-ctl create"), std::string::npos) << err_.str();
  EXPECT_EQ(Run({"frobnicate"}), kExitUsage);
  EXPECT_EQ(fake_.last_run().runtime_handler(), "");  // no RunPodSandbox reached the fake
}

TEST(CriLogTest, ParsesFullAndPartialLinesOfBothStreams) {
  auto entries = ParseCriLog(
      "2026-12-06T12:54:11.123456789Z stdout F started\n"
      "2026-12-06T12:54:11.2+01:00 stderr P to-\n"
      "2026-12-06T12:54:11.3Z stderr F stderr\n"
      "2026-12-06T12:54:12Z stdout F \n"
      "2026-12-06T12:54:13Z stdout F with spaces  inside");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 5u);
  EXPECT_EQ(JoinCriLog(*entries, "stdout"), "started\n\nwith spaces  inside\n");
  EXPECT_EQ(JoinCriLog(*entries, "stderr"), "to-stderr\n");
  EXPECT_TRUE((*entries)[1].partial);
}

TEST(CriLogTest, RejectsWhatIsNotTheCriFormatNamingTheLine) {
  for (const char* bad :
       {"started\n", "2026-12-06 12:54:11 stdout F x\n", "2026-12-06T12:54:11Z stdin F x\n",
        "2026-12-06T12:54:11Z stdout X x\n"}) {
    auto entries = ParseCriLog(std::string("2026-12-06T12:54:11Z stdout F ok\n") + bad);
    ASSERT_FALSE(entries.ok()) << bad;
    EXPECT_NE(entries.status().message().find("line 2"), std::string::npos) << entries.status();
  }
}

}  // namespace
}  // namespace cri_ctl
}  // namespace kata
