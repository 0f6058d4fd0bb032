#include "src/runtime/monitor/kata_monitor.h"

#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/http/http.h"
#include "src/libs/metrics/prometheus.h"

namespace kata::runtime::monitor {
namespace {

class KataMonitorTest : public ::testing::Test {
 protected:
  // A shim of sandbox `id` whose management socket answers `body`.
  void Shim(const std::string& id, std::string body) {
    ASSERT_EQ(mkdir(root_.Join(id).c_str(), 0700), 0);
    auto l = http::ListenUnix(root_.Join(id + "/shim-monitor.sock"), 0600);
    ASSERT_TRUE(l.ok()) << l.status();
    auto s = http::HttpServer::Start(std::move(*l), {{"/metrics", [body] {
                                                        return http::HttpResponse{200, "t", body};
                                                      }}});
    ASSERT_TRUE(s.ok());
    shims_.push_back(std::move(*s));
  }
  kata::testing::TempDir root_{"/tmp"};
  std::vector<std::unique_ptr<http::HttpServer>> shims_;
};

TEST_F(KataMonitorTest, EverySandboxLabelled) {
  const std::string text = "# TYPE kata_shim_threads gauge\nkata_shim_threads 7\n";
  Shim("s1", text);
  Shim("s2", text);
  Shim("broken", "kata_shim_threads{ 1\n");
  ASSERT_EQ(mkdir(root_.Join("dead").c_str(), 0700), 0);
  { ASSERT_TRUE(http::ListenUnix(root_.Join("dead/shim-monitor.sock"), 0600).ok()); }
  ASSERT_EQ(mkdir(root_.Join("nosocket").c_str(), 0700), 0);
  KataMonitor monitor({.state_root = root_.path(), .shim_timeout = absl::Seconds(5)});
  std::string out = monitor.Scrape();
  absl::StatusOr<metrics::Exposition> exp = metrics::ParseExposition(out);
  ASSERT_TRUE(exp.ok()) << exp.status() << "\n" << out;
  EXPECT_EQ(*exp->Value("kata_shim_threads", {{"sandbox_id", "s1"}}), 7);
  EXPECT_EQ(*exp->Value("kata_shim_threads", {{"sandbox_id", "s2"}}), 7);
  EXPECT_FALSE(exp->Value("kata_shim_threads", {{"sandbox_id", "broken"}}).ok());
  EXPECT_EQ(*exp->Value("kata_monitor_running_shim_count"), 4);  // s1 s2 broken dead
  EXPECT_EQ(*exp->Value("kata_monitor_scrape_failed_count"), 2);
  EXPECT_EQ(*exp->Value("kata_monitor_scrape_count"), 1);
  EXPECT_GE(*exp->Value("kata_monitor_threads"), 1);
}

TEST_F(KataMonitorTest, NoSandboxesIsTheMonitorAlone) {
  KataMonitor monitor({.state_root = root_.Join("absent")});
  absl::StatusOr<metrics::Exposition> exp = metrics::ParseExposition(monitor.Scrape());
  ASSERT_TRUE(exp.ok()) << exp.status();
  EXPECT_EQ(*exp->Value("kata_monitor_running_shim_count"), 0);
}

}  // namespace
}  // namespace kata::runtime::monitor
