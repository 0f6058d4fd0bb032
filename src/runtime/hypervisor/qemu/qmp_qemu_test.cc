// QmpClient against a real qemu-system-x86_64 (q35, TCG, paused with -S, no kernel).
// Every QEMU started here is killed at the end of its test (process group, SIGKILL).
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/hypervisor/qemu/process.h"
#include "src/runtime/hypervisor/qemu/qmp.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::HasSubstr;

class QmpQemuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    disk_ = dir_ + "/disk.raw";
    std::ofstream(disk_) << std::string(1 << 20, '\0');
    std::vector<std::string> argv = {"qemu-system-x86_64",
                                     "-machine",
                                     "q35,accel=tcg",
                                     "-S",
                                     "-nodefaults",
                                     "-no-user-config",
                                     "-nographic",
                                     "-m",
                                     "128M",
                                     "-global",
                                     "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
                                     "-device",
                                     "pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1,addr=0x10",
                                     "-qmp",
                                     absl::StrCat("unix:", dir_, "/qmp.sock,server=on,wait=off")};
    auto child =
        ChildProcess::Spawn(argv, {.log_path = dir_ + "/qemu.log", .die_with_parent = true});
    ASSERT_TRUE(child.ok()) << child.status();
    qemu_ = std::move(*child);
  }
  void TearDown() override {
    if (qemu_ != nullptr) qemu_->Kill();  // no-op if it already exited
    qemu_.reset();
  }
  absl::StatusOr<std::unique_ptr<QmpClient>> Connect() {
    return QmpClient::Connect(absl::StrCat(dir_, "/qmp.sock"), absl::Seconds(20), [this] {
      return qemu_->TryWait()
                 ? absl::AbortedError(absl::StrCat("qemu ", qemu_->exit_description(), ": ",
                                                   ReadFileTail(dir_ + "/qemu.log", 2000)))
                 : absl::OkStatus();
    });
  }
  // Under /tmp, not $TEST_TMPDIR: the QMP socket path must fit in 107 bytes.
  kata::testing::TempDir tmp_{"/tmp"};
  std::string dir_, disk_;
  std::unique_ptr<ChildProcess> qemu_;
};

TEST_F(QmpQemuTest, StatusHotplugUnplugAndQuit) {
  auto qmp = Connect();
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  EXPECT_THAT((*qmp)->qemu_version(), ::testing::StartsWith("7."));

  absl::StatusOr<std::string> st = (*qmp)->Execute("query-status");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_THAT(*st, HasSubstr(R"("status":"prelaunch")"));
  EXPECT_THAT(*st, HasSubstr(R"("running":false)"));

  ASSERT_TRUE(
      (*qmp)
          ->Execute("blockdev-add",
                    absl::StrCat(R"({"driver":"raw","node-name":"drive-b0",)",
                                 R"("file":{"driver":"file","filename":")", disk_, R"("}})"))
          .ok());
  absl::Status added =
      (*qmp)
          ->Execute(
              "device_add",
              R"({"driver":"virtio-blk-pci","id":"b0","drive":"drive-b0","bus":"rp0","addr":"0"})")
          .status();
  ASSERT_TRUE(added.ok()) << added;
  // pcie.0 itself cannot hotplug: a real QEMU error comes back with its class.
  absl::Status refused =
      (*qmp)
          ->Execute("device_add",
                    R"({"driver":"virtio-blk-pci","id":"b1","drive":"drive-b0","bus":"pcie.0"})")
          .status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("GenericError"));
  EXPECT_EQ((*qmp)->Execute("no-such-command").status().code(), absl::StatusCode::kUnimplemented);

  ASSERT_TRUE((*qmp)->Execute("device_del", R"({"id":"b0"})").ok());
  absl::StatusOr<QmpEvent> deleted =
      (*qmp)->WaitEvent("DEVICE_DELETED", absl::Seconds(10), DeviceDeletedMatcher("b0"));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_TRUE((*qmp)->Execute("blockdev-del", R"({"node-name":"drive-b0"})").ok());
  EXPECT_EQ((*qmp)->Execute("device_del", R"({"id":"b0"})").status().code(),
            absl::StatusCode::kNotFound);

  ASSERT_TRUE((*qmp)->Execute("quit").ok());
  EXPECT_TRUE((*qmp)->WaitEvent("SHUTDOWN", absl::Seconds(5)).ok());
  EXPECT_TRUE(qemu_->WaitFor(absl::Seconds(10))) << "qemu did not exit after quit";
  EXPECT_EQ(qemu_->exit_description(), "exited with status 0");
}

TEST_F(QmpQemuTest, StopAndContChangeTheRunState) {
  auto qmp = Connect();
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  ASSERT_TRUE((*qmp)->Execute("cont").ok());
  absl::StatusOr<std::string> st = (*qmp)->Execute("query-status");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_THAT(*st, HasSubstr(R"("running":true)"));
  ASSERT_TRUE((*qmp)->Execute("stop").ok());
  st = (*qmp)->Execute("query-status");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_THAT(*st, HasSubstr(R"("status":"paused")"));
  // TearDown kills QEMU without a quit: the SIGKILL path.
}

}  // namespace
}  // namespace kata::hypervisor::qemu
