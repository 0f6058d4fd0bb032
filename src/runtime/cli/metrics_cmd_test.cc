#include "src/runtime/cli/metrics_cmd.h"

#include <sys/stat.h>

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/http/http.h"
#include "src/runtime/cli/cli.h"

namespace kata::runtime::cli {
namespace {

using ::testing::HasSubstr;

class MetricsCmdTest : public ::testing::Test {
 protected:
  // A shim's management socket for sandbox `id` answering `body`.
  void Serve(const std::string& id, std::string body) {
    ASSERT_EQ(mkdir(root_.Join(id).c_str(), 0700), 0);
    absl::StatusOr<UniqueFd> l = http::ListenUnix(root_.Join(id + "/shim-monitor.sock"), 0600);
    ASSERT_TRUE(l.ok()) << l.status();
    auto s = http::HttpServer::Start(
        std::move(*l), {{"/metrics", [body] {
                           return http::HttpResponse{200, http::kPrometheusContentType, body};
                         }}});
    ASSERT_TRUE(s.ok());
    servers_.push_back(std::move(*s));
  }
  int Run(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    return RunMetrics(args, out_, err_, root_.path(), absl::Seconds(5));
  }
  kata::testing::TempDir root_{"/tmp"};
  std::vector<std::unique_ptr<http::HttpServer>> servers_;
  std::ostringstream out_, err_;
};

TEST_F(MetricsCmdTest, PrintsTheSandboxMetrics) {
  Serve("s1", "# TYPE kata_shim_threads gauge\nkata_shim_threads 9\n");
  EXPECT_EQ(Run({"s1"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "# TYPE kata_shim_threads gauge\nkata_shim_threads 9\n");
  // Through kata-runtime itself.
  CliContext context;
  context.shim_state_root = root_.path();
  std::ostringstream out, err;
  EXPECT_EQ(RunKataRuntime({"metrics", "s1"}, out, err, context), 0) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("kata_shim_threads 9"));
}

TEST_F(MetricsCmdTest, ClearErrors) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_EQ(Run({"a", "b"}), 2);
  EXPECT_EQ(Run({"../etc"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("not a plain name"));
  EXPECT_EQ(Run({"nosuch"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("no sandbox nosuch"));
  Serve("bad", "kata_shim_threads{ 1\n");
  EXPECT_EQ(Run({"bad"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("sandbox bad: metrics line 1"));
  EXPECT_EQ(out_.str(), "");
  // A socket nobody serves any more.
  ASSERT_EQ(mkdir(root_.Join("dead").c_str(), 0700), 0);
  { ASSERT_TRUE(http::ListenUnix(root_.Join("dead/shim-monitor.sock"), 0600).ok()); }
  EXPECT_EQ(Run({"dead"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("sandbox dead: connect"));
}

}  // namespace
}  // namespace kata::runtime::cli
