#include "src/agent/trace/agent_tracing.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/trace/frame.h"
#include "src/libs/trace/traceparent.h"
#include "src/libs/ttrpc/address.h"

namespace kata {
namespace agent {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

UniqueFd ListenOn(const std::string& addr) {
  absl::StatusOr<ttrpc::Address> a = ttrpc::ParseAddress(addr);
  EXPECT_TRUE(a.ok()) << a.status();
  absl::StatusOr<int> fd = ttrpc::Listen(*a);
  EXPECT_TRUE(fd.ok()) << fd.status();
  return UniqueFd(fd.ok() ? *fd : -1);
}

// Reads frames from `fd` until `want` spans came or `timeout`; returns their names.
std::vector<std::string> ReadSpans(int fd, size_t want, absl::Duration timeout,
                                   trace::FrameDecoder& decoder) {
  std::vector<std::string> names;
  const absl::Time deadline = absl::Now() + timeout;
  char buf[65536];
  while (names.size() < want && absl::Now() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    for (const auto& r : decoder.Feed(absl::string_view(buf, static_cast<size_t>(n)))) {
      for (const auto& rs : r.resource_spans()) {
        EXPECT_EQ(rs.resource().attributes(0).value().string_value(), "kata-agent");
        for (const auto& ss : rs.scope_spans()) {
          for (const auto& s : ss.spans()) names.push_back(s.name());
        }
      }
    }
  }
  return names;
}

TEST(AgentTracingTest, RefusesOtherAddresses) {
  for (const char* bad : {"tcp://1.2.3.4:5", "hvsock:///x.sock:1", "serial://", "nonsense"}) {
    absl::StatusOr<std::unique_ptr<AgentTracing>> t = AgentTracing::Start(bad, {});
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(AgentTracingTest, SpansReachTheHostAsFrames) {
  testing::TempDir dir("/tmp");  // short: unix socket paths are limited
  const std::string addr = absl::StrCat("unix://", dir.Join("trace.sock"));
  UniqueFd listener = ListenOn(addr);
  AgentTracing::Options o;
  o.flush_interval = absl::Milliseconds(10);
  o.spans_per_frame = 3;  // several frames
  absl::StatusOr<std::unique_ptr<AgentTracing>> t = AgentTracing::Start(addr, o);
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<trace::SpanContext> host =
      trace::ParseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  ASSERT_TRUE(host.ok());
  for (int i = 0; i < 10; ++i) {
    (*t)->tracer().StartSpan(absl::StrCat("span", i), *host).End();
  }
  UniqueFd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn);
  trace::FrameDecoder decoder;
  std::vector<std::string> names = ReadSpans(conn.get(), 10, absl::Seconds(20), decoder);
  EXPECT_EQ(names.size(), 10u);
  EXPECT_THAT(names, Contains("span9"));
  EXPECT_GE(decoder.decoded(), 4u);
  EXPECT_EQ(decoder.dropped(), 0u);
  // The last spans go out on Stop.
  (*t)->tracer().StartSpan("last", *host).End();
  (*t)->Stop(absl::Seconds(5));
  EXPECT_THAT(ReadSpans(conn.get(), 1, absl::Seconds(5), decoder), Contains("last"));
  EXPECT_EQ((*t)->sent(), 11u);
  EXPECT_EQ((*t)->dropped(), 0u);
}

// Nobody there: the spans wait, bounded (the rest dropped and counted), and go out once a
// host listens.
TEST(AgentTracingTest, NoHostKeepsABoundedBufferAndNeverBlocks) {
  testing::TempDir dir("/tmp");  // short: unix socket paths are limited
  const std::string addr = absl::StrCat("unix://", dir.Join("trace.sock"));
  AgentTracing::Options o;
  o.flush_interval = absl::Milliseconds(10);
  o.max_buffered = 20;
  absl::StatusOr<std::unique_ptr<AgentTracing>> t = AgentTracing::Start(addr, o);
  ASSERT_TRUE(t.ok()) << t.status();
  for (int i = 0; i < 1000; ++i) (*t)->tracer().StartSpan("early", {}).End();
  EXPECT_GE((*t)->dropped(), 980u);
  UniqueFd listener = ListenOn(addr);
  UniqueFd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn);
  trace::FrameDecoder decoder;
  EXPECT_EQ(ReadSpans(conn.get(), 20, absl::Seconds(20), decoder).size(), 20u);
}

// A host that connects and never reads: the traced code never blocks, Stop ends within its
// grace, the spans the host did not take are counted.
TEST(AgentTracingTest, AHostThatNeverReadsCostsDroppedSpansOnly) {
  testing::TempDir dir("/tmp");  // short: unix socket paths are limited
  const std::string addr = absl::StrCat("unix://", dir.Join("trace.sock"));
  UniqueFd listener = ListenOn(addr);
  AgentTracing::Options o;
  o.flush_interval = absl::Milliseconds(5);
  o.write_timeout = absl::Milliseconds(20);
  absl::StatusOr<std::unique_ptr<AgentTracing>> t = AgentTracing::Start(addr, o);
  ASSERT_TRUE(t.ok()) << t.status();
  UniqueFd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn);
  const std::string big(4096, 'x');
  for (int i = 0; i < 20000; ++i) {
    trace::Span s = (*t)->tracer().StartSpan("busy", {});
    s.SetString("payload", big);  // ~80 MiB in all: far more than a socket buffer
    s.End();
    if (i % 1000 == 0) absl::SleepFor(absl::Milliseconds(10));
  }
  (*t)->Stop(absl::Milliseconds(100));
  EXPECT_GT((*t)->dropped(), 0u);
  EXPECT_LT((*t)->sent(), 20000u);
  EXPECT_EQ((*t)->sent() + (*t)->dropped(), 20000u);
}

}  // namespace
}  // namespace agent
}  // namespace kata
