#include "src/libs/trace/align.h"

#include <vector>

#include "gtest/gtest.h"

namespace kata::trace {
namespace {

SpanData Make(SpanKind kind, int64_t start, int64_t end, const SpanId& parent = {}) {
  SpanData s;
  s.context.trace_id = NewTraceId();
  s.context.span_id = NewSpanId();
  s.parent_span_id = parent;
  s.kind = kind;
  s.start_unix_nanos = start;
  s.end_unix_nanos = end;
  return s;
}

TEST(AlignTest, CentresTheServerSpanOfTheTightestCall) {
  // Host: two client calls, [1000, 1100] and [2000, 2500]. The guest's clock is 5 s behind.
  const int64_t skew = -5'000'000'000;
  std::vector<SpanData> local = {Make(SpanKind::kClient, 1000, 1100),
                                 Make(SpanKind::kClient, 2000, 2500),
                                 Make(SpanKind::kInternal, 0, 3000)};
  std::vector<SpanData> remote = {
      Make(SpanKind::kServer, 1030 + skew, 1090 + skew, local[0].context.span_id),  // slack 40
      Make(SpanKind::kServer, 2100 + skew, 2200 + skew, local[1].context.span_id),  // slack 400
      Make(SpanKind::kInternal, 900 + skew, 950 + skew, local[2].context.span_id),
      Make(SpanKind::kServer, 0, 10'000, local[0].context.span_id)};  // longer: not used
  std::optional<int64_t> offset = ClockOffset(local, remote);
  ASSERT_TRUE(offset.has_value());
  // The tightest pair: 60 ns of work in a 100 ns call, centred: starts at 1020.
  EXPECT_EQ(*offset, 1020 - (1030 + skew));
  Shift(*offset, remote);
  EXPECT_EQ(remote[0].start_unix_nanos, 1020);
  EXPECT_EQ(remote[0].end_unix_nanos, 1080);
  EXPECT_GE(remote[1].start_unix_nanos, 2000);
  EXPECT_LE(remote[1].end_unix_nanos, 2500);
}

TEST(AlignTest, NoPairNoOffset) {
  std::vector<SpanData> local = {Make(SpanKind::kClient, 0, 10)};
  std::vector<SpanData> remote = {Make(SpanKind::kServer, 0, 5)};  // another parent
  EXPECT_FALSE(ClockOffset(local, remote).has_value());
  EXPECT_FALSE(ClockOffset({}, {}).has_value());
}

}  // namespace
}  // namespace kata::trace
