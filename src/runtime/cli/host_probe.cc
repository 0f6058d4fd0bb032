#include "src/runtime/cli/host_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

extern char** environ;

namespace kata::runtime::cli {
namespace {

struct RunResult {
  std::string output;
  bool exited = false;
  int status = 0;
};

// What `fd` gives until end of file, `deadline`, or `until` appears in it.
std::string ReadOutput(int fd, absl::Time deadline, absl::string_view until) {
  std::string output;
  char buf[4096];
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    if (!until.empty() && absl::StrContains(output, until)) break;
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) continue;  // poll again, with the time left
    if (n <= 0) break;
    ssize_t got = RetryEintr([&] { return read(fd, buf, sizeof buf); });
    if (got <= 0) break;  // EOF: it exited (or closed its output)
    output.append(buf, static_cast<size_t>(got));
  }
  return output;
}

// Runs argv with stdout+stderr captured, until it exits, `until` is seen in the output, or
// `timeout`; whatever is still running is killed (its process group) and reaped.
absl::StatusOr<RunResult> Run(const std::vector<std::string>& argv, absl::Duration timeout,
                              absl::string_view until = "") {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, write_end.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int err = posix_spawn(&pid, argv[0].c_str(), &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  write_end.reset();
  if (err != 0) return ErrnoStatus(err, absl::StrCat("run ", argv[0]));
  RunResult r;
  r.output = ReadOutput(read_end.get(), absl::Now() + timeout, until);
  read_end.reset();
  int status = 0;
  pid_t w = waitpid(pid, &status, WNOHANG);
  if (w == 0) {
    // Give a process that just closed its output a moment, then kill the group.
    for (int i = 0; i < 50 && w == 0; ++i) {
      usleep(10000);
      w = waitpid(pid, &status, WNOHANG);
    }
    if (w == 0) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return r;
    }
  }
  r.exited = true;
  r.status = status;
  return r;
}

bool Readable(const std::string& path) { return !path.empty() && access(path.c_str(), R_OK) == 0; }

}  // namespace

HostFacts ProbeHost(const config::RuntimeConfig& config) {
  HostFacts f;
  const config::QemuConfig& q = config.hypervisor;
  f.qemu_path = q.path;
  f.qemu_found = access(q.path.c_str(), X_OK) == 0;
  f.virtiofsd_found = !q.virtio_fs_daemon.empty() && q.virtio_fs_daemon[0] == '/' &&
                      access(q.virtio_fs_daemon.c_str(), X_OK) == 0;
  if (f.qemu_found) {
    absl::StatusOr<RunResult> v = Run({q.path, "-version"}, absl::Seconds(10));
    if (v.ok()) {
      f.qemu_version = std::string(
          absl::StripAsciiWhitespace(std::vector<std::string>(absl::StrSplit(v->output, '\n'))[0]));
    } else {
      f.qemu_version = std::string(v.status().message());
    }
    absl::StatusOr<RunResult> d =
        Run({q.path, "-machine", "none", "-device", "help"}, absl::Seconds(10));
    f.qemu_9p = d.ok() && absl::StrContains(d->output, "\"virtio-9p-pci\"");
    f.qemu_virtio_fs = d.ok() && absl::StrContains(d->output, "\"vhost-user-fs-pci\"");
  } else {
    f.qemu_version = absl::StrCat(q.path, ": not found or not executable");
  }
  f.kvm_device = access("/dev/kvm", F_OK) == 0;
  if (f.kvm_device) {
    UniqueFd kvm(open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!kvm) {
      f.kvm_error = ErrnoStatus(errno, "open /dev/kvm").ToString();
    } else {
      f.kvm_api = ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
    }
  }
  f.vhost_vsock = UniqueFd(open("/dev/vhost-vsock", O_RDWR | O_CLOEXEC)).valid();
  f.kernel_found = Readable(q.kernel);
  f.initrd_found = q.initrd.empty() || Readable(q.initrd);
  absl::StatusOr<std::string> filesystems = ReadFileToString("/proc/filesystems");
  if (filesystems.ok()) {
    for (absl::string_view line : absl::StrSplit(*filesystems, '\n')) {
      if (absl::EndsWith(line, "\t9p")) f.host_9p = true;
    }
  }
  utsname u;
  if (uname(&u) == 0) f.host_kernel = u.release;
  return f;
}

absl::StatusOr<BootProbe> ProbeBoot(const config::RuntimeConfig& config,
                                    hypervisor::Accelerator accelerator, absl::Duration timeout) {
  const config::QemuConfig& q = config.hypervisor;
  if (access(q.path.c_str(), X_OK) != 0) return ErrnoStatus(errno, absl::StrCat("qemu ", q.path));
  if (!Readable(q.kernel)) return ErrnoStatus(errno, absl::StrCat("kernel ", q.kernel));
  const bool kvm = accelerator == hypervisor::Accelerator::kKvm;
  std::vector<std::string> argv = {q.path,
                                   "-machine",
                                   absl::StrCat("q35,accel=", kvm ? "kvm" : "tcg"),
                                   "-cpu",
                                   kvm ? "host" : "max",
                                   "-m",
                                   "256",
                                   "-smp",
                                   "1",
                                   "-nodefaults",
                                   "-no-user-config",
                                   "-display",
                                   "none",
                                   "-serial",
                                   "stdio",
                                   "-no-reboot",
                                   "-kernel",
                                   q.kernel,
                                   "-append",
                                   "console=ttyS0 panic=-1"};
  const absl::Time start = absl::Now();
  absl::StatusOr<RunResult> r = Run(argv, timeout, "Kernel panic");
  if (!r.ok()) return r.status();
  BootProbe b;
  b.elapsed = absl::Now() - start;
  size_t at = r->output.find("Kernel panic");
  if (at != std::string::npos) {
    b.booted = true;
    size_t end = r->output.find('\n', at);
    b.detail = std::string(absl::StripAsciiWhitespace(r->output.substr(at, end - at)));
  } else if (r->exited) {
    std::string tail =
        r->output.size() > 300 ? r->output.substr(r->output.size() - 300) : r->output;
    b.detail = absl::StrCat("qemu exited before the kernel finished booting: ",
                            absl::StripAsciiWhitespace(tail));
  } else {
    b.detail = absl::StrCat("no kernel panic within ", absl::FormatDuration(timeout),
                            " (the guest hangs or is too slow); ",
                            r->output.empty() ? "no console output" : "console output stopped");
  }
  return b;
}

}  // namespace kata::runtime::cli
