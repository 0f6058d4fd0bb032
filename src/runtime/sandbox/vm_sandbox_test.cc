// VmSandbox: lifecycle, containers, processes, sharing (fixture: vm_sandbox_test_fixture.h).
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/threads.h"
#include "src/runtime/sandbox/host_mounts.h"
#include "src/runtime/sandbox/vm_sandbox_test_fixture.h"

namespace kata::runtime::vm_sandbox_test {
namespace {

// The fixture's header brings fs, the hypervisor types and gMock's matchers.

TEST_F(VmSandboxTest, ContainerRunsPrintsAndExits) {
  std::vector<std::string> steps;
  on_step_ = [&](absl::string_view step, absl::Duration) { steps.emplace_back(step); };
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  EXPECT_EQ(sandbox_->State(), SandboxState::kRunning);
  EXPECT_EQ(steps, (std::vector<std::string>{"prepare", "start_vm", "agent_ready",
                                             "release_boot_memory", "create_sandbox"}));
  EXPECT_THAT(warnings_, ::testing::IsEmpty());
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

// shared_fs = virtio-fs: the guest mounts the share as virtiofs by its tag.
TEST_F(VmSandboxTest, VirtioFsShareIsMountedAsVirtiofs) {
  tune_config_ = [](config::RuntimeConfig& c) { c.hypervisor.shared_fs = "virtio-fs"; };
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  auto sandboxes = agent_.RequestsAs<::grpc::CreateSandboxRequest>("CreateSandbox");
  ASSERT_EQ(sandboxes.size(), 1u);
  ASSERT_EQ(sandboxes[0].storages_size(), 1);
  const ::grpc::Storage& st = sandboxes[0].storages(0);
  EXPECT_EQ(st.driver(), "virtio-fs");
  EXPECT_EQ(st.source(), "kataShared");
  EXPECT_EQ(st.fstype(), "virtiofs");
  EXPECT_THAT(st.options(), ::testing::ElementsAre("nodev"));
  EXPECT_EQ(st.mount_point(), "/run/kata-containers/shared/containers/");
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
  // The agent's metrics text, through the wire (the fake agent's GetMetrics).
  absl::StatusOr<std::string> agent_metrics = sandbox_->AgentMetrics();
  ASSERT_TRUE(agent_metrics.ok()) << agent_metrics.status();
  EXPECT_THAT(*agent_metrics, HasSubstr("kata_guest_load{item=\"load1\"} 0.5\n"));
  EXPECT_EQ(agent_.Requests("GetMetrics").size(), 1u);

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

// A running process costs the sandbox no thread: its wait is one asynchronous agent call, and
// its exit is recorded when that call completes (here: all answered at once, then the rest
// ended UNAVAILABLE by the agent's close at Shutdown).
TEST_F(VmSandboxTest, LiveProcessesCostNoThreadEach) {
  auto agent = std::make_unique<NiceMock<testing::MockAgentClient>>();  // Status calls: OK
  testing::MockAgentClient* a = agent.get();
  struct Held {
    absl::Mutex mu;
    std::vector<AgentClient::Done<::grpc::WaitProcessResponse>> waits ABSL_GUARDED_BY(mu);
    void Add(AgentClient::Done<::grpc::WaitProcessResponse> done) {
      absl::MutexLock l(&mu);
      waits.push_back(std::move(done));
    }
    size_t Count() {
      absl::MutexLock l(&mu);
      return waits.size();
    }
    void Complete(const absl::StatusOr<::grpc::WaitProcessResponse>& r) {
      std::vector<AgentClient::Done<::grpc::WaitProcessResponse>> all;
      {
        absl::MutexLock l(&mu);
        all.swap(waits);
      }
      for (auto& done : all) done(r);
    }
  };
  auto held = std::make_shared<Held>();
  ON_CALL(*a, WaitProcessAsync(_, _))
      .WillByDefault([held](const ::grpc::WaitProcessRequest&,
                            AgentClient::Done<::grpc::WaitProcessResponse> done) {
        held->Add(std::move(done));
      });
  ON_CALL(*a, Close()).WillByDefault([held] {
    held->Complete(absl::UnavailableError("agent WaitProcess: connection closed"));
  });
  auto holder = std::make_shared<std::unique_ptr<AgentClient>>(std::move(agent));
  dialer_ = [holder](const AgentChannel&,
                     absl::Duration) -> absl::StatusOr<std::unique_ptr<AgentClient>> {
    return std::move(*holder);
  };
  MakeSandbox();
  absl::Mutex exits_mu;
  std::map<std::string, ExitStatus> exits;  // "cid/exec" ("t" for t's init)
  sandbox_->SetExitObserver(
      [&](const std::string& cid, const std::string& exec, const ExitStatus& e) {
        absl::MutexLock l(&exits_mu);
        exits[exec.empty() ? cid : cid + "/" + exec] = e;
      });
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("s", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("s").ok());
  oci::Process sleep;
  sleep.args = std::vector<std::string>{"sleep"};
  sleep.cwd = "/";
  const int before = kata::testing::ThreadCount();
  constexpr int kExecs = 20;
  for (int i = 0; i < kExecs; ++i) {
    ASSERT_TRUE(sandbox_->Exec("s", "e" + std::to_string(i), sleep, false).ok());
  }
  EXPECT_EQ(held->Count(), kExecs + 1u);
  const int during = kata::testing::ThreadCount();
  std::cout << "threads for " << kExecs << " live execs: " << during - before << "\n";
  EXPECT_LE(during - before, 2);  // none per process (a stray thread of the test at most)

  ::grpc::WaitProcessResponse seven;
  seven.set_status(7);
  held->Complete(seven);
  for (int i = 0; i < kExecs; ++i) {
    absl::StatusOr<ExitStatus> e = sandbox_->Wait("s", "e" + std::to_string(i));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->exit_code, 7);
    EXPECT_TRUE(e->error.ok()) << e->error;
  }
  EXPECT_EQ(sandbox_->Wait("s", "")->exit_code, 7);
  ASSERT_TRUE(sandbox_->DeleteProcess("s", "e0").ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("t", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("t").ok());  // its wait pending until Shutdown
  ASSERT_TRUE(sandbox_->Shutdown().ok());           // closes the agent: the wait completes
  absl::MutexLock l(&exits_mu);
  ASSERT_EQ(exits.count("t"), 1u);
  EXPECT_EQ(exits["t"].exit_code, 255);
  EXPECT_THAT(exits["t"].error.message(), HasSubstr("sandbox sb1: shut down"));
  EXPECT_EQ(exits.size(), kExecs + 2u);  // each process reported once
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

// Once the agent answers the VMM drops its boot files' pages; where it cannot, the sandbox
// starts all the same and the reason is logged.
TEST_F(VmSandboxTest, BootMemoryIsReleasedOnceTheAgentAnswersAndAFailureOnlyWarns) {
  MakeSandbox();
  EXPECT_CALL(*vm_, ReleaseBootMemory())
      .WillOnce(Return(absl::UnimplementedError("process_madvise: ENOSYS")));
  ASSERT_TRUE(sandbox_->Start().ok());
  EXPECT_EQ(sandbox_->State(), SandboxState::kRunning);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], ::testing::HasSubstr("sandbox sb1: boot memory kept"));
  EXPECT_THAT(warnings_[0], ::testing::HasSubstr("process_madvise: ENOSYS"));
  EXPECT_EQ(agent_.RequestsAs<::grpc::CreateSandboxRequest>("CreateSandbox").size(), 1u);
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

}  // namespace
}  // namespace kata::runtime::vm_sandbox_test
