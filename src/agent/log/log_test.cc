#include "src/agent/log/log.h"

#include "gtest/gtest.h"

namespace kata {
namespace agent {
namespace {

TEST(LogTest, FormatsLogfmt) {
  EXPECT_EQ(FormatLogLine(LogLevel::kInfo, "serving", {{"addr", "unix:///x"}, {"pid", 42}}),
            "level=info msg=serving addr=unix:///x pid=42\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kWarn, "two words", {{"v", "a\"b\nc"}, {"e", ""}}),
            "level=warn msg=\"two words\" v=\"a\\\"b\\nc\" e=\"\"\n");
}

TEST(LogTest, Levels) {
  for (LogLevel l : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                     LogLevel::kError, LogLevel::kCritical}) {
    auto parsed = ParseLogLevel(LogLevelName(l));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, l);
  }
  EXPECT_EQ(*ParseLogLevel("WARNING"), LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
  SetLogLevel(LogLevel::kWarn);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  SetLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace agent
}  // namespace kata
