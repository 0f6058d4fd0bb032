#include "src/runtime/shim/monitor.h"

#include <sys/stat.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/http/http.h"
#include "src/libs/metrics/prometheus.h"
#include "src/runtime/sandbox/testing/mock_sandbox.h"

namespace kata {
namespace shim {
namespace {

using metrics::Exposition;
using metrics::ParseExposition;
using ::testing::HasSubstr;
using ::testing::NiceMock;
using ::testing::Return;

constexpr char kAgentText[] =
    "# HELP kata_guest_load Guest system load.\n# TYPE kata_guest_load gauge\n"
    "kata_guest_load{item=\"load1\"} 0.5\n"
    "# HELP kata_agent_threads t\n# TYPE kata_agent_threads gauge\nkata_agent_threads 4\n";

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ON_CALL(sandbox_, VmPids()).WillByDefault(Return(std::vector<pid_t>{getpid()}));
    ON_CALL(sandbox_, AgentMetrics()).WillByDefault(Return(std::string(kAgentText)));
    runtime::ContainerStats c1;
    c1.cpu =
        runtime::CpuStats{.total_ns = 2500000000, .kernel_ns = 500000000, .user_ns = 2000000000};
    c1.memory = runtime::MemoryStats{};
    c1.memory->usage.usage = 8 << 20;
    c1.memory->usage.limit = UINT64_MAX;
    c1.pids = runtime::PidsStats{.current = 3};
    ON_CALL(sandbox_, Stats("c1")).WillByDefault(Return(c1));
    ON_CALL(sandbox_, Stats("c2"))
        .WillByDefault(Return(absl::FailedPreconditionError("container c2: stopped")));
  }
  SandboxView View() { return {&sandbox_, {"c1", "c2"}}; }
  NiceMock<runtime::testing::MockSandbox> sandbox_;
};

TEST_F(MonitorTest, ShimHypervisorAgentAndContainers) {
  std::string text = CollectSandboxMetrics(View());
  absl::StatusOr<Exposition> exp = ParseExposition(text);
  ASSERT_TRUE(exp.ok()) << exp.status() << "\n" << text;
  EXPECT_GE(*exp->Value("kata_shim_threads"), 1);
  EXPECT_GT(*exp->Value("kata_shim_process_resident_memory_bytes"), 0);
  EXPECT_GE(*exp->Value("kata_hypervisor_fds"), 3);
  EXPECT_TRUE(exp->Value("kata_hypervisor_proc_stat", {{"item", "utime"}}).ok());
  EXPECT_EQ(*exp->Value("kata_guest_load", {{"item", "load1"}}), 0.5);
  EXPECT_EQ(*exp->Value("kata_agent_threads"), 4);
  EXPECT_EQ(*exp->Value("kata_container_cpu_usage_seconds_total", {{"container_id", "c1"}}), 2.5);
  EXPECT_EQ(exp->types.at("kata_container_cpu_usage_seconds_total"), "counter");
  EXPECT_EQ(*exp->Value("kata_container_cpu_system_seconds_total", {{"container_id", "c1"}}), 0.5);
  EXPECT_EQ(*exp->Value("kata_container_memory_usage_bytes", {{"container_id", "c1"}}), 8 << 20);
  EXPECT_EQ(*exp->Value("kata_container_pids_current", {{"container_id", "c1"}}), 3);
  // Unlimited: no limit series. A stopped container: no series, no error.
  EXPECT_FALSE(exp->Value("kata_container_memory_limit_bytes").ok());
  EXPECT_FALSE(exp->Value("kata_container_memory_usage_bytes", {{"container_id", "c2"}}).ok());
  EXPECT_EQ(*exp->Value("kata_shim_scrape_errors"), 0);
}

TEST_F(MonitorTest, NoSandboxYetIsTheShimAlone) {
  absl::StatusOr<Exposition> exp = ParseExposition(CollectSandboxMetrics({}));
  ASSERT_TRUE(exp.ok()) << exp.status();
  EXPECT_TRUE(exp->Value("kata_shim_threads").ok());
  EXPECT_FALSE(exp->Value("kata_hypervisor_threads").ok());
}

// The guest is not trusted: what its agent answers can neither break the host's exposition
// nor stand in for the host's own series.
TEST_F(MonitorTest, AHostileAgentIsLeftOut) {
  const std::string hostile[] = {
      "kata_shim_threads 999\n",                                          // forges the shim
      "# TYPE kata_hypervisor_fds gauge\n",                               // a host family
      "kata_guest_load{item=\"load1\"} 1\nkata_guest_load{item=\"x\"",    // broken
      "kata_guest_load 1\n# TYPE kata_shim_scrape_errors gauge\n",        // TYPE injection
      std::string(kMaxAgentMetrics + 1, '#'),                             // too big
      "# HELP kata_container_memory_usage_bytes x\nkata_guest_load 1\n",  // a host's HELP
      "kata_guest_load{a=\"\x1b]52;c;aGk=\x07\"} 1\n",                    // terminal escapes
  };
  for (const std::string& text : hostile) {
    EXPECT_CALL(sandbox_, AgentMetrics()).WillOnce(Return(text));
    std::string out = CollectSandboxMetrics(View());
    absl::StatusOr<Exposition> exp = ParseExposition(out);
    ASSERT_TRUE(exp.ok()) << exp.status() << "\n" << out.substr(0, 2000);
    EXPECT_THAT(out, HasSubstr("# agent metrics left out: "));
    EXPECT_NE(*exp->Value("kata_shim_threads"), 999);
    EXPECT_FALSE(exp->Value("kata_guest_load").ok());
    EXPECT_EQ(*exp->Value("kata_shim_scrape_errors"), 1);
  }
  // A valid text passes rebuilt: its comments (terminal escapes in one here) are dropped.
  EXPECT_CALL(sandbox_, AgentMetrics())
      .WillOnce(
          Return("# \x1b[2J\x1b]52;c;aGk=\x07\n# TYPE kata_guest_load gauge\nkata_guest_load 2\n"));
  std::string out = CollectSandboxMetrics(View());
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
  EXPECT_THAT(out, HasSubstr("# TYPE kata_guest_load gauge\nkata_guest_load 2\n"));
  EXPECT_CALL(sandbox_, AgentMetrics()).WillOnce(Return(absl::DeadlineExceededError("slow")));
  absl::StatusOr<Exposition> exp = ParseExposition(CollectSandboxMetrics(View()));
  ASSERT_TRUE(exp.ok());
  EXPECT_EQ(*exp->Value("kata_shim_scrape_errors"), 1);
  EXPECT_TRUE(exp->Value("kata_container_cpu_usage_seconds_total").ok());
}

TEST_F(MonitorTest, ServesOnAPrivateSocketAndCleansUp) {
  kata::testing::TempDir root("/tmp");
  absl::StatusOr<std::unique_ptr<ShimMonitor>> m = ShimMonitor::Start(
      "s1", [this] { return View(); }, root.path());
  ASSERT_TRUE(m.ok()) << m.status();
  const std::string sock = root.Join("s1/shim-monitor.sock");
  EXPECT_EQ((*m)->socket_path(), sock);
  struct stat st;
  ASSERT_EQ(stat(root.Join("s1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  absl::StatusOr<http::HttpResponse> r = http::HttpGetUnix(sock, "/metrics", absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, http::kPrometheusContentType);
  absl::StatusOr<Exposition> exp = ParseExposition(r->body);
  ASSERT_TRUE(exp.ok()) << exp.status();
  EXPECT_EQ(*exp->Value("kata_container_pids_current", {{"container_id", "c1"}}), 3);
  m->reset();
  EXPECT_NE(stat(sock.c_str(), &st), 0);
  EXPECT_NE(stat(root.Join("s1").c_str(), &st), 0);
}

}  // namespace
}  // namespace shim
}  // namespace kata
