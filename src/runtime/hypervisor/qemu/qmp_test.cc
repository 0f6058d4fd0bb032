// QmpClient against a scripted fake server (no QEMU).
#include "src/runtime/hypervisor/qemu/qmp.h"

#include <string.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/hypervisor/qemu/testing/fake_qmp_server.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::ElementsAre;
using testing::FakeQmpServer;
using ::testing::HasSubstr;

class QmpTest : public ::testing::Test {
 protected:
  void SetUp() override { sock_ = tmp_.Join("qmp.sock"); }
  // Under /tmp, not $TEST_TMPDIR: the socket path must fit in 107 bytes.
  kata::testing::TempDir tmp_{"/tmp"};
  std::string sock_;
};

std::vector<std::string> Nothing(const std::string&, const std::string&) { return {}; }

TEST_F(QmpTest, GreetingCapabilitiesAndACommand) {
  FakeQmpServer server(
      sock_, [](const std::string& cmd, const std::string& id) -> std::vector<std::string> {
        if (cmd == "query-status") {
          return {FakeQmpServer::Return(id, R"({"status": "prelaunch", "running": false})")};
        }
        return {};
      });
  absl::StatusOr<std::unique_ptr<QmpClient>> qmp = QmpClient::Connect(sock_, absl::Seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  EXPECT_EQ((*qmp)->qemu_version(), "7.2.0");
  absl::StatusOr<std::string> st = (*qmp)->Execute("query-status");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(*st, R"({"status":"prelaunch","running":false})");
  EXPECT_THAT(server.commands(), ElementsAre("qmp_capabilities", "query-status"));
}

TEST_F(QmpTest, ErrorsCarryClassAndDescription) {
  FakeQmpServer server(
      sock_, [](const std::string& cmd, const std::string& id) -> std::vector<std::string> {
        if (cmd == "device_add")
          return {FakeQmpServer::Error(id, "GenericError", "Duplicate ID 'b0'")};
        if (cmd == "frob") return {FakeQmpServer::Error(id, "CommandNotFound", "no frob")};
        if (cmd == "device_del") return {FakeQmpServer::Error(id, "DeviceNotFound", "no b9")};
        return {};
      });
  auto qmp = QmpClient::Connect(sock_, absl::Seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  absl::StatusOr<std::string> r = (*qmp)->Execute("device_add", R"({"id": "b0"})");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(r.status().message(), "qmp device_add: GenericError: Duplicate ID 'b0'");
  EXPECT_EQ((*qmp)->Execute("frob").status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ((*qmp)->Execute("device_del", R"({"id":"b9"})").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((*qmp)->Execute("device_del", "[1]").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*qmp)->Execute("device_del", "{nope").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(QmpTest, InterleavedEventsAreQueuedForWaitEvent) {
  FakeQmpServer server(
      sock_, [](const std::string& cmd, const std::string& id) -> std::vector<std::string> {
        if (cmd == "device_del") {
          return {FakeQmpServer::Return(id),
                  FakeQmpServer::Event("DEVICE_DELETED",
                                       R"({"path": "/machine/peripheral/b0/virtio-backend"})")};
        }
        if (cmd == "quit") {
          return {
              FakeQmpServer::Event("DEVICE_DELETED",
                                   R"({"device": "b0", "path": "/machine/peripheral/b0"})"),
              FakeQmpServer::Event("SHUTDOWN", R"({"guest": false, "reason": "host-qmp-quit"})"),
              FakeQmpServer::Return(id)};
        }
        return {};
      });
  auto qmp = QmpClient::Connect(sock_, absl::Seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  ASSERT_TRUE((*qmp)->Execute("device_del", R"({"id":"b0"})").ok());
  ASSERT_TRUE((*qmp)->Execute("quit").ok());
  absl::StatusOr<QmpEvent> shutdown = (*qmp)->WaitEvent("SHUTDOWN", absl::Seconds(1));
  ASSERT_TRUE(shutdown.ok()) << shutdown.status();
  EXPECT_THAT(shutdown->data_json, HasSubstr(R"("reason":"host-qmp-quit")"));
  EXPECT_EQ(shutdown->timestamp, absl::FromUnixMicros(1700000000LL * 1000000 + 250));
  // The path-only DEVICE_DELETED does not match the device id; the second one does.
  absl::StatusOr<QmpEvent> deleted =
      (*qmp)->WaitEvent("DEVICE_DELETED", absl::Seconds(1), DeviceDeletedMatcher("b0"));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_THAT(deleted->data_json, HasSubstr(R"("device":"b0")"));
  // The skipped one is still queued.
  absl::StatusOr<QmpEvent> other = (*qmp)->WaitEvent("DEVICE_DELETED", absl::Seconds(1));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_THAT(other->data_json, HasSubstr("virtio-backend"));
  EXPECT_EQ((*qmp)->WaitEvent("SHUTDOWN", absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(QmpTest, TimeoutThenTheLateReplyIsNotMistakenForTheNextOne) {
  std::string slow_id;  // written and read on the server thread only
  FakeQmpServer server(
      sock_, [&slow_id](const std::string& cmd, const std::string& id) -> std::vector<std::string> {
        if (cmd == "slow") {
          slow_id = id;
          return {};
        }
        if (cmd == "query-status") {
          return {FakeQmpServer::Return(slow_id, R"("late")"),
                  FakeQmpServer::Return(id, R"("mine")")};
        }
        return {};
      });
  auto qmp = QmpClient::Connect(sock_, absl::Seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  const absl::Time t0 = absl::Now();
  absl::StatusOr<std::string> r = (*qmp)->Execute("slow", "", absl::Milliseconds(100));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("qmp slow: no reply within 100ms"));
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(100));
  absl::StatusOr<std::string> mine = (*qmp)->Execute("query-status");
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(*mine, R"("mine")");
}

TEST_F(QmpTest, ConnectRetriesUntilTheServerListens) {
  FakeQmpServer server(sock_, Nothing, absl::Milliseconds(150));
  auto qmp = QmpClient::Connect(sock_, absl::Seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.status();
}

TEST_F(QmpTest, ConnectTimesOutOrGivesUp) {
  const absl::Time t0 = absl::Now();
  auto qmp = QmpClient::Connect(sock_, absl::Milliseconds(100));
  EXPECT_EQ(qmp.status().code(), absl::StatusCode::kDeadlineExceeded) << qmp.status();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(2));
  auto gave_up =
      QmpClient::Connect(sock_, absl::Seconds(5), [] { return absl::AbortedError("qemu exited"); });
  EXPECT_EQ(gave_up.status().code(), absl::StatusCode::kAborted);
}

TEST_F(QmpTest, ClosedConnectionIsUnavailable) {
  FakeQmpServer server(
      sock_, [](const std::string& cmd, const std::string& id) -> std::vector<std::string> {
        if (cmd == "quit") return {FakeQmpServer::Return(id), "<close>"};
        return {};
      });
  auto qmp = QmpClient::Connect(sock_, absl::Seconds(5));
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  ASSERT_TRUE((*qmp)->Execute("quit").ok());
  EXPECT_EQ((*qmp)->WaitEvent("SHUTDOWN", absl::Seconds(2)).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ((*qmp)->Execute("query-status").status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace kata::hypervisor::qemu
