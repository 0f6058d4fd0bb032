#include "src/runtime/hypervisor/qemu/virtiofsd.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"
#include "src/runtime/hypervisor/qemu/command_line.h"
#include "src/runtime/hypervisor/qemu/process.h"

namespace kata::hypervisor::qemu {
namespace {

// A listening unix socket at `path` (0600; a stale file there is replaced).
absl::StatusOr<UniqueFd> Listen(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("virtiofsd socket ", path, " is too long"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus(errno, "virtiofsd socket");
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("remove stale ", path));
  }
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bind ", path));
  }
  absl::Cleanup unlink_socket = [&path] { unlink(path.c_str()); };
  if (chmod(path.c_str(), 0600) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", path));
  if (listen(fd.get(), 1) != 0) return ErrnoStatus(errno, absl::StrCat("listen ", path));
  std::move(unlink_socket).Cancel();
  return fd;
}

}  // namespace

std::vector<std::string> Virtiofsd::CommandLine(const VmConfig& config, int listen_fd) {
  std::vector<std::string> argv = {config.virtiofsd_path,
                                   absl::StrCat("--fd=", listen_fd),
                                   "-o",
                                   absl::StrCat("source=", config.shared_dir),
                                   "-o",
                                   absl::StrCat("cache=", config.virtio_fs_cache),
                                   "-o",
                                   "sandbox=namespace",
                                   "-o",
                                   "announce_submounts",
                                   "-o",
                                   "no_xattr",
                                   "--thread-pool-size=1"};
  argv.insert(argv.end(), config.virtiofsd_extra_args.begin(), config.virtiofsd_extra_args.end());
  return argv;
}

absl::StatusOr<std::unique_ptr<Virtiofsd>> Virtiofsd::Start(const VmConfig& config,
                                                            const VirtiofsdOptions& options) {
  const QemuPaths paths = PathsFor(config);
  absl::StatusOr<UniqueFd> listener = Listen(paths.virtiofs_socket);
  if (!listener.ok()) return AnnotateStatus(listener.status(), "start virtiofsd");
  absl::Cleanup unlink_socket = [&paths] { unlink(paths.virtiofs_socket.c_str()); };
  std::vector<std::string> argv = CommandLine(config, listener->get());
  absl::StatusOr<std::unique_ptr<ChildProcess>> child =
      ChildProcess::Spawn(argv, {.log_path = paths.virtiofsd_log,
                                 .die_with_parent = options.die_with_parent,
                                 .inherit_fds = {listener->get()}});
  if (!child.ok()) return AnnotateStatus(child.status(), "start virtiofsd");
  std::move(unlink_socket).Cancel();
  return std::unique_ptr<Virtiofsd>(
      new Virtiofsd(*std::move(child), paths.virtiofs_socket, std::move(argv)));
}

Virtiofsd::Virtiofsd(std::unique_ptr<ChildProcess> child, std::string socket,
                     std::vector<std::string> argv)
    : child_(std::move(child)), socket_(std::move(socket)), argv_(std::move(argv)) {}

Virtiofsd::~Virtiofsd() {
  child_->Terminate(absl::Seconds(1));
  unlink(socket_.c_str());
}

pid_t Virtiofsd::pid() const { return child_->pid(); }

bool Virtiofsd::running() { return !child_->TryWait(); }

}  // namespace kata::hypervisor::qemu
