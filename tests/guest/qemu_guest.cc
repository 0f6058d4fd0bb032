#include "tests/guest/qemu_guest.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <initializer_list>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/libs/base/file.h"
#include "src/libs/protocols/health.ttrpc.pb.h"

namespace kata {
namespace testing {

QemuGuest::QemuGuest()
    : dir_("/tmp"),  // short: unix socket paths are limited to 108 bytes
      share_(dir_.Join("share")),
      socket_(dir_.Join("agent.sock")),
      console_(dir_.Join("console.log")) {
  mkdir(share_.c_str(), 0755);
}

QemuGuest::~QemuGuest() {
  client_.reset();
  Kill();
}

void QemuGuest::Kill() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

std::string QemuGuest::Console() const {
  absl::StatusOr<std::string> all = ReadFileToString(console_);
  if (!all.ok()) return all.status().ToString();
  return all->size() > 4000 ? all->substr(all->size() - 4000) : *all;
}

absl::Status QemuGuest::Boot(const GuestImage& image, absl::Duration timeout) {
  const absl::Time start = absl::Now();
  const bool arm = image.arch == "aarch64";
  if (!arm && image.arch != "x86_64") {
    return absl::InvalidArgumentError("QemuGuest: arch must be x86_64 or aarch64");
  }
  const std::string append = absl::StrCat(
      arm ? "console=ttyAMA0" : "console=ttyS0",
      " quiet panic=-1 agent.server_addr=serial://agent.channel.0 ", image.extra_kernel_params);
  std::vector<std::string> args = {arm ? "qemu-system-aarch64" : "qemu-system-x86_64"};
  auto add = [&args](std::initializer_list<std::string> more) { args.insert(args.end(), more); };
  add({"-accel", "tcg", "-machine", arm ? "virt" : "q35", "-cpu", "max", "-smp", "1"});
  add({"-m", std::to_string(image.memory_mib)});
  add({"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"});
  add({"-serial", "file:" + console_});
  add({"-kernel", image.kernel, "-initrd", image.initrd, "-append", append});
  add({"-device", "virtio-serial-pci"});
  add({"-chardev", "socket,path=" + socket_ + ",server=on,wait=off,id=ch0"});
  add({"-device", "virtserialport,chardev=ch0,name=agent.channel.0"});
  add({"-fsdev", "local,id=fs0,path=" + share_ + ",security_model=none"});
  add({"-device", "virtio-9p-pci,fsdev=fs0,mount_tag=kataShared"});
  const std::string qemu_log = dir_.Join("qemu.log");
  pid_ = fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    int fd = open(qemu_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  absl::Status last = absl::UnavailableError("no attempt");
  while (absl::Now() - start < timeout) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      absl::StatusOr<std::string> log = ReadFileToString(qemu_log);
      return absl::InternalError(absl::StrCat("qemu exited (status ", status,
                                              "): ", log.ok() ? *log : log.status().ToString(),
                                              "\nconsole:\n", Console()));
    }
    auto client = kata::ttrpc::Client::Dial("unix://" + socket_, absl::Seconds(1));
    if (client.ok()) {
      grpc::HealthTtrpc::Client health(client->get());
      grpc::HealthCheckResponse resp;
      kata::ttrpc::CallOptions o;
      o.timeout = absl::Seconds(2);
      last = health.Check(grpc::CheckRequest(), &resp, o);
      if (last.ok()) {
        ready_ = absl::Now() - start;
        client_ = std::move(*client);
        return absl::OkStatus();
      }
    } else {
      last = client.status();
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("agent did not answer Health.Check within ",
                                                  absl::FormatDuration(timeout), ": ",
                                                  last.ToString(), "\nconsole:\n", Console()));
}

absl::StatusOr<int> QemuGuest::WaitExit(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    if (absl::Now() > until) return absl::DeadlineExceededError("qemu still running");
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::FailedPreconditionError("qemu is not running");
}

}  // namespace testing
}  // namespace kata
