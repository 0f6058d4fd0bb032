// The VM sandbox over the REAL QEMU driver (TCG, no guest kernel: QEMU starts paused) with the
// fake agent standing in for the guest (dialled on its own unix socket): QEMU's life as the
// sandbox sees it — start, the 9p share on QEMU's command line, shutdown leaving no process,
// a QEMU killed from outside ending every task with an error, and CleanupSandbox killing a
// QEMU whose owner vanished. Root, real mounts.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/agent/testing/fake_agent.h"
#include "src/runtime/agent/ttrpc_agent_client.h"
#include "src/runtime/hypervisor/qemu/factory.h"
#include "src/runtime/sandbox/host_mounts.h"
#include "src/runtime/sandbox/vm_sandbox.h"

namespace kata::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

bool Alive(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadFileToString(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok() || stat->empty()) return false;
  size_t close = stat->rfind(')');
  return close != std::string::npos && (*stat)[close + 2] != 'Z';
}

std::string Cmdline(pid_t pid) {
  std::string s = ReadFileToString(absl::StrCat("/proc/", pid, "/cmdline")).value_or("");
  for (char& c : s) {
    if (c == '\0') c = ' ';
  }
  return s;
}

class SandboxQemuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "run as root";
    ASSERT_EQ(access("/usr/bin/qemu-system-x86_64", X_OK), 0) << "qemu-system-x86 missing";
    tmp_ = dir_.path();
    paths_ = {tmp_ + "/shared", tmp_ + "/vm"};
    rootfs_ = tmp_ + "/rootfs";
    fs::create_directories(rootfs_);
    agent_socket_ = tmp_ + "/agent.sock";
    ASSERT_TRUE(agent_.Start(agent_socket_).ok());
  }
  void TearDown() override {
    sandbox_.reset();
    agent_.Stop();
    CleanupSandbox("q1", paths_).IgnoreError();
    UnmountUnder(tmp_).IgnoreError();  // before dir_ goes (it never crosses a mount)
  }

  void MakeSandbox() {
    SandboxOptions o;
    o.id = "q1";
    o.config.hypervisor.path = "/usr/bin/qemu-system-x86_64";
    o.config.hypervisor.kernel = "";
    o.config.hypervisor.initrd = "";
    o.config.hypervisor.accelerator = "tcg";
    o.config.hypervisor.shared_fs = "virtio-9p";
    o.config.hypervisor.default_memory = 128;
    o.paths = paths_;
    o.hypervisor_factory =
        hypervisor::qemu::QemuFactory([](hypervisor::qemu::QemuDriverOptions* qo) {
          qo->start_paused = true;  // no guest kernel: keep the vCPUs still
          qo->require_kernel = false;
          qo->stop_grace = absl::Seconds(2);
        });
    // The guest would answer on QEMU's agent channel; the fake agent answers on its own.
    std::string socket = agent_socket_;
    o.agent_dialer = [socket](
                         const hypervisor::AgentChannel& ch,
                         absl::Duration timeout) -> absl::StatusOr<std::unique_ptr<AgentClient>> {
      EXPECT_EQ(ch.kind, hypervisor::AgentChannelKind::kVirtioSerial);
      EXPECT_TRUE(fs::exists(ch.socket_path)) << ch.socket_path;  // QEMU made it
      return DialAgent("unix://" + socket, {.dial_timeout = timeout});
    };
    auto sb = NewVmSandbox(std::move(o));
    ASSERT_TRUE(sb.ok()) << sb.status();
    sandbox_ = *std::move(sb);
  }

  ContainerConfig Config(const std::string& id, std::vector<std::string> args) {
    ContainerConfig c;
    c.id = id;
    c.spec.process.emplace();
    c.spec.process->args = std::move(args);
    c.spec.process->cwd = "/";
    c.rootfs_dir = rootfs_;
    return c;
  }

  kata::testing::TempDir dir_{"/tmp"};  // /tmp: QEMU's and the agent's socket paths stay short
  std::string tmp_, rootfs_, agent_socket_;
  SandboxPaths paths_;
  testing::FakeAgent agent_;
  std::unique_ptr<Sandbox> sandbox_;
};

TEST_F(SandboxQemuTest, QemuRunsWithTheShareAndShutdownLeavesNothing) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  std::vector<pid_t> pids = sandbox_->VmPids();
  ASSERT_EQ(pids.size(), 1u);
  const pid_t qemu = pids[0];
  EXPECT_TRUE(Alive(qemu));
  std::string cmd = Cmdline(qemu);
  EXPECT_THAT(cmd, HasSubstr("path=" + paths_.shared_root + "/q1/shared"));
  EXPECT_THAT(cmd, HasSubstr("mount_tag=kataShared"));
  EXPECT_THAT(cmd, HasSubstr(" -accel tcg"));
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c1", {"echo", "hi"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("c1").ok());
  EXPECT_EQ(*sandbox_->ReadStdout("c1", ""), "hi\n");
  EXPECT_EQ(sandbox_->Wait("c1", "")->exit_code, 0);
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_FALSE(Alive(qemu));
  EXPECT_TRUE(sandbox_->WaitVmDeath().ok());
  EXPECT_THAT(*MountPointsUnder(tmp_), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(paths_.shared_root + "/q1"));
  EXPECT_FALSE(fs::exists(paths_.vm_root + "/q1"));
}

TEST_F(SandboxQemuTest, QemuKilledFromOutsideEndsTasksWithAnError) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("s", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("s").ok());
  const pid_t qemu = sandbox_->VmPids()[0];
  const absl::Time killed = absl::Now();
  ASSERT_EQ(kill(qemu, SIGKILL), 0);
  absl::StatusOr<ExitStatus> exit = sandbox_->Wait("s", "");
  const absl::Duration noticed = absl::Now() - killed;
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 255);
  EXPECT_EQ(exit->error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(exit->error.message(), HasSubstr("sandbox q1: VM died"));
  EXPECT_THAT(exit->error.message(), HasSubstr("signal 9"));
  EXPECT_LT(noticed, absl::Seconds(3));
  std::cerr << "VM death noticed after " << noticed << "\n";
  EXPECT_EQ(sandbox_->State(), SandboxState::kVmDied);
  EXPECT_THAT(sandbox_->WaitVmDeath().message(), HasSubstr("VM died"));
  ASSERT_TRUE(sandbox_->DeleteContainer("s").ok());
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_THAT(*MountPointsUnder(tmp_), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(paths_.shared_root + "/q1"));
}

// Issue 11 item 6: a socket the owner (the shim) left without close-on-exec, like its
// listening fd 3 once was, never reaches QEMU.
TEST_F(SandboxQemuTest, QemuHoldsNoInheritedSocketOfItsOwner) {
  const int leaky = socket(AF_UNIX, SOCK_STREAM, 0);  // no SOCK_CLOEXEC
  ASSERT_GE(leaky, 0);
  struct stat st;
  ASSERT_EQ(fstat(leaky, &st), 0);
  const std::string inode = absl::StrCat("socket:[", st.st_ino, "]");
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  const pid_t qemu = sandbox_->VmPids()[0];
  int fds = 0;
  for (const auto& e : fs::directory_iterator(absl::StrCat("/proc/", qemu, "/fd"))) {
    ++fds;
    std::error_code ec;
    EXPECT_NE(fs::read_symlink(e.path(), ec).string(), inode)
        << "QEMU holds the owner's socket as fd " << e.path().filename();
  }
  EXPECT_GT(fds, 3);  // QEMU's own fds were seen
  close(leaky);
  ASSERT_TRUE(sandbox_->Shutdown().ok());
}

// Issue 11 item 14: a stopped VM (kill -STOP QEMU) must not hold up the pod's removal: the
// shutdown takes at most the stop grace (2 s here) beyond the guest calls, and leaves nothing.
TEST_F(SandboxQemuTest, ShutdownOfAStoppedQemuIsBoundedAndLeavesNothing) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("s", {"sleep"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("s").ok());
  const pid_t qemu = sandbox_->VmPids()[0];
  ASSERT_EQ(kill(qemu, SIGSTOP), 0);
  const absl::Time start = absl::Now();
  absl::Status s = sandbox_->Shutdown();
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(s.ok()) << s;
  std::cerr << "shutdown of a stopped QEMU took " << took << "\n";
  EXPECT_LT(took, absl::Seconds(6));
  EXPECT_FALSE(Alive(qemu));
  EXPECT_THAT(*MountPointsUnder(tmp_), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(paths_.shared_root + "/q1"));
  EXPECT_FALSE(fs::exists(paths_.vm_root + "/q1"));  // QMP and agent sockets with it
}

TEST_F(SandboxQemuTest, CleanupSandboxKillsTheQemuOfAVanishedOwner) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"sleep"})).ok());
  const pid_t qemu = sandbox_->VmPids()[0];
  // The owner (a shim) is gone without a Shutdown: `containerd-shim-kata-v2 delete` cleans.
  ASSERT_TRUE(CleanupSandbox("q1", paths_).ok());
  EXPECT_FALSE(Alive(qemu));
  EXPECT_THAT(*MountPointsUnder(tmp_), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(paths_.shared_root + "/q1"));
  EXPECT_FALSE(fs::exists(paths_.vm_root + "/q1"));
  // The object notices the death and still shuts down cleanly.
  EXPECT_THAT(sandbox_->WaitVmDeath().message(), HasSubstr("VM died"));
  EXPECT_TRUE(sandbox_->Shutdown().ok());
}

}  // namespace
}  // namespace kata::runtime
