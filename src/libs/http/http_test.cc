#include "src/libs/http/http.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata::http {
namespace {

using ::testing::HasSubstr;

UniqueFd ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

std::string Exchange(const std::string& path, const std::string& request) {
  UniqueFd fd = ConnectUnix(path);
  EXPECT_EQ(write(fd.get(), request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.Join("m.sock");
    absl::StatusOr<UniqueFd> l = ListenUnix(path_, 0600);
    ASSERT_TRUE(l.ok()) << l.status();
    HttpServer::Options o;
    o.read_timeout = absl::Milliseconds(500);
    o.max_connections = 2;
    absl::StatusOr<std::unique_ptr<HttpServer>> s =
        HttpServer::Start(std::move(*l),
                          {{"/metrics",
                            [] {
                              return HttpResponse{200, kPrometheusContentType, "x 1\n"};
                            }},
                           {"/slow",
                            [] {
                              absl::SleepFor(absl::Milliseconds(300));
                              return HttpResponse{200, "text/plain", "late"};
                            }}},
                          o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }
  kata::testing::TempDir dir_{"/tmp"};
  std::string path_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpTest, ServesGetOnAPrivateSocket) {
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  absl::StatusOr<HttpResponse> r = HttpGetUnix(path_, "/metrics?x=1", absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, kPrometheusContentType);
  EXPECT_EQ(r->body, "x 1\n");
  r = HttpGetUnix(path_, "/nope", absl::Seconds(5));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
}

TEST_F(HttpTest, RefusesWhatItDoesNotServe) {
  EXPECT_THAT(Exchange(path_, "POST /metrics HTTP/1.1\r\n\r\n"), HasSubstr("HTTP/1.1 405"));
  EXPECT_THAT(Exchange(path_, "GET /metrics\r\n\r\n"), HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(Exchange(path_, std::string(10000, 'a')), HasSubstr("HTTP/1.1 400"));
  std::string head = Exchange(path_, "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_THAT(head, HasSubstr("Content-Length: 4\r\n"));
  EXPECT_FALSE(absl::EndsWith(head, "x 1\n"));
}

TEST_F(HttpTest, ASlowClientDelaysNobodyAndIsDropped) {
  UniqueFd slow = ConnectUnix(path_);
  ASSERT_EQ(write(slow.get(), "GET /met", 8), 8);  // and never more
  absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> r = HttpGetUnix(path_, "/metrics", absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400));
  // The slow one is closed after read_timeout, without an answer.
  char c;
  EXPECT_EQ(read(slow.get(), &c, 1), 0);
}

TEST_F(HttpTest, OverTheConnectionLimitIsBusy) {
  UniqueFd a = ConnectUnix(path_), b = ConnectUnix(path_);
  absl::SleepFor(absl::Milliseconds(100));
  absl::StatusOr<HttpResponse> r = HttpGetUnix(path_, "/metrics", absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  a.reset();
  b.reset();
  absl::SleepFor(absl::Milliseconds(700));  // both dropped by read_timeout
  r = HttpGetUnix(path_, "/metrics", absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpTest, ClientTimesOutAndStopCutsConnections) {
  absl::StatusOr<HttpResponse> r = HttpGetUnix(path_, "/slow", absl::Milliseconds(50));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  UniqueFd idle = ConnectUnix(path_);
  absl::Time start = absl::Now();
  server_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(450));
  EXPECT_EQ(HttpGetUnix(path_, "/metrics", absl::Seconds(1)).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(HttpTcpTest, ServesOnLoopback) {
  absl::StatusOr<UniqueFd> l = ListenTcp("127.0.0.1", 0);
  ASSERT_TRUE(l.ok()) << l.status();
  int port = *BoundPort(l->get());
  auto s = HttpServer::Start(std::move(*l), {{"/", [] { return HttpResponse{200, "t", "hi"}; }}});
  ASSERT_TRUE(s.ok());
  absl::StatusOr<HttpResponse> r = HttpGetTcp("127.0.0.1", port, "/", absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "hi");
  EXPECT_FALSE(ListenTcp("nonsense", 1).ok());
}

TEST(HttpUnixTest, RefusesToReplaceAFile) {
  kata::testing::TempDir dir("/tmp");
  ASSERT_EQ(close(open(dir.Join("f").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  EXPECT_EQ(ListenUnix(dir.Join("f"), 0600).status().code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace kata::http
