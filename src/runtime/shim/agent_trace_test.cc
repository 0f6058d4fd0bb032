// AgentTraceReader against a fake VM socket: good frames reach the sink, a hostile guest's
// frames (a 4 GiB length, garbage, a flood) are dropped with bounded memory and the loop keeps
// serving; EOF ends the stream.
#include "src/runtime/shim/agent_trace.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/io.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/trace/frame.h"

namespace kata {
namespace shim {
namespace {

using ::testing::ElementsAre;

UniqueFd ListenUnix(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, path.c_str(), path.size() + 1);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(listen(fd.get(), 1), 0);
  return fd;
}

std::string Frame(const std::string& name) {
  trace::SpanData s;
  s.context.trace_id = trace::NewTraceId();
  s.context.span_id = trace::NewSpanId();
  s.name = name;
  absl::StatusOr<std::string> f = trace::EncodeFrame(trace::ToExportRequest("kata-agent", {s}));
  EXPECT_TRUE(f.ok());
  return *f;
}

std::string Header(uint32_t n) {
  return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
}

class Collected {
 public:
  void Add(const trace::ExportTraceServiceRequest& r) {
    absl::MutexLock lock(&mu_);
    for (const auto& rs : r.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& s : ss.spans()) names_.push_back(s.name());
      }
    }
  }
  std::vector<std::string> names() {
    absl::MutexLock lock(&mu_);
    return names_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> names_ ABSL_GUARDED_BY(mu_);
};

TEST(AgentTraceReaderTest, RefusesAMissingSocketNamingIt) {
  testing::TempDir dir("/tmp");  // short: unix socket paths are limited
  auto r = AgentTraceReader::Start(dir.Join("none.sock"), [](trace::ExportTraceServiceRequest) {});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("none.sock"));
}

TEST(AgentTraceReaderTest, HostileGuestFramesAreDroppedAndTheStreamGoesOn) {
  testing::TempDir dir("/tmp");  // short: unix socket paths are limited
  const std::string path = dir.Join("agent-trace.sock");
  UniqueFd listener = ListenUnix(path);
  IoLoop loop;
  Collected got;
  auto reader = AgentTraceReader::Start(
      path, [&got](trace::ExportTraceServiceRequest r) { got.Add(r); }, loop);
  ASSERT_TRUE(reader.ok()) << reader.status();
  UniqueFd guest(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(guest);
  // The guest: a good frame; a frame claiming 64 MiB (over the 1 MiB limit) and all of its
  // bytes, which the reader skips without keeping them; a frame of garbage; a good frame.
  std::thread writer([&] {
    ASSERT_TRUE(WriteAll(guest.get(), Frame("first")).ok());
    ASSERT_TRUE(WriteAll(guest.get(), Header(64u << 20)).ok());
    const std::string junk(1 << 20, '\x0a');
    for (int i = 0; i < 64; ++i) ASSERT_TRUE(WriteAll(guest.get(), junk).ok());
    const std::string bad = "\xff\xff\xff\xff";
    ASSERT_TRUE(WriteAll(guest.get(), Header(static_cast<uint32_t>(bad.size())) + bad).ok());
    ASSERT_TRUE(WriteAll(guest.get(), Frame("after the attack")).ok());
    guest.reset();  // EOF: the VM is gone
  });
  EXPECT_TRUE((*reader)->WaitEnd(absl::Seconds(60)));
  writer.join();
  EXPECT_THAT(got.names(), ElementsAre("first", "after the attack"));
  EXPECT_EQ((*reader)->decoded(), 2u);
  EXPECT_EQ((*reader)->dropped(), 2u);
  // The loop still serves others.
  std::atomic<bool> ran{false};
  loop.Post([&ran] { ran = true; });
  reader->reset();  // waits for the loop: the post ran before
  EXPECT_TRUE(ran);
}

TEST(AgentTraceReaderTest, DestroyedWhileTheGuestIsStillThere) {
  testing::TempDir dir("/tmp");  // short: unix socket paths are limited
  const std::string path = dir.Join("agent-trace.sock");
  UniqueFd listener = ListenUnix(path);
  IoLoop loop;
  std::atomic<int> calls{0};
  auto reader = AgentTraceReader::Start(
      path, [&calls](trace::ExportTraceServiceRequest) { ++calls; }, loop);
  ASSERT_TRUE(reader.ok()) << reader.status();
  UniqueFd guest(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(WriteAll(guest.get(), Frame("one")).ok());
  EXPECT_FALSE((*reader)->WaitEnd(absl::Milliseconds(50)));
  reader->reset();  // stops reading; the sink is not called after
  const int seen = calls;
  const std::string two = Frame("two");  // the reader closed: may fail (no SIGPIPE)
  (void)send(guest.get(), two.data(), two.size(), MSG_NOSIGNAL);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(calls, seen);
}

}  // namespace
}  // namespace shim
}  // namespace kata
