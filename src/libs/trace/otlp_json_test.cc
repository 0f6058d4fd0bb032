// OTLP/JSON: the example of the OTLP specification (opentelemetry-proto examples/trace.json)
// parses, and what we write has the spec's shape: hex ids, lowerCamelCase, 64-bit integers as
// strings, enums as integers.
#include "src/libs/trace/otlp_json.h"

#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "src/libs/trace/otlp.h"
#include "src/libs/trace/tracer.h"

namespace kata::trace {
namespace {

constexpr char kSpecExample[] = R"({
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeSpans": [{
      "scope": {"name": "my.library", "version": "1.0.0",
                "attributes": [{"key": "my.scope.attribute",
                                "value": {"stringValue": "some scope attribute"}}]},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "EEE19B7EC3C1B173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "kind": 2,
        "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}]
      }]
    }]
  }]
})";

TEST(OtlpJsonTest, ParsesTheSpecsExample) {
  auto r = ParseOtlpJson(kSpecExample);
  ASSERT_TRUE(r.ok()) << r.status();
  auto spans = FromExportRequest(*r);
  ASSERT_TRUE(spans.ok()) << spans.status();
  ASSERT_EQ(spans->size(), 1u);
  const ServiceSpan& s = (*spans)[0];
  EXPECT_EQ(s.service_name, "my.service");
  EXPECT_EQ(ToHex(s.span.context.trace_id), "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(ToHex(s.span.context.span_id), "eee19b7ec3c1b174");
  EXPECT_EQ(ToHex(s.span.parent_span_id), "eee19b7ec3c1b173");
  EXPECT_EQ(s.span.name, "I'm a server span");
  EXPECT_EQ(s.span.start_unix_nanos, 1544712660000000000);
  EXPECT_EQ(s.span.end_unix_nanos, 1544712661000000000);
  EXPECT_EQ(s.span.kind, SpanKind::kServer);
  ASSERT_EQ(s.span.attributes.size(), 1u);
  EXPECT_EQ(std::get<std::string>(s.span.attributes[0].value), "some value");
}

TEST(OtlpJsonTest, WritesTheSpecsShape) {
  SpanData d;
  ASSERT_TRUE(
      FromBytes(std::string("\x5b\x8e\xff\xf7\x98\x03\x81\x03\xd2\x69\xb6\x33\x81\x3f\xc6\x0c", 16),
                &d.context.trace_id));
  ASSERT_TRUE(FromBytes(std::string("\xee\xe1\x9b\x7e\xc3\xc1\xb1\x74", 8), &d.context.span_id));
  ASSERT_TRUE(FromBytes(std::string("\xee\xe1\x9b\x7e\xc3\xc1\xb1\x73", 8), &d.parent_span_id));
  d.name = "I'm a server span";
  d.kind = SpanKind::kServer;
  d.start_unix_nanos = 1544712660000000000;
  d.end_unix_nanos = 1544712661000000000;
  d.attributes.push_back({"my.span.attr", std::string("some value")});
  d.attributes.push_back({"n", int64_t{42}});
  d.status = StatusCode::kError;
  d.status_message = "boom";
  auto json = ToOtlpJson(ToExportRequest("my.service", {d}));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->find('\n'), std::string::npos);
  rapidjson::Document doc;
  doc.Parse(json->c_str());
  ASSERT_FALSE(doc.HasParseError()) << *json;
  const auto& rs = doc["resourceSpans"][0];
  EXPECT_STREQ(rs["resource"]["attributes"][0]["key"].GetString(), "service.name");
  EXPECT_STREQ(rs["resource"]["attributes"][0]["value"]["stringValue"].GetString(), "my.service");
  const auto& span = rs["scopeSpans"][0]["spans"][0];
  EXPECT_STREQ(rs["scopeSpans"][0]["scope"]["name"].GetString(), "kata-cpp");
  EXPECT_STREQ(span["traceId"].GetString(), "5b8efff798038103d269b633813fc60c");
  EXPECT_STREQ(span["spanId"].GetString(), "eee19b7ec3c1b174");
  EXPECT_STREQ(span["parentSpanId"].GetString(), "eee19b7ec3c1b173");
  EXPECT_STREQ(span["startTimeUnixNano"].GetString(), "1544712660000000000");
  EXPECT_STREQ(span["endTimeUnixNano"].GetString(), "1544712661000000000");
  EXPECT_EQ(span["kind"].GetInt(), 2);
  EXPECT_STREQ(span["attributes"][1]["value"]["intValue"].GetString(), "42");
  EXPECT_EQ(span["status"]["code"].GetInt(), 2);
  EXPECT_STREQ(span["status"]["message"].GetString(), "boom");
  // And back.
  auto back = ParseOtlpJson(*json);
  ASSERT_TRUE(back.ok()) << back.status();
  auto spans = FromExportRequest(*back);
  ASSERT_TRUE(spans.ok());
  EXPECT_EQ((*spans)[0].span.context, d.context);
  EXPECT_EQ((*spans)[0].span.parent_span_id, d.parent_span_id);
}

TEST(OtlpJsonTest, RefusesMalformedInput) {
  EXPECT_EQ(ParseOtlpJson("{").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOtlpJson(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]})")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseOtlpJson(R"({"resourceSpans":5})").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kata::trace
