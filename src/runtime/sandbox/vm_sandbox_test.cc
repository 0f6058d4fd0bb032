// VmSandbox with a gMock hypervisor and the FakeAgent (a real ttRPC server on a unix socket,
// so the wire path and DialAgent are exercised), real mounts and directories. Root.
#include "src/runtime/sandbox/vm_sandbox.h"

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

namespace kata::runtime {
namespace {

namespace fs = std::filesystem;
using hypervisor::AgentChannel;
using hypervisor::AgentChannelKind;
using hypervisor::VmConfig;
using hypervisor::VmState;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::NiceMock;
using ::testing::Return;

oci::Spec SpecWithArgs(std::vector<std::string> args) {
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
void ExpectOnlyTheShareMounted(const std::string& sandbox_dir) {
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
    o.agent_dialer = dialer_;
    o.guest_timeout = guest_timeout_;
    auto holder = std::make_shared<std::unique_ptr<hypervisor::Hypervisor>>(std::move(vm));
    o.hypervisor_factory =
        [holder](const config::RuntimeConfig&,
                 const hypervisor::VmLayout& l) -> absl::StatusOr<hypervisor::VmPlan> {
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
  AgentDialer dialer_;  // empty: DialAgent to the FakeAgent's socket
  std::unique_ptr<Sandbox> sandbox_;
  std::shared_ptr<absl::Notification> closed_ = std::make_shared<absl::Notification>();
};

TEST_F(VmSandboxTest, ContainerRunsPrintsAndExits) {
  std::vector<std::string> steps;
  on_step_ = [&](absl::string_view step, absl::Duration) { steps.emplace_back(step); };
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  EXPECT_EQ(sandbox_->State(), SandboxState::kRunning);
  EXPECT_EQ(steps,
            (std::vector<std::string>{"prepare", "start_vm", "agent_ready", "create_sandbox"}));
  EXPECT_EQ(vm_config_.shared_dir, SandboxDir() + "/shared");
  EXPECT_EQ(vm_config_.shared_mount_tag, "kataShared");
  EXPECT_EQ(vm_config_.work_dir, paths_.vm_root + "/sb1");

  auto sandboxes = agent_.RequestsAs<::grpc::CreateSandboxRequest>("CreateSandbox");
  ASSERT_EQ(sandboxes.size(), 1u);
  EXPECT_EQ(sandboxes[0].sandbox_id(), "sb1");
  ASSERT_EQ(sandboxes[0].storages_size(), 1);
  const ::grpc::Storage& st = sandboxes[0].storages(0);
  EXPECT_EQ(st.driver(), "9p");
  EXPECT_EQ(st.source(), "kataShared");
  EXPECT_EQ(st.fstype(), "9p");
  EXPECT_THAT(st.options(),
              ::testing::ElementsAre("trans=virtio", "version=9p2000.L", "cache=mmap", "nodev"));
  EXPECT_EQ(st.mount_point(), "/run/kata-containers/shared/containers/");

  ASSERT_TRUE(sandbox_->CreateContainer(Config("c1", {"echo", "hello", "world"})).ok());
  // The rootfs is visible through the shared directory.
  EXPECT_EQ(kata::testing::ReadFileOrDie(SandboxDir() + "/shared/c1/rootfs/marker"),
            "in the rootfs\n");
  auto created = agent_.RequestsAs<::grpc::CreateContainerRequest>("CreateContainer");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].container_id(), "c1");
  EXPECT_EQ(created[0].exec_id(), "c1");
  EXPECT_EQ(created[0].oci().root().path(), "/run/kata-containers/shared/containers/c1/rootfs");
  for (const auto& ns : created[0].oci().linux().namespaces()) {
    EXPECT_NE(ns.type(), "network");
    EXPECT_EQ(ns.path(), "");
  }
  EXPECT_EQ(*sandbox_->GetContainerState("c1"), ContainerState::kCreated);

  ASSERT_TRUE(sandbox_->StartContainer("c1").ok());
  EXPECT_EQ(ReadAll("c1", ""), "hello world\n");
  EXPECT_EQ(ReadAll("c1", "", true), "");
  absl::StatusOr<ExitStatus> exit = sandbox_->Wait("c1", "");
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_TRUE(exit->error.ok());
  EXPECT_LE(exit->exited_at, absl::Now());
  EXPECT_EQ(*sandbox_->GetContainerState("c1"), ContainerState::kStopped);
  // A second waiter gets the same answer.
  EXPECT_EQ(sandbox_->Wait("c1", "")->exit_code, 0);

  ASSERT_TRUE(sandbox_->DeleteContainer("c1").ok());
  EXPECT_FALSE(fs::exists(SandboxDir() + "/shared/c1"));
  EXPECT_EQ(agent_.Requests("RemoveContainer").size(), 1u);
  EXPECT_EQ(sandbox_->GetContainerState("c1").status().code(), absl::StatusCode::kNotFound);

  EXPECT_CALL(*vm_, StopVm()).Times(::testing::AtLeast(1));
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_EQ(agent_.Requests("DestroySandbox").size(), 1u);
  EXPECT_EQ(sandbox_->State(), SandboxState::kStopped);
  EXPECT_TRUE(sandbox_->WaitVmDeath().ok());
  ExpectNothingLeft();
  EXPECT_TRUE(sandbox_->Shutdown().ok());  // idempotent
}

TEST_F(VmSandboxTest, ExitCodeExecSignalStatsPauseResumeUpdate) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c3", {"exit", "3"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("c3").ok());
  EXPECT_EQ(sandbox_->Wait("c3", "")->exit_code, 3);

  ASSERT_TRUE(sandbox_->CreateContainer(Config("s", {"sleep"})).ok());
  // Illegal before start.
  EXPECT_EQ(sandbox_->Pause("s").code(), absl::StatusCode::kFailedPrecondition);
  oci::Process echo;
  echo.args = std::vector<std::string>{"echo", "from", "exec"};
  echo.cwd = "/";
  EXPECT_EQ(sandbox_->Exec("s", "e1", echo, false).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sandbox_->StartContainer("s").ok());
  EXPECT_EQ(sandbox_->StartContainer("s").code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(sandbox_->Exec("s", "e1", echo, false).ok());
  EXPECT_EQ(sandbox_->Exec("s", "e1", echo, false).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadAll("s", "e1"), "from exec\n");
  EXPECT_EQ(sandbox_->Wait("s", "e1")->exit_code, 0);
  EXPECT_EQ(sandbox_->GetProcess("s", "e1")->state, ProcessState::kExited);
  ASSERT_TRUE(sandbox_->DeleteProcess("s", "e1").ok());
  EXPECT_EQ(sandbox_->GetProcess("s", "e1").status().code(), absl::StatusCode::kNotFound);

  // stdin through an exec'd cat.
  oci::Process cat;
  cat.args = std::vector<std::string>{"cat"};
  cat.cwd = "/";
  ASSERT_TRUE(sandbox_->Exec("s", "cat", cat, false).ok());
  ASSERT_EQ(*sandbox_->WriteStdin("s", "cat", "abc\n"), 4u);
  ASSERT_TRUE(sandbox_->CloseStdin("s", "cat").ok());
  EXPECT_EQ(ReadAll("s", "cat"), "abc\n");
  EXPECT_EQ(sandbox_->Wait("s", "cat")->exit_code, 0);

  absl::StatusOr<ContainerStats> stats = sandbox_->Stats("s");
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_TRUE(stats->memory.has_value());
  EXPECT_EQ(stats->memory->usage.usage, 4u << 20);

  ASSERT_TRUE(sandbox_->Pause("s").ok());
  EXPECT_TRUE(agent_.Paused("s"));
  EXPECT_EQ(*sandbox_->GetContainerState("s"), ContainerState::kPaused);
  EXPECT_EQ(sandbox_->Pause("s").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sandbox_->Resume("s").ok());
  EXPECT_FALSE(agent_.Paused("s"));
  EXPECT_EQ(sandbox_->Resume("s").code(), absl::StatusCode::kFailedPrecondition);

  oci::LinuxResources res;
  res.memory.emplace();
  res.memory->limit = 64 << 20;
  res.devices = std::vector<oci::LinuxDeviceCgroup>(1);
  ASSERT_TRUE(sandbox_->Update("s", res).ok());
  auto updates = agent_.RequestsAs<::grpc::UpdateContainerRequest>("UpdateContainer");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].resources().memory().limit(), 64 << 20);
  EXPECT_EQ(updates[0].resources().devices_size(), 0);

  EXPECT_EQ(sandbox_->DeleteContainer("s").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sandbox_->Signal("s", "", SIGTERM, false).ok());
  EXPECT_EQ(sandbox_->Wait("s", "")->exit_code, 128 + SIGTERM);
  auto signals = agent_.RequestsAs<::grpc::SignalProcessRequest>("SignalProcess");
  ASSERT_FALSE(signals.empty());
  EXPECT_EQ(signals.back().exec_id(), "s");  // the init's agent exec id
  EXPECT_EQ(sandbox_->ContainerIds(), (std::vector<std::string>{"c3", "s"}));
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, SignalAllUsesEmptyExecId) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("s", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("s").ok());
  ASSERT_TRUE(sandbox_->Signal("s", "", SIGKILL, true).ok());
  EXPECT_EQ(sandbox_->Wait("s", "")->exit_code, 128 + SIGKILL);
  auto signals = agent_.RequestsAs<::grpc::SignalProcessRequest>("SignalProcess");
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].exec_id(), "");
}

TEST_F(VmSandboxTest, OverlayRootfsMountsAreMountedSharedAndUndone) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  for (const char* d : {"lower", "upper", "work"}) fs::create_directories(tmp_ + "/" + d);
  ASSERT_TRUE(WriteStringToFile(tmp_ + "/lower/from-lower", "x").ok());
  ContainerConfig c = Config("ov", {"echo", "hi"});
  c.rootfs_mounts.push_back(RootfsMount{
      "overlay",
      "overlay",
      {"lowerdir=" + tmp_ + "/lower", "upperdir=" + tmp_ + "/upper", "workdir=" + tmp_ + "/work"}});
  ASSERT_TRUE(sandbox_->CreateContainer(c).ok());
  EXPECT_TRUE(fs::exists(SandboxDir() + "/shared/ov/rootfs/from-lower"));
  EXPECT_TRUE(fs::exists(SandboxDir() + "/mounts/ov/rootfs/from-lower"));
  ASSERT_TRUE(sandbox_->DeleteContainer("ov").ok());  // created, never started
  ExpectOnlyTheShareMounted(SandboxDir());
  EXPECT_FALSE(fs::exists(SandboxDir() + "/mounts/ov"));
}

TEST_F(VmSandboxTest, HostBindMountsAreSharedAndRewritten) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  fs::create_directories(tmp_ + "/vol");
  ASSERT_TRUE(WriteStringToFile(tmp_ + "/vol/data", "volume data\n").ok());
  ASSERT_TRUE(WriteStringToFile(tmp_ + "/resolv.conf", "nameserver 10.0.0.1\n").ok());
  ContainerConfig c = Config("v", {"sleep"});
  oci::Mount dir;
  dir.destination = "/data";
  dir.type = "bind";
  dir.source = tmp_ + "/vol";
  dir.options = std::vector<std::string>{"rbind", "ro"};
  oci::Mount file;
  file.destination = "/etc/resolv.conf";
  file.type = "bind";
  file.source = tmp_ + "/resolv.conf";
  file.options = std::vector<std::string>{"bind"};
  oci::Mount proc;
  proc.destination = "/proc";
  proc.type = "proc";
  proc.source = "proc";
  c.spec.mounts = std::vector<oci::Mount>{proc, dir, file};
  ASSERT_TRUE(sandbox_->CreateContainer(c).ok());
  auto created = agent_.RequestsAs<::grpc::CreateContainerRequest>("CreateContainer");
  ASSERT_EQ(created.size(), 1u);
  const auto& mounts = created[0].oci().mounts();
  ASSERT_EQ(mounts.size(), 3);
  EXPECT_EQ(mounts[0].source(), "proc");
  EXPECT_EQ(mounts[1].source(), "/run/kata-containers/shared/containers/v/volumes/0-data");
  EXPECT_EQ(mounts[2].source(), "/run/kata-containers/shared/containers/v/volumes/1-resolv.conf");
  EXPECT_EQ(kata::testing::ReadFileOrDie(SandboxDir() + "/shared/v/volumes/0-data/data"),
            "volume data\n");
  EXPECT_EQ(kata::testing::ReadFileOrDie(SandboxDir() + "/shared/v/volumes/1-resolv.conf"),
            "nameserver 10.0.0.1\n");
  // Read-only as asked.
  EXPECT_FALSE(std::ofstream(SandboxDir() + "/shared/v/volumes/0-data/new").good());
  ASSERT_TRUE(sandbox_->DeleteContainer("v").ok());
  ExpectOnlyTheShareMounted(SandboxDir());
  EXPECT_TRUE(fs::exists(tmp_ + "/vol/data"));  // the host's files are untouched
  // A missing source fails and leaves nothing.
  file.source = tmp_ + "/missing";
  c.spec.mounts = std::vector<oci::Mount>{file};
  absl::Status s = sandbox_->CreateContainer(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  ExpectOnlyTheShareMounted(SandboxDir());
  EXPECT_FALSE(fs::exists(SandboxDir() + "/shared/v"));
}

TEST_F(VmSandboxTest, FailedCreateContainerRollsBack) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  agent_.FailNext("CreateContainer", absl::InternalError("mount rootfs: ENOENT"));
  absl::Status s = sandbox_->CreateContainer(Config("bad", {"echo"}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("container bad: agent CreateContainer: mount rootfs"));
  ExpectOnlyTheShareMounted(SandboxDir());
  EXPECT_FALSE(fs::exists(SandboxDir() + "/shared/bad"));
  EXPECT_EQ(sandbox_->GetContainerState("bad").status().code(), absl::StatusCode::kNotFound);
  // A bad overlay fails on the host and leaves nothing either.
  ContainerConfig c = Config("bad2", {"echo"});
  c.rootfs_mounts.push_back(RootfsMount{"overlay", "overlay", {"lowerdir=/nonexistent/x"}});
  s = sandbox_->CreateContainer(c);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("container bad2: mount overlay"));
  EXPECT_FALSE(fs::exists(SandboxDir() + "/mounts/bad2"));
  // Bad ids change nothing.
  EXPECT_EQ(sandbox_->CreateContainer(Config("../x", {"echo"})).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(sandbox_->CreateContainer(Config("ok", {"echo"})).ok());
  EXPECT_EQ(sandbox_->CreateContainer(Config("ok", {"echo"})).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(VmSandboxTest, FailedStartStopsTheVmAndRemovesEverything) {
  MakeSandbox();
  agent_.FailNext("CreateSandbox", absl::InternalError("no 9p"));
  EXPECT_CALL(*vm_, StopVm()).Times(::testing::AtLeast(1));
  absl::Status s = sandbox_->Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("sandbox sb1: agent CreateSandbox: no 9p"));
  EXPECT_EQ(sandbox_->State(), SandboxState::kStopped);
  EXPECT_EQ(sandbox_->Start().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sandbox_->CreateContainer(Config("c", {"echo"})).code(),
            absl::StatusCode::kFailedPrecondition);
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, StartSharesThe9pDirAndShutdownDestroysTheGuestBeforeTheVm) {
  // The agent as a gMock: what the sandbox asks of it, and in which order.
  auto agent = std::make_unique<NiceMock<testing::MockAgentClient>>();
  testing::MockAgentClient* a = agent.get();
  auto holder = std::make_shared<std::unique_ptr<AgentClient>>(std::move(agent));
  dialer_ = [holder](const AgentChannel& ch,
                     absl::Duration) -> absl::StatusOr<std::unique_ptr<AgentClient>> {
    return std::move(*holder);
  };
  MakeSandbox();
  ::testing::InSequence order;
  EXPECT_CALL(*a, CreateSandbox(_)).WillOnce([](const ::grpc::CreateSandboxRequest& r) {
    EXPECT_EQ(r.sandbox_id(), "sb1");
    EXPECT_EQ(r.storages_size(), 1);
    EXPECT_EQ(r.storages(0).driver(), "9p");
    EXPECT_EQ(r.storages(0).source(), "kataShared");
    EXPECT_EQ(r.storages(0).mount_point(), "/run/kata-containers/shared/containers/");
    return absl::OkStatus();
  });
  EXPECT_CALL(*a, DestroySandbox(_)).WillOnce(Return(absl::OkStatus()));
  EXPECT_CALL(*a, Close()).Times(::testing::AtLeast(1));
  EXPECT_CALL(*vm_, StopVm()).WillOnce([this] {
    stopped_ = true;
    return absl::OkStatus();
  });
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, StartRefusesTheDirectoriesOfAnotherSandboxWithTheSameId) {
  fs::create_directories(SandboxDir() + "/shared/other");
  MakeSandbox();
  absl::Status s = sandbox_->Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_TRUE(fs::exists(SandboxDir() + "/shared/other"));  // not touched
  EXPECT_EQ(sandbox_->State(), SandboxState::kStopped);
  ASSERT_TRUE(CleanupSandbox("sb1", paths_).ok());
  EXPECT_FALSE(fs::exists(SandboxDir()));
}

TEST_F(VmSandboxTest, AgentThatNeverAnswersFailsStartWithinTheDialTimeout) {
  agent_.Stop();
  dial_timeout_ = 1;
  MakeSandbox();
  absl::Time start = absl::Now();
  absl::Status s = sandbox_->Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, VmDeathEndsEveryProcessWithAnError) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("s", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("s").ok());
  std::thread killer([this] {
    absl::SleepFor(absl::Milliseconds(100));
    kill(vmm_pid_, SIGKILL);  // a zombie now: dead, not reaped
  });
  absl::StatusOr<ExitStatus> exit = sandbox_->Wait("s", "");
  killer.join();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 255);
  EXPECT_EQ(exit->error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(exit->error.message(), HasSubstr("sandbox sb1: VM died: qemu killed by signal 9"));
  absl::Status death = sandbox_->WaitVmDeath();
  EXPECT_THAT(death.message(), HasSubstr("VM died"));
  EXPECT_EQ(sandbox_->State(), SandboxState::kVmDied);
  EXPECT_EQ(*sandbox_->ReadStdout("s", ""), "");  // EOF
  oci::Process p;
  p.args = std::vector<std::string>{"echo"};
  EXPECT_EQ(sandbox_->Exec("s", "e", p, false).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(sandbox_->DeleteContainer("s").ok());
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

// Issue 11 item 14: a stopped or hung VM made the pod undeletable (RemoveContainer failed or
// waited for ever). After guest_timeout the VM is treated as dead: stopped, the container's host
// side cleaned, the deletion reported done.
TEST_F(VmSandboxTest, DeleteContainerOfAGuestThatNeverAnswersStopsTheVmAndCleansTheHost) {
  HungAgent();
  guest_timeout_ = absl::Seconds(1);
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"sleep"})).ok());
  ASSERT_TRUE(fs::exists(SandboxDir() + "/shared/c/rootfs/marker"));
  const absl::Time start = absl::Now();
  absl::Status s = sandbox_->DeleteContainer("c");
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(closed_->HasBeenNotified());
  EXPECT_TRUE(stopped_) << "the VM of a guest that does not answer must be stopped";
  EXPECT_EQ(sandbox_->State(), SandboxState::kVmDied);
  EXPECT_THAT(sandbox_->WaitVmDeath().message(),
              HasSubstr("the guest did not answer RemoveContainer of container c within 1s"));
  EXPECT_EQ(sandbox_->GetContainerState("c").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(SandboxDir() + "/shared/c"));
  ExpectOnlyTheShareMounted(SandboxDir());
  const absl::Time down = absl::Now();
  EXPECT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_LT(absl::Now() - down, absl::Seconds(5));
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, SigkillThatAHungGuestNeverTakesStopsTheVmAndEndsTheProcesses) {
  HungAgent();
  guest_timeout_ = absl::Seconds(1);
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("c").ok());
  const absl::Time start = absl::Now();
  absl::Status s = sandbox_->Signal("c", "", SIGKILL, true);
  EXPECT_TRUE(s.ok()) << s;  // the process is certainly dead: its VM is
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(stopped_);
  absl::StatusOr<ExitStatus> exit = sandbox_->Wait("c", "");
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 255);
  EXPECT_THAT(exit->error.message(), HasSubstr("did not answer SignalProcess"));
  ASSERT_TRUE(sandbox_->DeleteContainer("c").ok());
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, ShutdownOfAGuestThatNeverAnswersFinishesWithinTheBound) {
  HungAgent();
  guest_timeout_ = absl::Seconds(1);
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("c").ok());  // a WaitProcess pending for ever
  const absl::Time start = absl::Now();
  EXPECT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(stopped_);
  EXPECT_TRUE(closed_->HasBeenNotified());
  ExpectNothingLeft();
}

TEST_F(VmSandboxTest, AnExecTheAgentFreedReadsAsEof) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("s", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("s").ok());
  oci::Process p;
  p.args = std::vector<std::string>{"echo", "hi"};
  ASSERT_TRUE(sandbox_->Exec("s", "e", p, false).ok());
  EXPECT_EQ(sandbox_->Wait("s", "e")->exit_code, 0);
  // The agent freed the exec once its exit was collected and its output read: NOT_FOUND.
  agent_.FailNext("ReadStdout", absl::NotFoundError("container s: no process with exec id e"));
  absl::StatusOr<std::string> got = sandbox_->ReadStdout("s", "e");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "");
  // The init is never freed by the agent: NOT_FOUND there is an error.
  agent_.FailNext("ReadStdout", absl::NotFoundError("container s: gone"));
  EXPECT_FALSE(sandbox_->ReadStdout("s", "").ok());
}

TEST_F(VmSandboxTest, ExitObserverIsToldOnceForEveryProcessEnd) {
  MakeSandbox();
  absl::Mutex mu;
  std::vector<std::string> seen;
  sandbox_->SetExitObserver(
      [&](const std::string& cid, const std::string& exec_id, const ExitStatus& e) {
        // The process is already exited when the observer hears of it.
        EXPECT_EQ(sandbox_->GetProcess(cid, exec_id)->state, ProcessState::kExited);
        absl::MutexLock l(&mu);
        seen.push_back(absl::StrCat(cid, "/", exec_id, "=", e.exit_code));
      });
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("a", {"exit", "3"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("a").ok());
  EXPECT_EQ(sandbox_->Wait("a", "")->exit_code, 3);
  ASSERT_TRUE(sandbox_->CreateContainer(Config("b", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("b").ok());
  oci::Process p;
  p.args = std::vector<std::string>{"sleep"};
  ASSERT_TRUE(sandbox_->Exec("b", "e1", p, false).ok());
  ASSERT_TRUE(sandbox_->DeleteContainer("a").ok());  // already exited: no second report
  ASSERT_TRUE(sandbox_->Shutdown().ok());            // the rest end with the sandbox
  absl::MutexLock l(&mu);
  EXPECT_THAT(seen, ::testing::UnorderedElementsAre("a/=3", "b/=255", "b/e1=255"));
}

TEST_F(VmSandboxTest, CleanupSandboxRemovesWhatADeadOwnerLeft) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"sleep"})).ok());
  // The owner "dies": leak the object's state on purpose by cleaning up behind its back.
  ASSERT_TRUE(CleanupSandbox("sb1", paths_).ok());
  EXPECT_THAT(*MountPointsUnder(SandboxDir()), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(SandboxDir()));
  EXPECT_TRUE(CleanupSandbox("sb1", paths_).ok());  // nothing left: still OK
  EXPECT_EQ(CleanupSandbox("../etc", paths_).code(), absl::StatusCode::kInvalidArgument);
}

TEST(NewVmSandboxTest, RejectsBadIds) {
  SandboxOptions o;
  o.id = "a/b";
  o.hypervisor_factory = [](const config::RuntimeConfig&,
                            const hypervisor::VmLayout&) -> absl::StatusOr<hypervisor::VmPlan> {
    return absl::InternalError("unused");
  };
  EXPECT_EQ(NewVmSandbox(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.id = "ok";
  EXPECT_TRUE(NewVmSandbox(o).ok());
  o.hypervisor_factory = nullptr;  // the shim injects the driver's factory: required
  EXPECT_EQ(NewVmSandbox(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kata::runtime
