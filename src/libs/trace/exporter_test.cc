// The exporters: a file of OTLP/JSON lines, and OTLP/HTTP to a real HTTP receiver on loopback.
#include "src/libs/trace/exporter.h"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "src/libs/base/io.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/http/http.h"
#include "src/libs/trace/otlp_json.h"
#include "src/libs/trace/tracer.h"

namespace kata::trace {
namespace {

ExportTraceServiceRequest TwoSpans(const std::string& service) {
  Tracer tracer({.enabled = true, .service_name = service});
  {
    Span root = tracer.StartSpan("root", SpanContext());
    tracer.StartSpan("child", root.context()).End();
  }
  return ToExportRequest(service, tracer.TakeFinished());
}

TEST(FileExporterTest, AppendsOneJsonRequestPerLine) {
  kata::testing::TempDir dir;
  const std::string path = dir.path() + "/trace.jsonl";
  auto e = MakeExporter("file://" + path);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_TRUE((*e)->Export(TwoSpans("a")).ok());
  ASSERT_TRUE((*e)->Export(ExportTraceServiceRequest()).ok());  // nothing written
  ASSERT_TRUE((*e)->Export(TwoSpans("b")).ok());
  std::vector<std::string> lines =
      absl::StrSplit(kata::testing::ReadFileOrDie(path), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    auto r = ParseOtlpJson(lines[i]);
    ASSERT_TRUE(r.ok()) << r.status();
    auto spans = FromExportRequest(*r);
    ASSERT_TRUE(spans.ok());
    ASSERT_EQ(spans->size(), 2u);
    EXPECT_EQ((*spans)[0].service_name, i == 0 ? "a" : "b");
  }
}

TEST(ExporterTest, RefusesBadEndpoints) {
  for (const char* bad : {"", "/tmp/x", "file://relative", "https://h:4318", "http://",
                          "http://h:0", "http://h:99999", "http://h:x/v1", "udp://h:1"}) {
    auto e = MakeExporter(bad);
    EXPECT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(MakeExporter("http://h:1", "grpc").ok());
}

struct Received {
  std::string request_line, content_type, body;
};

// A real HTTP/1.1 receiver: accepts one connection, reads the request (Content-Length body),
// answers `status_line`.
Received ServeOne(int listener, const std::string& status_line) {
  UniqueFd c(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  Received r;
  std::string data;
  char buf[4096];
  size_t header_end = std::string::npos;
  size_t length = 0;
  for (;;) {
    ssize_t n = read(c.get(), buf, sizeof(buf));
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos &&
        (header_end = data.find("\r\n\r\n")) != std::string::npos) {
      for (absl::string_view line : absl::StrSplit(data.substr(0, header_end), "\r\n")) {
        if (r.request_line.empty()) r.request_line = std::string(line);
        if (absl::StartsWithIgnoreCase(line, "content-length:")) {
          EXPECT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(15)), &length));
        }
        if (absl::StartsWithIgnoreCase(line, "content-type:")) {
          r.content_type = std::string(absl::StripAsciiWhitespace(line.substr(13)));
        }
      }
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + length) break;
  }
  if (header_end != std::string::npos) r.body = data.substr(header_end + 4, length);
  std::string answer = status_line + "\r\nContent-Length: 0\r\n\r\n";
  EXPECT_TRUE(WriteAll(c.get(), answer).ok());
  return r;
}

TEST(HttpExporterTest, PostsProtobufToV1Traces) {
  auto l = http::ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(l.ok()) << l.status();
  auto port = http::BoundPort(l->get());
  ASSERT_TRUE(port.ok());
  Received got;
  std::thread server([&] { got = ServeOne(l->get(), "HTTP/1.1 200 OK"); });
  auto e = MakeExporter("http://127.0.0.1:" + std::to_string(*port));
  ASSERT_TRUE(e.ok()) << e.status();
  ExportTraceServiceRequest sent = TwoSpans("kata-shim");
  absl::Status st = (*e)->Export(sent);
  server.join();
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(got.request_line, "POST /v1/traces HTTP/1.1");
  EXPECT_EQ(got.content_type, "application/x-protobuf");
  ExportTraceServiceRequest back;
  ASSERT_TRUE(back.ParseFromString(got.body));
  EXPECT_EQ(back.SerializeAsString(), sent.SerializeAsString());
}

TEST(HttpExporterTest, PostsJsonWithHttpJsonAndReportsErrors) {
  auto l = http::ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(l.ok()) << l.status();
  const int port = *http::BoundPort(l->get());
  Received got;
  std::thread server([&] { got = ServeOne(l->get(), "HTTP/1.1 200 OK"); });
  auto e = MakeExporter("http://127.0.0.1:" + std::to_string(port) + "/custom/traces", "http/json");
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_TRUE((*e)->Export(TwoSpans("s")).ok());
  server.join();
  EXPECT_EQ(got.request_line, "POST /custom/traces HTTP/1.1");
  EXPECT_EQ(got.content_type, "application/json");
  EXPECT_TRUE(ParseOtlpJson(got.body).ok()) << got.body;

  std::thread refusing([&] { ServeOne(l->get(), "HTTP/1.1 400 Bad Request"); });
  absl::Status st = (*e)->Export(TwoSpans("s"));
  refusing.join();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(st.message(), "400 Bad Request")) << st;

  l->reset();  // nothing listens any more
  st = (*e)->Export(TwoSpans("s"));
  EXPECT_FALSE(st.ok());
}

}  // namespace
}  // namespace kata::trace
