#include "src/libs/trace/frame.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::trace {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

ExportTraceServiceRequest Request(const std::string& span_name) {
  SpanData s;
  s.context.trace_id = NewTraceId();
  s.context.span_id = NewSpanId();
  s.name = span_name;
  s.start_unix_nanos = 1;
  s.end_unix_nanos = 2;
  return ToExportRequest("kata-agent", {s});
}

std::string Frame(const ExportTraceServiceRequest& r) {
  absl::StatusOr<std::string> f = EncodeFrame(r);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *f : "";
}

std::string Header(uint32_t n) {
  return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
}

TEST(FrameTest, LengthPrefixedProtobufInAnyPieces) {
  const std::string a = Frame(Request("grpc.AgentService/CreateContainer"));
  const std::string b = Frame(Request("init.mounts"));
  ASSERT_GT(a.size(), kFrameHeaderBytes);
  EXPECT_EQ(a.substr(0, 4), Header(static_cast<uint32_t>(a.size() - 4)));  // big-endian
  const std::string stream = a + b;
  FrameDecoder d;
  std::vector<ExportTraceServiceRequest> got;
  for (char c : stream) {  // one byte at a time
    for (auto& r : d.Feed(absl::string_view(&c, 1))) got.push_back(std::move(r));
  }
  ASSERT_THAT(got, SizeIs(2));
  EXPECT_EQ(got[0].resource_spans(0).scope_spans(0).spans(0).name(),
            "grpc.AgentService/CreateContainer");
  EXPECT_EQ(got[1].resource_spans(0).scope_spans(0).spans(0).name(), "init.mounts");
  EXPECT_EQ(d.dropped(), 0u);
  EXPECT_EQ(d.decoded(), 2u);
  // All at once: the same.
  FrameDecoder d2;
  EXPECT_THAT(d2.Feed(stream), SizeIs(2));
}

TEST(FrameTest, EncodeRefusesAnOversizedRequest) {
  ExportTraceServiceRequest r = Request(std::string(kMaxFrameBytes, 'x'));
  absl::StatusOr<std::string> f = EncodeFrame(r);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kResourceExhausted);
}

// A hostile guest: a 4 GiB length, then garbage that is no protobuf, then a good frame. The
// oversized frame is skipped without being buffered, the garbage dropped, the good one kept.
TEST(FrameTest, HostileFramesAreDroppedWithBoundedMemory) {
  FrameDecoder d;
  EXPECT_THAT(d.Feed(Header(0xffffffffu)), SizeIs(0));
  EXPECT_EQ(d.dropped(), 1u);
  EXPECT_THAT(d.last_error(), HasSubstr("over the limit"));
  // Feed the 4 GiB - 1 it announced in 1 MiB pieces of 0xff: nothing is kept.
  const std::string junk(1 << 20, '\xff');
  for (int i = 0; i < 4095; ++i) ASSERT_THAT(d.Feed(junk), SizeIs(0));
  ASSERT_THAT(d.Feed(absl::string_view(junk).substr(1)), SizeIs(0));
  EXPECT_EQ(d.dropped(), 1u);
  // Not a protobuf (a field with wire type 7).
  const std::string bad = "\xff\xff\xff\xff\xff\xff";
  EXPECT_THAT(d.Feed(Header(static_cast<uint32_t>(bad.size())) + bad), SizeIs(0));
  EXPECT_EQ(d.dropped(), 2u);
  EXPECT_THAT(d.last_error(), HasSubstr("no ExportTraceServiceRequest"));
  // The stream is still in step: a good frame after it decodes.
  EXPECT_THAT(d.Feed(Frame(Request("after"))), SizeIs(1));
  EXPECT_EQ(d.decoded(), 1u);
  // An empty frame is an empty request (valid protobuf).
  EXPECT_THAT(d.Feed(Header(0)), SizeIs(1));
}

}  // namespace
}  // namespace kata::trace
