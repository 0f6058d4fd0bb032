// kata-runtime trace on a fixed file (testdata/trace.jsonl: an older one-span trace, then a
// trace whose shim spans and agent spans are on two lines, the agent's under the shim's
// client span "agent.CreateSandbox").
#include "src/runtime/cli/trace_cmd.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata::runtime::cli {
namespace {

using ::testing::HasSubstr;

constexpr char kFile[] = "src/runtime/cli/testdata/trace.jsonl";

class TraceCmdTest : public ::testing::Test {
 protected:
  int Run(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    return RunTrace(args, out_, err_);
  }
  std::ostringstream out_, err_;
};

TEST_F(TraceCmdTest, PrintsTheLatestTraceAsAWaterfallOfBothProcesses) {
  ASSERT_EQ(Run({kFile}), 0) << err_.str();
  const std::string bar_all = "|" + std::string(40, '#') + "|";
  EXPECT_EQ(out_.str(),
            "trace 0af7651916cd43dd8448eb211c80319c: 6 spans (kata-agent 2, kata-shim 4), "
            "1000.0 ms (1 other traces)\n"
            "  start ms    dur ms  span\n"
            "       0.0    1000.0  containerd-shim-kata-v2                            " +
                bar_all +
                "\n"
                "       0.0      10.0    shim.start                                       "
                "|#                                       |\n"
                "     100.0     500.0    task.Create                                      "
                "|    ####################                |\n"
                "     500.0     100.0      agent.CreateSandbox                            "
                "|                    ####                |\n"
                "     510.0      80.0        rpc.CreateSandbox [kata-agent]               "
                "|                    ###                 |\n"
                "     520.0      60.0          container.create [kata-agent] !ERROR       "
                "|                    ###                 |\n");
}

TEST_F(TraceCmdTest, PicksATraceById) {
  ASSERT_EQ(Run({kFile, "--trace-id", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("trace ffffffffffffffffffffffffffffffff: 1 spans"));
  EXPECT_THAT(out_.str(), HasSubstr("older"));
  EXPECT_EQ(Run({kFile, "--trace-id", "0123"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("no trace 0123"));
}

TEST_F(TraceCmdTest, Errors) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_EQ(Run({kFile, "extra"}), 2);
  EXPECT_EQ(Run({"/nonexistent/trace.jsonl"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("/nonexistent/trace.jsonl"));
  kata::testing::TempDir dir;
  const std::string bad = dir.Join("bad.jsonl");
  ASSERT_TRUE(WriteStringToFile(bad, "\n{\"resourceSpans\":[]}\nnot json\n").ok());
  EXPECT_EQ(Run({bad}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("line 3"));
  const std::string empty = dir.Join("empty.jsonl");
  ASSERT_TRUE(WriteStringToFile(empty, "").ok());
  EXPECT_EQ(Run({empty}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("no span"));
}

}  // namespace
}  // namespace kata::runtime::cli
