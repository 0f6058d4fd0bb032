// containerd-shim-kata-v2's actions, as containerd's runtime v2 runs them (see
// /work/shared/reference/interfaces.md section 2). main.cc only calls ShimMain.
//
//   start   reads runtime options (a protobuf Any of runtimeoptions.v1.Options) from stdin,
//           finds the pod's shim address (one shim per pod: a container whose spec names an
//           existing sandbox gets that sandbox shim's address), or else listens on
//           unix:///run/containerd/s/<sha256> and starts the daemon (this binary again,
//           setsid, stdio on /dev/null, cwd the bundle, the listening socket as fd 3);
//           prints the address and exits 0. Writes `address` and `shim.pid` in the bundle.
//   delete  cleans up after a dead shim (kills a daemon still recorded in shim.pid, the
//           sandbox's VM, mounts and directories via runtime::CleanupSandbox, the pod's host
//           cgroup (the spec's cgroupsPath, host_cgroup.h's RemoveLeftPodCgroup), the socket)
//           and prints a protobuf DeleteResponse (exit_status 137, exited_at now) on stdout.
//           Exits 1 with the error on stderr when the cleanup failed.
//   (none)  the daemon: serves containerd.task.v2.Task on the socket, publishes events to
//           $TTRPC_ADDRESS, logs to the bundle's `log` FIFO; exits 0 after Task.Shutdown
//           (or SIGTERM), leaving no VM and removing its socket. Its fds are all
//           close-on-exec (fd 3 too, once taken), and QEMU gets only stdio and what it needs
//           (hypervisor/qemu/process.h): a dead daemon's socket refuses connections.
//           It outlives containerd (setsid, no tie to containerd's process): a containerd
//           restarted on the same state reconnects through the bundle's `address` file
//           (Task.Connect), and the events it missed are retried (event_forwarder.h);
//           tests/e2e/containerd_restart_test.sh.
#ifndef KATA_SRC_RUNTIME_SHIM_SHIM_H_
#define KATA_SRC_RUNTIME_SHIM_SHIM_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "src/runtime/shim/args.h"
#include "src/runtime/shim/socket_address.h"
#include "src/runtime/shim/task_service.h"

namespace kata {
namespace shim {

inline constexpr char kShimVersion[] = "0.1.0";

// Where the daemon's pieces come from; the defaults are the real ones.
struct ShimEnv {
  std::string socket_root = kSocketRoot;  // socket_address.h
  SandboxFactory factory;                 // empty: the VM sandbox (vm_factory.h)
  std::string self_exe;                   // empty: /proc/self/exe
  // What `delete` calls to clean up after a dead sandbox; empty: runtime::CleanupSandbox.
  std::function<absl::Status(const std::string& sandbox_id)> cleanup;
  // Where the management socket goes (<root>/<sid>/shim-monitor.sock, monitor.h); empty:
  // runtime::kShimStateRoot.
  std::string monitor_root;
};

int ShimMain(int argc, char** argv, ShimEnv env = {});

// The actions (stdout/stderr as containerd sees them; return the exit code).
int RunStart(const ShimArgs& args, const ShimEnv& env);
int RunDelete(const ShimArgs& args, const ShimEnv& env);
int RunServe(const ShimArgs& args, const ShimEnv& env);

// True if something accepts connections on the unix socket `path`.
bool SocketAlive(const std::string& path);

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_SHIM_H_
