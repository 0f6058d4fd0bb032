// virtiofsd for one VM: the daemon that serves VmConfig::shared_dir to the guest over
// vhost-user-fs (shared_fs = virtio-fs).
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<Virtiofsd> fs, Virtiofsd::Start(config, {}));
//   ... start QEMU: it connects to PathsFor(config).virtiofs_socket ...
//   fs.reset();  // SIGTERM, SIGKILL after a grace, reaped
//
// Contracts:
//   - Start binds and listens on the socket (mode 0600, a stale file replaced) before it runs
//     the daemon and hands it the listening fd (`--fd`): QEMU can connect as soon as Start
//     returns, with no wait for the daemon to come up.
//   - The daemon is sandboxed to the shared directory (`-o sandbox=namespace`: its own mount,
//     pid and net namespaces, pivoted into the directory), with `-o cache=<virtio_fs_cache>`,
//     submounts announced (each container's rootfs is a mount under the directory), no
//     xattrs, then VmConfig::virtiofsd_extra_args; stdout/stderr go to
//     PathsFor(config).virtiofsd_log. Mounts made under the directory after Start reach it
//     only if the directory's mount propagates to a copy (the sandbox's read-only view is a
//     slave of its mounts tree: they do).
//   - Start fails with nothing left (no daemon, no socket) if the daemon cannot be run.
//   - The destructor ends the daemon (it also ends by itself when QEMU disconnects) and
//     removes the socket.
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_VIRTIOFSD_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_VIRTIOFSD_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/runtime/hypervisor/hypervisor.h"

namespace kata::hypervisor::qemu {

class ChildProcess;

struct VirtiofsdOptions {
  bool die_with_parent = false;  // PR_SET_PDEATHSIG, as QemuDriverOptions::die_with_parent
};

class Virtiofsd {
 public:
  static absl::StatusOr<std::unique_ptr<Virtiofsd>> Start(const VmConfig& config,
                                                          const VirtiofsdOptions& options);
  ~Virtiofsd();
  Virtiofsd(const Virtiofsd&) = delete;
  Virtiofsd& operator=(const Virtiofsd&) = delete;

  pid_t pid() const;
  bool running();
  // The argv it was started with.
  const std::vector<std::string>& argv() const { return argv_; }

  // The daemon's argv for `config` with the listening socket at `listen_fd`.
  static std::vector<std::string> CommandLine(const VmConfig& config, int listen_fd);

 private:
  Virtiofsd(std::unique_ptr<ChildProcess> child, std::string socket, std::vector<std::string> argv);

  std::unique_ptr<ChildProcess> child_;
  std::string socket_;
  std::vector<std::string> argv_;
};

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_VIRTIOFSD_H_
