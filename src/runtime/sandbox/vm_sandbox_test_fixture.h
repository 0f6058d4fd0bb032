// The fixture of the VmSandbox tests (vm_sandbox_test.cc: lifecycle, containers, sharing;
// vm_sandbox_fault_test.cc: VM death, hung guests, exits): a gMock hypervisor whose VMM is a
// forked stand-in, and the FakeAgent (a real ttRPC server on a unix socket, so the wire path
// and DialAgent are exercised), real mounts and directories. Root.
#ifndef KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_TEST_FIXTURE_H_
#define KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_TEST_FIXTURE_H_

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/agent/testing/fake_agent.h"
#include "src/runtime/agent/testing/mock_agent_client.h"
#include "src/runtime/hypervisor/testing/mock_hypervisor.h"
#include "src/runtime/sandbox/host_mounts.h"
#include "src/runtime/sandbox/vm_sandbox.h"

namespace kata::runtime::vm_sandbox_test {

namespace fs = std::filesystem;
using hypervisor::AgentChannel;
using hypervisor::AgentChannelKind;
using hypervisor::VmConfig;
using hypervisor::VmState;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::NiceMock;
using ::testing::Return;

inline oci::Spec SpecWithArgs(std::vector<std::string> args) {
  oci::Spec s;
  s.oci_version = "1.0.2";
  s.process.emplace();
  s.process->args = std::move(args);
  s.process->cwd = "/";
  s.root.emplace();
  s.root->path = "rootfs";
  s.linux.emplace();
  s.linux->namespaces =
      std::vector<oci::LinuxNamespace>{{"pid", std::nullopt, {}},
                                       {"network", std::string("/var/run/netns/x"), {}},
                                       {"mount", std::nullopt, {}}};
  return s;
}

// While the sandbox exists, only the share's own mounts (mounts/ and its read-only view shared/)
// are below its directory once its containers are gone.
inline void ExpectOnlyTheShareMounted(const std::string& sandbox_dir) {
  EXPECT_THAT(*MountPointsUnder(sandbox_dir),
              ::testing::UnorderedElementsAre(sandbox_dir + "/shared", sandbox_dir + "/mounts"));
}

class VmSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test mounts: run it as root";
    tmp_ = dir_.path();
    paths_.shared_root = tmp_ + "/shared";
    paths_.vm_root = tmp_ + "/vm";
    agent_socket_ = tmp_ + "/agent.sock";
    rootfs_ = tmp_ + "/bundle/rootfs";
    fs::create_directories(rootfs_);
    ASSERT_TRUE(WriteStringToFile(rootfs_ + "/marker", "in the rootfs\n").ok());
    ASSERT_TRUE(agent_.Start(agent_socket_).ok());
    // A stand-in VMM process: the sandbox watches it like QEMU.
    vmm_pid_ = fork();
    ASSERT_GE(vmm_pid_, 0);
    if (vmm_pid_ == 0) {
      pause();
      _exit(0);
    }
  }

  void TearDown() override {
    sandbox_.reset();
    agent_.Stop();
    absl::MutexLock l(&wait_mu_);
    if (vmm_pid_ > 0 && !vmm_exit_.has_value()) {  // not reaped by the mock's WaitVm yet
      kill(vmm_pid_, SIGKILL);
      waitpid(vmm_pid_, nullptr, 0);
    }
    UnmountUnder(tmp_).IgnoreError();  // before dir_ goes (it never crosses a mount)
  }

  // A sandbox whose hypervisor is a NiceMock with a running-VM default behaviour.
  void MakeSandbox(oci::Spec spec = SpecWithArgs({"sleep"})) {
    auto vm = std::make_unique<NiceMock<hypervisor::testing::MockHypervisor>>();
    vm_ = vm.get();
    ON_CALL(*vm_, CreateVm(_)).WillByDefault([this](const VmConfig& c) {
      vm_config_ = c;
      return absl::OkStatus();
    });
    ON_CALL(*vm_, StartVm(_)).WillByDefault(Return(absl::OkStatus()));
    ON_CALL(*vm_, StopVm()).WillByDefault([this] {
      stopped_ = true;
      return absl::OkStatus();
    });
    ON_CALL(*vm_, State()).WillByDefault([this] {
      return stopped_ ? VmState::kStopped : VmState::kRunning;
    });
    ON_CALL(*vm_, Pids()).WillByDefault([this] {
      return stopped_ ? std::vector<pid_t>{} : std::vector<pid_t>{vmm_pid_};
    });
    ON_CALL(*vm_, GetAgentChannel())
        .WillByDefault(Return(AgentChannel{AgentChannelKind::kVirtioSerial, agent_socket_}));
    // The VM ends when StopVm is called or the stand-in VMM dies (it is this test's child).
    ON_CALL(*vm_, WaitVm(_)).WillByDefault([this](absl::Duration timeout) {
      return WaitStandIn(timeout);
    });
    SandboxOptions o;
    o.id = "sb1";
    o.spec = std::move(spec);
    o.config.hypervisor.accelerator = "tcg";
    o.config.hypervisor.shared_fs = "virtio-9p";
    o.config.hypervisor.initrd = "/initrd.img";
    o.config.agent.dial_timeout = dial_timeout_;
    o.paths = paths_;
    o.on_start_step = on_step_;
    o.on_warning = [this](absl::string_view m) { warnings_.emplace_back(m); };
    o.agent_dialer = dialer_;
    o.guest_timeout = guest_timeout_;
    if (tune_config_) tune_config_(o.config);
    auto holder = std::make_shared<std::unique_ptr<hypervisor::Hypervisor>>(std::move(vm));
    o.hypervisor_factory =
        [holder, seen = factory_config_](
            const config::RuntimeConfig& rc,
            const hypervisor::VmLayout& l) -> absl::StatusOr<hypervisor::VmPlan> {
      *seen = rc;
      VmConfig c;
      c.initrd_path = "/initrd.img";
      c.shared_dir = l.shared_dir;
      c.shared_mount_tag = l.shared_mount_tag;
      c.work_dir = l.work_dir;
      return hypervisor::VmPlan{std::move(*holder), c};
    };
    absl::StatusOr<std::unique_ptr<Sandbox>> sb = NewVmSandbox(std::move(o));
    ASSERT_TRUE(sb.ok()) << sb.status();
    sandbox_ = *std::move(sb);
  }

  // The mock's WaitVm: the stand-in's end (reaped here, as a driver reaps its VMM) or StopVm.
  absl::StatusOr<hypervisor::VmExit> WaitStandIn(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      if (stopped_) return hypervisor::VmExit{hypervisor::VmExitCause::kStoppedByHost, 0, 0, ""};
      {
        absl::MutexLock l(&wait_mu_);
        int status = 0;
        if (!vmm_exit_.has_value() && waitpid(vmm_pid_, &status, WNOHANG) == vmm_pid_) {
          vmm_exit_ = hypervisor::VmExit{hypervisor::VmExitCause::kVmmSignaled, 0, WTERMSIG(status),
                                         "qemu killed by signal 9"};
        }
        if (vmm_exit_.has_value()) return *vmm_exit_;
      }
      if (absl::Now() >= deadline) return absl::DeadlineExceededError("VM still running");
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  ContainerConfig Config(const std::string& id, std::vector<std::string> args) {
    ContainerConfig c;
    c.id = id;
    c.spec = SpecWithArgs(std::move(args));
    c.bundle = tmp_ + "/bundle";
    return c;
  }

  std::string SandboxDir() const { return paths_.shared_root + "/sb1"; }

  // A gMock agent that answers CreateSandbox/CreateContainer/StartContainer and never answers
  // anything else (a stopped or hung guest): those calls block until Close(), then fail
  // UNAVAILABLE as a closed connection does. Returns it; `closed_` says whether it was closed.
  testing::MockAgentClient* HungAgent() {
    auto agent = std::make_unique<NiceMock<testing::MockAgentClient>>();
    testing::MockAgentClient* a = agent.get();
    auto closed = closed_;
    ON_CALL(*a, Close()).WillByDefault([closed] {
      if (!closed->HasBeenNotified()) closed->Notify();
    });
    auto hang = [closed] {
      closed->WaitForNotification();
      return absl::UnavailableError("agent: connection closed");
    };
    ON_CALL(*a, RemoveContainer(_)).WillByDefault([hang](const auto&) { return hang(); });
    ON_CALL(*a, DestroySandbox(_)).WillByDefault([hang](const auto&) { return hang(); });
    ON_CALL(*a, SignalProcess(_)).WillByDefault([hang](const auto&) { return hang(); });
    ON_CALL(*a, WaitProcess(_))
        .WillByDefault(
            [hang](const auto&) -> absl::StatusOr<::grpc::WaitProcessResponse> { return hang(); });
    auto holder = std::make_shared<std::unique_ptr<AgentClient>>(std::move(agent));
    dialer_ = [holder](const AgentChannel&,
                       absl::Duration) -> absl::StatusOr<std::unique_ptr<AgentClient>> {
      return std::move(*holder);
    };
    return a;
  }

  // Everything below the temporary root that the sandbox may have made.
  void ExpectNothingLeft() {
    absl::StatusOr<std::vector<std::string>> mounts = MountPointsUnder(tmp_);
    ASSERT_TRUE(mounts.ok());
    EXPECT_THAT(*mounts, ::testing::IsEmpty());
    EXPECT_FALSE(fs::exists(SandboxDir()));
    EXPECT_FALSE(fs::exists(paths_.vm_root + "/sb1"));
  }

  std::string ReadAll(const std::string& cid, const std::string& exec, bool err = false) {
    std::string all;
    for (int i = 0; i < 1000; ++i) {
      absl::StatusOr<std::string> got =
          err ? sandbox_->ReadStderr(cid, exec) : sandbox_->ReadStdout(cid, exec);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok() || got->empty()) break;
      all += *got;
    }
    return all;
  }

  kata::testing::TempDir dir_{"/tmp"};  // /tmp: the agent's socket path must stay short
  std::string tmp_, agent_socket_, rootfs_;
  SandboxPaths paths_;
  testing::FakeAgent agent_;
  pid_t vmm_pid_ = -1;
  NiceMock<hypervisor::testing::MockHypervisor>* vm_ = nullptr;
  VmConfig vm_config_;
  std::atomic<bool> stopped_{false};
  absl::Mutex wait_mu_;
  std::optional<hypervisor::VmExit> vmm_exit_ ABSL_GUARDED_BY(wait_mu_);
  uint32_t dial_timeout_ = 5;
  absl::Duration guest_timeout_ = absl::Seconds(10);
  std::function<void(absl::string_view, absl::Duration)> on_step_;
  std::vector<std::string> warnings_;  // SandboxOptions::on_warning's messages
  AgentDialer dialer_;                 // empty: DialAgent to the FakeAgent's socket
  std::function<void(config::RuntimeConfig&)> tune_config_;  // applied by MakeSandbox
  // The configuration the hypervisor factory was given (the VM's size among it).
  std::shared_ptr<std::optional<config::RuntimeConfig>> factory_config_ =
      std::make_shared<std::optional<config::RuntimeConfig>>();
  std::unique_ptr<Sandbox> sandbox_;
  std::shared_ptr<absl::Notification> closed_ = std::make_shared<absl::Notification>();
};

}  // namespace kata::runtime::vm_sandbox_test

#endif  // KATA_SRC_RUNTIME_SANDBOX_VM_SANDBOX_TEST_FIXTURE_H_
