#include "src/libs/metrics/prometheus.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::metrics {
namespace {

using ::testing::HasSubstr;

TEST(PrometheusTest, WritesHelpTypeAndEscapedSamples) {
  MetricFamily f{"kata_x", "gauge", "Help with \\ and\nnewline.", {}};
  f.samples.push_back({{}, 7});
  f.samples.push_back({{{"item", "a\"b\\c\nd"}, {"cpu", "0"}}, 0.25});
  std::string out;
  AppendFamily(f, &out);
  EXPECT_EQ(out,
            "# HELP kata_x Help with \\\\ and\\nnewline.\n"
            "# TYPE kata_x gauge\n"
            "kata_x 7\n"
            "kata_x{item=\"a\\\"b\\\\c\\nd\",cpu=\"0\"} 0.25\n");
  absl::StatusOr<Exposition> exp = ParseExposition(out);
  ASSERT_TRUE(exp.ok()) << exp.status();
  EXPECT_EQ(exp->types.at("kata_x"), "gauge");
  EXPECT_EQ(*exp->Value("kata_x", {{"item", "a\"b\\c\nd"}}), 0.25);
  EXPECT_EQ(*exp->Value("kata_x"), 7);
}

TEST(PrometheusTest, EmptyFamilyWritesNothing) {
  std::string out;
  AppendFamily({"kata_x", "gauge", "h", {}}, &out);
  EXPECT_EQ(out, "");
}

TEST(PrometheusTest, ValuesReadBackExactly) {
  EXPECT_EQ(FormatValue(12), "12");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(18446744073709551615.0), "1.8446744073709552e+19");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(HUGE_VAL), "+Inf");
  EXPECT_EQ(FormatValue(-HUGE_VAL), "-Inf");
  for (double v : {123456789.123, 1e-7, 3.0 / 7}) {
    EXPECT_EQ(std::strtod(FormatValue(v).c_str(), nullptr), v);
  }
}

TEST(PrometheusTest, NamesAreChecked) {
  EXPECT_TRUE(IsValidMetricName("kata_agent:x_1"));
  EXPECT_FALSE(IsValidMetricName("1x"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("item"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
}

TEST(PrometheusTest, ParserRefusesWhatExpfmtRefuses) {
  const char* bad[] = {
      "1x 3\n",                                   // name
      "x{a=\"b} 3\n",                             // unterminated label
      "x{a=b} 3\n",                               // value not quoted
      "x{a=\"\\t\"} 3\n",                         // bad escape
      "x{a=\"1\",a=\"2\"} 3\n",                   // repeated label
      "x{1a=\"1\"} 3\n",                          // label name
      "x abc\n",                                  // value
      "x 1 2 3\n",                                // too many fields
      "x 1\ny 2\nx 3\n",                          // family split
      "x 1\n# TYPE x gauge\n",                    // TYPE after samples
      "# TYPE x gauge\n# TYPE x counter\nx 1\n",  // TYPE twice
      "# TYPE x bogus\nx 1\n",                    // type
      "x{a=\"1\"} 1\nx{a=\"1\"} 2\n",             // series twice
  };
  for (const char* text : bad) {
    EXPECT_FALSE(CheckExposition(text).ok()) << text;
  }
  absl::Status s = CheckExposition("x 1\n\nx{} 2\n");
  EXPECT_THAT(s.message(), HasSubstr("line 3"));
  EXPECT_TRUE(CheckExposition("# a comment\nx 1 1700000000000\ny +Inf\nz NaN\n").ok());
}

// What a hostile guest could put in its GetMetrics text to reach an admin's terminal or to
// break Prometheus' parser (expfmt) for every sandbox: all refused, and no error message
// carries a control byte.
TEST(PrometheusTest, ControlBytesBadUtf8ReservedLabelsAndSecondHelpAreRefused) {
  const std::string bad[] = {
      "# HELP x \x1b]52;c;aGk=\x07\x1b[2J\nx 1\n",  // escapes in HELP
      "x{a=\"\x1b[31mred\"} 1\n",                   // ... in a label value
      "x{a=\"\r\"} 1\n",                            // a carriage return
      "x{a=\"\xc3\x28\"} 1\n",                      // invalid UTF-8
      "# HELP x \xe0\x80\x80\nx 1\n",               // overlong UTF-8
      "x{__name__=\"y\"} 1\n",                      // reserved label name
      "# HELP x one\n# HELP x two\nx 1\n",          // second HELP
      "\x1b[2Jx 1\n",                               // in a name (and the message)
  };
  for (const std::string& text : bad) {
    absl::Status s = CheckExposition(text);
    EXPECT_FALSE(s.ok()) << text;
    for (char c : s.message()) {
      EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << s.message();
    }
  }
  EXPECT_TRUE(CheckExposition("# HELP x caf\xc3\xa9 \xe2\x82\xac\nx{a=\"\xc3\xa9\\n\"} 1\n").ok());
}

// A guest's text is passed on rebuilt from what was parsed: comments and HELP/TYPE lines of
// families without samples are gone.
TEST(PrometheusTest, FormatExpositionKeepsOnlyParsedFamilies) {
  absl::StatusOr<Exposition> exp = ParseExposition(
      "# a comment \x7f\n# HELP a A.\n# TYPE a counter\na 1\n# HELP b none\n# TYPE b gauge\n"
      "c{x=\"1\"} 2\n");
  ASSERT_TRUE(exp.ok()) << exp.status();
  EXPECT_EQ(FormatExposition(*exp),
            "# HELP a A.\n# TYPE a counter\na 1\n# HELP c \n# TYPE c untyped\nc{x=\"1\"} 2\n");
}

TEST(PrometheusTest, AddLabelPutsTheLabelFirstAndReplacesAnOldOne) {
  std::string text =
      "# HELP x h\n# TYPE x gauge\nx 1\nx{item=\"a\"} 2\nx2{sandbox_id=\"old\",b=\"c\"} 3 17\n";
  std::string out = AddLabel(text, "sandbox_id", "s\"1");
  EXPECT_EQ(out,
            "# HELP x h\n# TYPE x gauge\nx{sandbox_id=\"s\\\"1\"} 1\n"
            "x{sandbox_id=\"s\\\"1\",item=\"a\"} 2\nx2{sandbox_id=\"s\\\"1\",b=\"c\"} 3 17\n");
  EXPECT_TRUE(CheckExposition(out).ok());
}

}  // namespace
}  // namespace kata::metrics

namespace kata::metrics {
namespace {

TEST(PrometheusTest, MergeLabelledGroupsFamiliesAcrossSources) {
  std::vector<Source> sources = {
      {"s1", "# HELP a A \\\\ help.\n# TYPE a gauge\na 1\na{x=\"1\"} 2\n# TYPE b counter\nb 3\n"},
      {"s2", "# HELP a other\n# TYPE a gauge\na{sandbox_id=\"forged\"} 4\nc 5\n"},
      {"bad", "a{ 1\n"},
  };
  std::vector<std::string> failed;
  std::string out = MergeLabelled(sources, "sandbox_id", &failed);
  EXPECT_EQ(out,
            "# HELP a A \\\\ help.\n# TYPE a gauge\n"
            "a{sandbox_id=\"s1\"} 1\na{sandbox_id=\"s1\",x=\"1\"} 2\na{sandbox_id=\"s2\"} 4\n"
            "# HELP b \n# TYPE b counter\nb{sandbox_id=\"s1\"} 3\n"
            "# HELP c \n# TYPE c untyped\nc{sandbox_id=\"s2\"} 5\n");
  EXPECT_EQ(failed, std::vector<std::string>{"bad"});
  EXPECT_TRUE(CheckExposition(out).ok());
}

// One sandbox declaring a family with another type must not retype every sandbox's samples.
TEST(PrometheusTest, MergeLabelledDropsAFamilyOfAnotherType) {
  std::vector<Source> sources = {
      {"s1", "# TYPE kata_guest_load1 summary\nkata_guest_load1_sum 1\n"},
      {"s2", "# TYPE kata_guest_load1 gauge\nkata_guest_load1 2\n"},
      {"s3", "kata_guest_load1 3\n"},
  };
  std::string out = MergeLabelled(sources, "sandbox_id", nullptr);
  EXPECT_THAT(out, HasSubstr("kata_guest_load1_sum{sandbox_id=\"s1\"} 1\n"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("s2")));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("s3")));
  EXPECT_TRUE(CheckExposition(out).ok()) << out;
}

}  // namespace
}  // namespace kata::metrics
