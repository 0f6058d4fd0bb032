// The whole host runtime with a REAL guest: the VM sandbox boots the guest image built by
// tools/osbuilder (argv: vmlinux.container, kata-containers-initrd.img, manifest.txt) under
// QEMU TCG through the QEMU driver, dials the kata-agent (PID 1 in the guest) over
// virtio-serial, shares a busybox rootfs over 9p, and runs containers: output, exit codes,
// exec, signals, stats, pause/resume, stdin; then shutdown leaves no QEMU, mount or directory.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/runtime/hypervisor/qemu/factory.h"
#include "src/runtime/sandbox/host_mounts.h"
#include "src/runtime/sandbox/vm_sandbox.h"

namespace kata::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string g_kernel, g_initrd;

bool Alive(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadFileToString(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok() || stat->empty()) return false;
  size_t close = stat->rfind(')');
  return close != std::string::npos && (*stat)[close + 2] != 'Z';
}

// Rss (kB) of the mappings of `path`'s file (by inode) in process `pid`'s /proc/PID/smaps.
long FileRssKb(pid_t pid, const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  const std::string smaps = ReadFileToString(absl::StrCat("/proc/", pid, "/smaps")).value_or("");
  long kb = 0;
  bool in = false;
  for (absl::string_view line : absl::StrSplit(smaps, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() >= 5 && f[0].find('-') != absl::string_view::npos &&
        f[3].find(':') != absl::string_view::npos) {
      in = f[4] == absl::StrCat(st.st_ino);
    } else if (in && f.size() >= 2 && f[0] == "Rss:") {
      long v = 0;
      if (absl::SimpleAtoi(f[1], &v)) kb += v;
    }
  }
  return kb;
}

// Copies `from` to `to` and writes it back: reclaim skips dirty file pages, so a copy still
// dirty in the page cache could not be paged out.
void CopyClean(const std::string& from, const std::string& to) {
  absl::StatusOr<std::string> data = ReadFileToString(from);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_TRUE(WriteStringToFile(to, *data).ok()) << to;
  UniqueFd fd(open(to.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd) << to;
  ASSERT_EQ(fsync(fd.get()), 0) << to;
}

oci::Spec BusyboxSpec(std::vector<std::string> args) {
  oci::Spec s;
  s.oci_version = "1.0.2";
  s.process.emplace();
  s.process->args = std::move(args);
  s.process->cwd = "/";
  s.process->env = std::vector<std::string>{"PATH=/bin:/usr/bin:/sbin:/usr/sbin"};
  s.root.emplace();
  s.root->path = "rootfs";
  s.hostname = "kata";
  auto m = [](std::string dst, std::string type, std::string src, std::vector<std::string> opts) {
    oci::Mount x;
    x.destination = std::move(dst);
    x.type = std::move(type);
    x.source = std::move(src);
    x.options = std::move(opts);
    return x;
  };
  s.mounts = std::vector<oci::Mount>{
      m("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      m("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      m("/dev/pts", "devpts", "devpts",
        {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}),
      m("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      m("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
  };
  s.linux.emplace();
  s.linux->namespaces =
      std::vector<oci::LinuxNamespace>{{"pid", std::nullopt, {}},
                                       {"ipc", std::nullopt, {}},
                                       {"uts", std::nullopt, {}},
                                       {"mount", std::nullopt, {}},
                                       {"network", std::string("/var/run/netns/ignored"), {}}};
  return s;
}

class SandboxVmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "run as root";
    ASSERT_FALSE(g_kernel.empty()) << "usage: sandbox_vm_test VMLINUX INITRD [MANIFEST]";
    ASSERT_EQ(access(g_kernel.c_str(), R_OK), 0) << g_kernel;
    ASSERT_EQ(access(g_initrd.c_str(), R_OK), 0) << g_initrd;
    ASSERT_EQ(access("/bin/busybox", X_OK), 0) << "busybox-static missing (tools/setup)";
    tmp_ = dir_.path();
    paths_ = {tmp_ + "/shared", tmp_ + "/vm"};
    // The VM boots from private copies of the kernel and initrd: pages of a file another QEMU
    // maps too (a test running beside this one) are shared and MADV_PAGEOUT leaves them, so
    // only files nobody else maps show what ReleaseBootMemory drops.
    kernel_ = tmp_ + "/vmlinux.container";
    initrd_ = tmp_ + "/initrd.img";
    ASSERT_NO_FATAL_FAILURE(CopyClean(g_kernel, kernel_));
    ASSERT_NO_FATAL_FAILURE(CopyClean(g_initrd, initrd_));
    bundle_ = tmp_ + "/bundle";
    fs::create_directories(bundle_ + "/rootfs/bin");
    for (const char* d : {"proc", "dev", "sys", "tmp", "etc"}) {
      fs::create_directories(bundle_ + "/rootfs/" + d);
    }
    fs::copy_file("/bin/busybox", bundle_ + "/rootfs/bin/busybox");
    for (const char* tool : {"sh", "echo", "sleep", "cat", "cut", "head", "ls", "true"}) {
      fs::create_symlink("busybox", bundle_ + "/rootfs/bin/" + tool);
    }
  }
  void TearDown() override {
    if (sandbox_) sandbox_->Shutdown().IgnoreError();
    sandbox_.reset();
    CleanupSandbox("vm1", paths_).IgnoreError();
    UnmountUnder(tmp_).IgnoreError();  // before dir_ goes (it never crosses a mount)
  }

  void StartSandbox() {
    SandboxOptions o;
    o.id = "vm1";
    o.spec = BusyboxSpec({"true"});
    o.config.hypervisor.path = "/usr/bin/qemu-system-x86_64";
    o.config.hypervisor.kernel = kernel_;
    o.config.hypervisor.initrd = initrd_;
    o.config.hypervisor.accelerator = "tcg";  // this host's KVM hangs guests
    o.config.hypervisor.shared_fs = "virtio-9p";
    o.config.hypervisor.default_memory = 512;
    o.config.agent.dial_timeout = 90;  // TCG on 2 shared cores
    o.paths = paths_;
    o.hypervisor_factory = hypervisor::qemu::QemuFactory();
    o.on_start_step = [](absl::string_view step, absl::Duration took) {
      std::cerr << "  start step " << step << ": " << took << "\n";
    };
    o.on_warning = [this](absl::string_view m) { warnings_.emplace_back(m); };
    auto sb = NewVmSandbox(std::move(o));
    ASSERT_TRUE(sb.ok()) << sb.status();
    sandbox_ = *std::move(sb);
    const absl::Time start = absl::Now();
    absl::Status s = sandbox_->Start();
    ASSERT_TRUE(s.ok()) << s << "\nconsole: " << ConsoleTail();
    std::cerr << "sandbox Start (QEMU launch -> agent ready -> CreateSandbox): "
              << absl::Now() - start << "\n";
  }

  std::string ConsoleTail() {
    std::string s = ReadFileToString(paths_.vm_root + "/vm1/console.log").value_or("");
    return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
  }

  ContainerConfig Config(const std::string& id, std::vector<std::string> args) {
    ContainerConfig c;
    c.id = id;
    c.spec = BusyboxSpec(std::move(args));
    c.bundle = bundle_;
    return c;
  }

  std::string ReadAll(const std::string& cid, const std::string& exec, bool err = false) {
    std::string all;
    for (int i = 0; i < 10000; ++i) {
      absl::StatusOr<std::string> got =
          err ? sandbox_->ReadStderr(cid, exec) : sandbox_->ReadStdout(cid, exec);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok() || got->empty()) break;
      all += *got;
    }
    return all;
  }

  // c1 prints to stdout and stderr and exits 3.
  void OutputAndExitCode() {
    absl::Time t = absl::Now();
    absl::Status s = sandbox_->CreateContainer(
        Config("c1", {"sh", "-c", "echo hello from the vm; echo oops >&2; exit 3"}));
    ASSERT_TRUE(s.ok()) << s << "\nconsole: " << ConsoleTail();
    ASSERT_TRUE(sandbox_->StartContainer("c1").ok());
    EXPECT_EQ(ReadAll("c1", ""), "hello from the vm\n");
    EXPECT_EQ(ReadAll("c1", "", true), "oops\n");
    absl::StatusOr<ExitStatus> exit = sandbox_->Wait("c1", "");
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(exit->exit_code, 3);
    EXPECT_TRUE(exit->error.ok()) << exit->error;
    std::cerr << "container create+start+run+exit: " << absl::Now() - t << "\n";
  }

  // c3 runs beside c2 with a host directory bound read-only (a volume), then is deleted.
  void VolumeBesideARunningContainer() {
    fs::create_directories(tmp_ + "/vol");
    ASSERT_TRUE(WriteStringToFile(tmp_ + "/vol/hello", "from a host volume\n").ok());
    ContainerConfig c3 =
        Config("c3", {"sh", "-c", "cat /data/hello; echo x > /data/new || echo read-only"});
    oci::Mount vol;
    vol.destination = "/data";
    vol.type = "bind";
    vol.source = tmp_ + "/vol";
    vol.options = std::vector<std::string>{"rbind", "ro"};
    c3.spec.mounts->push_back(vol);
    absl::Status s = sandbox_->CreateContainer(c3);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_TRUE(sandbox_->StartContainer("c3").ok());
    std::string c3_out = ReadAll("c3", "");
    EXPECT_THAT(c3_out, HasSubstr("from a host volume\n"));
    EXPECT_THAT(c3_out, HasSubstr("read-only\n"));
    EXPECT_EQ(sandbox_->Wait("c3", "")->exit_code, 0);
    EXPECT_EQ(*sandbox_->GetContainerState("c2"), ContainerState::kRunning);
    ASSERT_TRUE(sandbox_->DeleteContainer("c3").ok());
    EXPECT_FALSE(fs::exists(tmp_ + "/vol/new"));
  }

  // Execs in c2: output, stdin, a terminal (one stream, resizable).
  void ExecsInC2() {
    oci::Process p;
    p.cwd = "/";
    p.env = std::vector<std::string>{"PATH=/bin"};
    p.args = std::vector<std::string>{"sh", "-c", "echo exec in $(cat /proc/sys/kernel/hostname)"};
    ASSERT_TRUE(sandbox_->Exec("c2", "e1", p, false).ok());
    EXPECT_EQ(ReadAll("c2", "e1"), "exec in kata\n");
    EXPECT_EQ(sandbox_->Wait("c2", "e1")->exit_code, 0);

    p.args = std::vector<std::string>{"cat"};
    ASSERT_TRUE(sandbox_->Exec("c2", "cat", p, false).ok());
    ASSERT_EQ(*sandbox_->WriteStdin("c2", "cat", "through stdin\n"), 14u);
    ASSERT_TRUE(sandbox_->CloseStdin("c2", "cat").ok());
    EXPECT_EQ(ReadAll("c2", "cat"), "through stdin\n");
    EXPECT_EQ(sandbox_->Wait("c2", "cat")->exit_code, 0);

    // A terminal: one stream (stderr at EOF at once), resizable.
    p.args = std::vector<std::string>{"sh", "-c",
                                      "[ -t 1 ] && echo stdout-is-a-tty; echo to-stderr >&2"};
    ASSERT_TRUE(sandbox_->Exec("c2", "tty", p, true).ok());
    ASSERT_TRUE(sandbox_->ResizePty("c2", "tty", 100, 30).ok());
    EXPECT_EQ(ReadAll("c2", "tty", true), "");
    std::string tty_out = ReadAll("c2", "tty");
    EXPECT_THAT(tty_out, HasSubstr("stdout-is-a-tty\r\n"));
    EXPECT_THAT(tty_out, HasSubstr("to-stderr"));
    EXPECT_EQ(sandbox_->Wait("c2", "tty")->exit_code, 0);
    EXPECT_EQ(sandbox_->ResizePty("c2", "e1", 80, 24).code(),
              absl::StatusCode::kFailedPrecondition);
  }

  // c2's stats, then pause and resume.
  void StatsPauseResumeC2() {
    absl::StatusOr<ContainerStats> stats = sandbox_->Stats("c2");
    ASSERT_TRUE(stats.ok()) << stats.status();
    ASSERT_TRUE(stats->memory.has_value());
    EXPECT_GT(stats->memory->usage.usage, 0u);
    std::cerr << "stats: memory usage " << stats->memory->usage.usage << ", pids "
              << (stats->pids.has_value() ? stats->pids->current : 0) << "\n";

    ASSERT_TRUE(sandbox_->Pause("c2").ok());
    EXPECT_EQ(*sandbox_->GetContainerState("c2"), ContainerState::kPaused);
    ASSERT_TRUE(sandbox_->Resume("c2").ok());
  }

  kata::testing::TempDir dir_{"/tmp"};  // /tmp: QEMU's socket paths must stay short
  std::string tmp_, bundle_;
  std::string kernel_, initrd_;  // the private copies the VM boots from
  SandboxPaths paths_;
  std::unique_ptr<Sandbox> sandbox_;
  std::vector<std::string> warnings_;  // SandboxOptions::on_warning's messages
};

TEST_F(SandboxVmTest, ContainersInARealVm) {
  ASSERT_NO_FATAL_FAILURE(StartSandbox());
  std::vector<pid_t> qemu = sandbox_->VmPids();
  ASSERT_EQ(qemu.size(), 1u);
  // Once the agent answered, QEMU's mappings of the kernel (13 MB of it resident after the
  // load) and of the initrd were paged out (ReleaseBootMemory), without a warning.
  EXPECT_THAT(warnings_, ::testing::IsEmpty());
  const long kernel_kb = FileRssKb(qemu[0], kernel_), initrd_kb = FileRssKb(qemu[0], initrd_);
  std::cerr << "QEMU's resident kernel/initrd file pages: " << kernel_kb << "/" << initrd_kb
            << " kB\n";
  EXPECT_LT(kernel_kb, 1024);
  EXPECT_LT(initrd_kb, 256);
  // Under TCG QEMU runs without transparent huge pages (its guest RAM in 4 KiB pages).
  const std::string status = ReadFileToString(absl::StrCat("/proc/", qemu[0], "/status")).value();
  EXPECT_THAT(status, ::testing::HasSubstr("\nTHP_enabled:\t0\n"));

  // 1. Output and exit code.
  ASSERT_NO_FATAL_FAILURE(OutputAndExitCode());
  // c1 stays (stopped) while c2 runs: two containers in one sandbox.

  // 2. A long-running container: exec, stdin, stats, pause/resume, signals.
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c2", {"sleep", "1000"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("c2").ok());

  ASSERT_NO_FATAL_FAILURE(VolumeBesideARunningContainer());
  ASSERT_NO_FATAL_FAILURE(ExecsInC2());
  ASSERT_NO_FATAL_FAILURE(StatsPauseResumeC2());

  oci::Process p;
  p.cwd = "/";
  p.env = std::vector<std::string>{"PATH=/bin"};
  p.args = std::vector<std::string>{"sleep", "1000"};
  ASSERT_TRUE(sandbox_->Exec("c2", "e2", p, false).ok());
  ASSERT_TRUE(sandbox_->Signal("c2", "e2", SIGTERM, false).ok());
  EXPECT_EQ(sandbox_->Wait("c2", "e2")->exit_code, 128 + SIGTERM);

  ASSERT_TRUE(sandbox_->Signal("c2", "", SIGKILL, false).ok());
  EXPECT_EQ(sandbox_->Wait("c2", "")->exit_code, 128 + SIGKILL);
  EXPECT_EQ(*sandbox_->GetContainerState("c2"), ContainerState::kStopped);
  ASSERT_TRUE(sandbox_->DeleteContainer("c2").ok());
  EXPECT_EQ(sandbox_->ContainerIds(), std::vector<std::string>{"c1"});
  ASSERT_TRUE(sandbox_->DeleteContainer("c1").ok());

  // 3. Shutdown: DestroySandbox, QEMU gone, nothing left on the host.
  const absl::Time t = absl::Now();
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  std::cerr << "shutdown: " << absl::Now() - t << "\n";
  EXPECT_FALSE(Alive(qemu[0]));
  EXPECT_THAT(*MountPointsUnder(tmp_), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(paths_.shared_root + "/vm1"));
  EXPECT_FALSE(fs::exists(paths_.vm_root + "/vm1"));
}

TEST_F(SandboxVmTest, QemuKilledFromOutsideEndsTheTaskWithAnError) {
  ASSERT_NO_FATAL_FAILURE(StartSandbox());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("c", {"sleep", "1000"})).ok());
  ASSERT_TRUE(sandbox_->StartContainer("c").ok());
  const pid_t qemu = sandbox_->VmPids()[0];
  ASSERT_EQ(kill(qemu, SIGKILL), 0);
  absl::StatusOr<ExitStatus> exit = sandbox_->Wait("c", "");
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 255);
  EXPECT_THAT(exit->error.message(), HasSubstr("sandbox vm1: VM died: qemu killed by signal 9"));
  EXPECT_EQ(*sandbox_->ReadStdout("c", ""), "");
  ASSERT_TRUE(sandbox_->DeleteContainer("c").ok());
  ASSERT_TRUE(sandbox_->Shutdown().ok());
  EXPECT_FALSE(Alive(qemu));
  EXPECT_THAT(*MountPointsUnder(tmp_), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(paths_.shared_root + "/vm1"));
  EXPECT_FALSE(fs::exists(paths_.vm_root + "/vm1"));
}

}  // namespace
}  // namespace kata::runtime

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (absl::EndsWith(a, "vmlinux.container")) kata::runtime::g_kernel = a;
    if (absl::EndsWith(a, ".img")) kata::runtime::g_initrd = a;
  }
  return RUN_ALL_TESTS();
}
