#include "src/agent/channel/serve.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/protocols/health.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace agent {
namespace {

class ServingHealth : public grpc::HealthTtrpc::Service {
 public:
  absl::Status Check(ttrpc::ServerContext&, const grpc::CheckRequest&,
                     grpc::HealthCheckResponse* response) override {
    response->set_status(grpc::HealthCheckResponse::SERVING);
    return absl::OkStatus();
  }
};

ttrpc::CallOptions Bounded() {
  ttrpc::CallOptions o;
  o.timeout = absl::Seconds(5);
  return o;
}

absl::Status Check(ttrpc::Client* client) {
  grpc::HealthTtrpc::Client health(client);
  grpc::HealthCheckResponse resp;
  absl::Status s = health.Check(grpc::CheckRequest(), &resp, Bounded());
  if (s.ok() && resp.status() != grpc::HealthCheckResponse::SERVING) {
    return absl::InternalError("not SERVING");
  }
  return s;
}

TEST(ChannelServerTest, ServesAPtyByPath) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  ASSERT_EQ(grantpt(master), 0);
  ASSERT_EQ(unlockpt(master), 0);
  const std::string slave = ptsname(master);
  struct termios t;
  ASSERT_EQ(tcgetattr(master, &t), 0);
  cfmakeraw(&t);
  ASSERT_EQ(tcsetattr(master, TCSANOW, &t), 0);

  ServingHealth health;
  ttrpc::Server server;
  ASSERT_TRUE(server.Register(&health).ok());
  auto address = ParseAgentAddress("serial://" + slave);
  ASSERT_TRUE(address.ok());
  auto channel = ChannelServer::Start(&server, *address, {});
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_EQ((*channel)->endpoint(), slave);
  {
    ttrpc::Client client(master);  // the "host"
    absl::Status s = Check(&client);
    EXPECT_TRUE(s.ok()) << s;
  }
  server.Shutdown(absl::Seconds(1));
  const absl::Time start = absl::Now();
  (*channel)->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(ChannelServerTest, MissingDeviceIsAnError) {
  ttrpc::Server server;
  auto address = ParseAgentAddress("serial:///nonexistent/vport9p9");
  ASSERT_TRUE(address.ok());
  auto channel = ChannelServer::Start(&server, *address, {});
  ASSERT_FALSE(channel.ok());
  EXPECT_NE(channel.status().message().find("vport9p9"), absl::string_view::npos);
}

// A fake virtio-serial port: each open gives the agent one end of a new socketpair and the
// test (the host) the other; the host closing its end is a host disconnect.
class FakePort {
 public:
  absl::StatusOr<UniqueFd> Open(const std::string&) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return absl::InternalError("socketpair");
    }
    absl::MutexLock lock(&mu_);
    ++opens_;
    host_.reset(sv[1]);
    return UniqueFd(sv[0]);
  }
  // The host end of the latest open, once there is an open after `after` (invalid after 5 s
  // without one).
  UniqueFd TakeHost(int after) {
    absl::MutexLock lock(&mu_);
    auto ready = [this, after]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return opens_ > after && host_.valid(); };
    mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(5));
    return std::move(host_);
  }

 private:
  absl::Mutex mu_;
  int opens_ ABSL_GUARDED_BY(mu_) = 0;
  UniqueFd host_ ABSL_GUARDED_BY(mu_);
};

TEST(ChannelServerTest, ServesAgainAfterTheHostDisconnects) {
  FakePort port;
  ServingHealth health;
  ttrpc::Server server;
  ASSERT_TRUE(server.Register(&health).ok());
  ChannelServer::Options options;
  options.open_device = [&port](const std::string& path) { return port.Open(path); };
  auto address = ParseAgentAddress("serial:///dev/fake-vport");
  ASSERT_TRUE(address.ok());
  auto channel = ChannelServer::Start(&server, *address, options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  for (int round = 0; round < 3; ++round) {
    UniqueFd host = port.TakeHost(round);
    ASSERT_TRUE(host.valid()) << "round " << round;
    ttrpc::Client client(host.release());  // closing it is the host disconnect
    absl::Status s = Check(&client);
    EXPECT_TRUE(s.ok()) << "round " << round << ": " << s;
  }
  EXPECT_GE((*channel)->sessions(), 3);
  (*channel)->Stop();
  server.Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace agent
}  // namespace kata
