// Tracer, Span and ScopedSpan: the switch, ids, parents, the per-thread current span.
#include "src/libs/trace/span.h"

#include <thread>

#include "gtest/gtest.h"
#include "src/libs/trace/otlp.h"
#include "src/libs/trace/scoped_span.h"
#include "src/libs/trace/tracer.h"

namespace kata::trace {
namespace {

TEST(TracerTest, DisabledTracerRecordsNothing) {
  Tracer tracer({.enabled = false, .service_name = "t"});
  {
    Span s = tracer.StartSpan("a", SpanContext());
    EXPECT_FALSE(s.recording());
    EXPECT_FALSE(s.context().IsValid());
    s.SetString("k", "v");
    s.SetError(absl::InternalError("x"));
    ScopedSpan scoped(tracer, "b");
    EXPECT_FALSE(scoped.span().recording());
    ScopedSpan child("c");  // no current span: no-op
    EXPECT_FALSE(child.span().recording());
    EXPECT_FALSE(CurrentContext().IsValid());
  }
  EXPECT_TRUE(tracer.TakeFinished().empty());
}

TEST(TracerTest, SpansHaveIdsParentsTimesAttributesStatus) {
  Tracer tracer({.enabled = true, .service_name = "t"});
  Span root = tracer.StartSpan("root", SpanContext());
  ASSERT_TRUE(root.recording());
  const SpanContext rc = root.context();
  EXPECT_TRUE(rc.IsValid());
  Span child = tracer.StartSpan("child", rc);
  EXPECT_EQ(child.context().trace_id, rc.trace_id);
  EXPECT_NE(child.context().span_id, rc.span_id);
  child.SetString("s", "v");
  child.SetInt("i", -7);
  child.SetBool("b", true);
  child.SetError(absl::NotFoundError("container c1"));
  child.End();
  child.End();  // idempotent
  root.End();
  std::vector<SpanData> done = tracer.TakeFinished();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].name, "child");
  EXPECT_EQ(done[0].parent_span_id, rc.span_id);
  EXPECT_TRUE(IsZero(AsBytes(done[1].parent_span_id)));
  EXPECT_LE(done[0].start_unix_nanos, done[0].end_unix_nanos);
  EXPECT_LE(done[1].start_unix_nanos, done[0].start_unix_nanos);
  EXPECT_GE(done[1].end_unix_nanos, done[0].end_unix_nanos);
  ASSERT_EQ(done[0].attributes.size(), 3u);
  EXPECT_EQ(std::get<int64_t>(done[0].attributes[1].value), -7);
  EXPECT_EQ(done[0].status, StatusCode::kError);
  EXPECT_NE(done[0].status_message.find("container c1"), std::string::npos);
  EXPECT_TRUE(tracer.TakeFinished().empty());
}

TEST(TracerTest, StartSpanAtKeepsTheGivenStart) {
  Tracer tracer({.enabled = true, .service_name = "t"});
  tracer.StartSpanAt("early", SpanContext(), 1000).End();
  std::vector<SpanData> done = tracer.TakeFinished();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].start_unix_nanos, 1000);
  EXPECT_GT(done[0].end_unix_nanos, 1000);
  Tracer off({.enabled = false, .service_name = "t"});
  EXPECT_FALSE(off.StartSpanAt("x", SpanContext(), 1).recording());
}

TEST(TracerTest, NewTracesGetDifferentRandomIds) {
  Tracer tracer({.enabled = true, .service_name = "t"});
  Span a = tracer.StartSpan("a", SpanContext());
  Span b = tracer.StartSpan("b", SpanContext());
  EXPECT_NE(a.context().trace_id, b.context().trace_id);
  EXPECT_NE(a.context().span_id, b.context().span_id);
}

TEST(TracerTest, MovedSpanEndsOnce) {
  Tracer tracer({.enabled = true, .service_name = "t"});
  {
    Span a = tracer.StartSpan("a", SpanContext());
    Span b = std::move(a);
    EXPECT_FALSE(a.recording());  // NOLINT(bugprone-use-after-move): the contract
    EXPECT_TRUE(b.recording());
  }
  EXPECT_EQ(tracer.TakeFinished().size(), 1u);
}

TEST(TracerTest, BufferIsBoundedAndCountsDrops) {
  Tracer tracer({.enabled = true, .service_name = "t", .max_buffered = 2});
  for (int i = 0; i < 5; ++i) tracer.StartSpan("s", SpanContext()).End();
  EXPECT_EQ(tracer.TakeFinished().size(), 2u);
  EXPECT_EQ(tracer.dropped(), 3u);
}

TEST(ScopedSpanTest, CurrentSpanNestsAndRestores) {
  Tracer tracer({.enabled = true, .service_name = "t"});
  SpanContext outer_ctx, inner_ctx;
  {
    ScopedSpan outer(tracer, "outer");
    outer_ctx = outer->context();
    EXPECT_EQ(CurrentContext(), outer_ctx);
    EXPECT_EQ(CurrentTracer(), &tracer);
    {
      ScopedSpan inner("inner");  // no Tracer named: the current span's
      inner_ctx = inner->context();
      EXPECT_EQ(CurrentContext(), inner_ctx);
      // Another thread has no current span; it passes the parent explicitly.
      std::thread([&tracer, parent = CurrentContext()] {
        EXPECT_FALSE(CurrentContext().IsValid());
        ScopedSpan remote(tracer, "worker", parent);
      }).join();
    }
    EXPECT_EQ(CurrentContext(), outer_ctx);
  }
  EXPECT_FALSE(CurrentContext().IsValid());
  std::vector<SpanData> done = tracer.TakeFinished();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].name, "worker");
  EXPECT_EQ(done[0].parent_span_id, inner_ctx.span_id);
  EXPECT_EQ(done[1].name, "inner");
  EXPECT_EQ(done[1].parent_span_id, outer_ctx.span_id);
  EXPECT_EQ(done[1].context.trace_id, outer_ctx.trace_id);
}

TEST(OtlpTest, RoundTripThroughProtobufBytes) {
  Tracer tracer({.enabled = true, .service_name = "kata-shim"});
  {
    ScopedSpan root(tracer, "root");
    ScopedSpan child("child");
    child->SetInt("n", 3);
    child->SetString("id", "c1");
    child->SetBool("ok", false);
    child->SetError(absl::UnavailableError("agent"));
    child->SetKind(SpanKind::kClient);
  }
  std::vector<SpanData> spans = tracer.TakeFinished();
  std::string wire;
  ASSERT_TRUE(ToExportRequest("kata-shim", spans).SerializeToString(&wire));
  ExportTraceServiceRequest back;
  ASSERT_TRUE(back.ParseFromString(wire));
  auto got = FromExportRequest(back);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const SpanData& a = spans[i];
    const SpanData& b = (*got)[i].span;
    EXPECT_EQ((*got)[i].service_name, "kata-shim");
    EXPECT_EQ(a.context, b.context);
    EXPECT_EQ(a.parent_span_id, b.parent_span_id);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.start_unix_nanos, b.start_unix_nanos);
    EXPECT_EQ(a.end_unix_nanos, b.end_unix_nanos);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.status_message, b.status_message);
    ASSERT_EQ(a.attributes.size(), b.attributes.size());
    for (size_t j = 0; j < a.attributes.size(); ++j) {
      EXPECT_EQ(a.attributes[j].key, b.attributes[j].key);
      EXPECT_EQ(a.attributes[j].value, b.attributes[j].value);
    }
  }
  EXPECT_TRUE(ToExportRequest("x", {}).resource_spans().empty());
}

TEST(OtlpTest, WrongIdLengthIsRefused) {
  ExportTraceServiceRequest r;
  auto* s = r.add_resource_spans()->add_scope_spans()->add_spans();
  s->set_name("bad");
  s->set_trace_id("short");
  s->set_span_id("12345678");
  auto got = FromExportRequest(r);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("bad"), std::string::npos);
}

}  // namespace
}  // namespace kata::trace
