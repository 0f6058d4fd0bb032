// The sandbox API: one pod = one VM with the Kata agent inside, holding containers and their
// processes. This is what containerd-shim-kata-v2 (src/runtime/shim) codes against.
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sb, NewVmSandbox(options));  // vm_sandbox.h
//   KATA_RETURN_IF_ERROR(sb->Start());                    // boot the VM, agent up, CreateSandbox
//   KATA_RETURN_IF_ERROR(sb->CreateContainer({.id = "c1", .spec = spec, .rootfs_mounts = m}));
//   KATA_RETURN_IF_ERROR(sb->StartContainer("c1"));
//   KATA_ASSIGN_OR_RETURN(std::string out, sb->ReadStdout("c1", ""));  // "" = EOF
//   KATA_ASSIGN_OR_RETURN(ExitStatus st, sb->Wait("c1", ""));
//   KATA_RETURN_IF_ERROR(sb->DeleteContainer("c1"));
//   KATA_RETURN_IF_ERROR(sb->Shutdown());                 // DestroySandbox, VM off, all removed
//
// Contracts:
//   - Lifecycles are the state machines of state.h; an illegal call is FAILED_PRECONDITION
//     and changes nothing. An unknown container or exec id is NOT_FOUND; a duplicate one
//     ALREADY_EXISTS. Ids must be plain names ([A-Za-z0-9][A-Za-z0-9_.-]*, at most 128
//     bytes): anything else is INVALID_ARGUMENT.
//   - `exec_id` "" always means the container's init process.
//   - Thread-safe. Blocking calls (Wait, ReadStdout/ReadStderr, WriteStdin, WaitVmDeath)
//     never block other calls, so a shim may run one copying thread per stream.
//   - A running process costs the sandbox no thread: the VM sandbox waits for each process
//     with one asynchronous agent call, and reports its exit on a short-lived thread. Its
//     stdio has asynchronous faces too (ReadOutputAsync, WriteStdinAsync), so a shim copies
//     every stream from one event loop instead.
//   - Every call that fails undoes what it did (mounts, directories, guest-side objects).
//   - Errors name the object and the cause: "container c1: mount rootfs: EBUSY".
//   - When the VM dies (QEMU killed, guest panic), the sandbox goes to kVmDied: every
//     unfinished Wait returns an ExitStatus with exit_code 255 and `error` set to the cause,
//     stdio reads return EOF, guest operations fail FAILED_PRECONDITION (the sandbox is
//     kVmDied), and WaitVmDeath returns. DeleteContainer and Shutdown still clean up the
//     host side.
//   - A guest that does not answer in time is treated as dead, since it can no longer be
//     trusted to be consistent: when DeleteContainer's RemoveContainer, or a SIGKILL's
//     SignalProcess, gets no answer within the sandbox's guest timeout (or the connection
//     fails), the VM is stopped (SIGKILL if it does not quit) and the sandbox goes to kVmDied
//     as above, with the cause "sandbox s1: the guest did not answer RemoveContainer of
//     container c1 within 10s: the VM is stopped". DeleteContainer then cleans the host side
//     and succeeds (the container is gone with its VM); Signal(SIGKILL) succeeds (the process
//     is dead). An agent that answers with an error changes nothing (the error is returned).
//     Shutdown bounds DestroySandbox the same way and always stops the VM.
//   - Process exits are reported once each to the ExitObserver (SetExitObserver), the one
//     place a caller learns of them without a blocking Wait of its own.
//   - OOM kills the guest reports (the agent's GetOOMEvent) go to the OomObserver
//     (SetOomObserver), watched from Start until the sandbox stops or its VM dies.
#ifndef KATA_SRC_RUNTIME_SANDBOX_SANDBOX_H_
#define KATA_SRC_RUNTIME_SANDBOX_SANDBOX_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/libs/oci/spec.h"
#include "src/runtime/sandbox/state.h"
#include "src/runtime/sandbox/stats.h"

namespace kata::runtime {

// A rootfs mount as containerd passes it in CreateTaskRequest.rootfs (containerd.types.Mount):
// e.g. {type "overlay", source "overlay", options {"lowerdir=...", "upperdir=...", ...}}, or
// {type "bind", source "/some/dir", options {"rbind", "ro"}}.
struct RootfsMount {
  std::string type;
  std::string source;
  std::vector<std::string> options;
};

struct ContainerConfig {
  std::string id;
  oci::Spec spec;  // the bundle's config.json; root.path is rewritten for the guest
  // The rootfs: containerd's mounts (mounted on the host in that order, then shared with
  // the guest), or, when `rootfs_mounts` is empty, a ready directory: `rootfs_dir`, or else
  // spec.root.path (relative to `bundle` when not absolute).
  std::vector<RootfsMount> rootfs_mounts;
  std::string rootfs_dir;
  std::string bundle;  // the bundle directory (may be empty when nothing is relative)
  // The init process gets a terminal (a pty in the guest; no separate stderr).
  // Overrides spec.process.terminal when set.
  std::optional<bool> terminal;
};

// How a process ended.
struct ExitStatus {
  int32_t exit_code = 0;  // as the guest reports it (a signal n as 128+n); 255 when the VM died
  absl::Time exited_at = absl::InfinitePast();
  absl::Status error;  // OK for a normal exit; the cause when the process was lost
};

// Told of each process's exit, once, after the process is kExited (Wait returns it from then
// on): by a normal exit, the VM's death, DeleteContainer or Shutdown. Called without the
// sandbox's locks held, from the sandbox's own threads (exits of different processes may be
// reported concurrently) or from the thread calling DeleteContainer/Shutdown/Signal (a guest
// given up as dead), one exit after another. It may query the sandbox (states, processes),
// but must not call DeleteContainer, DeleteProcess or Shutdown (they wait for the report it
// may be part of) nor block on a later exit.
using ExitObserver = std::function<void(const std::string& container_id, const std::string& exec_id,
                                        const ExitStatus& exit)>;

// Told of an OOM kill in a container's cgroup in the guest (the agent's GetOOMEvent: one call
// per kill count the guest saw), with the container's id. Called from the sandbox's OOM watcher
// thread (one event after another), without the sandbox's locks held; it must not call
// Shutdown (it joins that thread). The watcher ends with the sandbox (Shutdown, VM death).
using OomObserver = std::function<void(const std::string& container_id)>;

// What a shim needs to answer Task.State / Task.Pids for one process.
struct ProcessInfo {
  std::string exec_id;  // "" for init
  ProcessState state = ProcessState::kCreated;
  bool terminal = false;
  std::optional<ExitStatus> exit;  // set once kExited
};

// The sandbox. Pure interface: the VM implementation is in vm_sandbox.h, a gMock in
// testing/mock_sandbox.h.
class Sandbox {
 public:
  virtual ~Sandbox() = default;

  virtual const std::string& id() const = 0;
  virtual SandboxState State() const = 0;

  // Sets the one observer of process exits (replacing any earlier one). Call before Start.
  virtual void SetExitObserver(ExitObserver observer) = 0;
  // Sets the one observer of OOM kills (replacing any earlier one). Call before Start.
  virtual void SetOomObserver(OomObserver observer) = 0;

  // Boots the VM, waits for the agent (Health.Check, bounded by the agent's dial_timeout),
  // sends CreateSandbox (the 9p share as storage). kInitial -> kRunning. On failure nothing
  // is left (no VMM, mounts or directories) and the sandbox is kStopped. ALREADY_EXISTS when
  // the sandbox's directories exist already (same id running, or leftovers of a dead one).
  virtual absl::Status Start() = 0;

  // Stops everything: DestroySandbox (best effort, bounded), the VM off, every container's
  // rootfs unmounted, the sandbox's directories removed. Legal in every state; idempotent.
  // Returns the first error but always finishes the cleanup. -> kStopped.
  virtual absl::Status Shutdown() = 0;

  // Returns when the VM has died by itself or the sandbox was shut down: the cause
  // (UNAVAILABLE "sandbox s1: VM died: qemu killed by signal 9 ...") or OK after Shutdown.
  virtual absl::Status WaitVmDeath() = 0;

  // Host PIDs of the VMM (containerd reports them as the task's pid, as Kata does).
  virtual std::vector<pid_t> VmPids() const = 0;

  // The agent's GetMetrics text (Prometheus: kata_agent_*, kata_guest_*), bounded by the
  // guest timeout. FAILED_PRECONDITION unless the sandbox is running; the agent's error
  // otherwise. Unlike the calls below, a guest that does not answer is not treated as dead.
  virtual absl::StatusOr<std::string> AgentMetrics() = 0;

  // ---- containers ----

  // Mounts the rootfs, shares it with the guest and creates the container in the guest
  // (its init process waits for StartContainer). -> kCreated.
  virtual absl::Status CreateContainer(const ContainerConfig& config) = 0;

  // Starts the init process. kCreated -> kRunning.
  virtual absl::Status StartContainer(const std::string& container_id) = 0;

  // Removes the container from the guest and its rootfs from the host. kCreated/kStopped.
  // A guest that does not answer in time is stopped first (see the contracts above).
  virtual absl::Status DeleteContainer(const std::string& container_id) = 0;

  virtual absl::StatusOr<ContainerState> GetContainerState(
      const std::string& container_id) const = 0;

  // Ids of the containers, in creation order.
  virtual std::vector<std::string> ContainerIds() const = 0;

  // Freezes / thaws every process of the container. kRunning <-> kPaused.
  virtual absl::Status Pause(const std::string& container_id) = 0;
  virtual absl::Status Resume(const std::string& container_id) = 0;

  // The container's cgroup statistics (from the guest).
  virtual absl::StatusOr<ContainerStats> Stats(const std::string& container_id) = 0;

  // Applies new resource limits to the container's cgroup.
  virtual absl::Status Update(const std::string& container_id,
                              const oci::LinuxResources& resources) = 0;

  // ---- processes (exec_id "" = init) ----

  // Starts an extra process in a running container. `process.terminal` is replaced by
  // `terminal`.
  virtual absl::Status Exec(const std::string& container_id, const std::string& exec_id,
                            const oci::Process& process, bool terminal) = 0;

  // Sends `signal` to the process; with `all`, to every process of the container. A SIGKILL
  // the guest does not take in time stops the VM (see the contracts above) and succeeds.
  virtual absl::Status Signal(const std::string& container_id, const std::string& exec_id,
                              int signal, bool all) = 0;

  // Blocks until the process has exited; any number of callers, any number of times.
  // The init's exit moves the container to kStopped.
  virtual absl::StatusOr<ExitStatus> Wait(const std::string& container_id,
                                          const std::string& exec_id) = 0;

  // The processes of a container (init first, then execs in start order).
  virtual absl::StatusOr<std::vector<ProcessInfo>> Processes(
      const std::string& container_id) const = 0;
  virtual absl::StatusOr<ProcessInfo> GetProcess(const std::string& container_id,
                                                 const std::string& exec_id) const = 0;

  // Forgets an exited exec process (Task.Delete with an exec id). FAILED_PRECONDITION while
  // it runs. For init use DeleteContainer.
  virtual absl::Status DeleteProcess(const std::string& container_id,
                                     const std::string& exec_id) = 0;

  // ---- stdio of a process ----

  // Writes to the process's stdin; returns how many bytes were taken.
  virtual absl::StatusOr<size_t> WriteStdin(const std::string& container_id,
                                            const std::string& exec_id, absl::string_view data) = 0;
  // Closes the process's stdin (the process reads EOF).
  virtual absl::Status CloseStdin(const std::string& container_id, const std::string& exec_id) = 0;
  // Blocks until output is available and returns up to `max_bytes` of it; "" at EOF (the
  // process has exited and everything was read, or the VM died; an exec the agent freed after
  // its exit and its last output reads as EOF too). With a terminal, stdout
  // carries the terminal's output and stderr is at EOF at once.
  virtual absl::StatusOr<std::string> ReadStdout(const std::string& container_id,
                                                 const std::string& exec_id,
                                                 size_t max_bytes = 64 * 1024) = 0;
  virtual absl::StatusOr<std::string> ReadStderr(const std::string& container_id,
                                                 const std::string& exec_id,
                                                 size_t max_bytes = 64 * 1024) = 0;
  // The asynchronous faces of ReadStdout/ReadStderr (`stderr_stream`) and WriteStdin: they
  // return at once and `done` runs exactly once with what the blocking call would return. It
  // runs on a thread of the sandbox (or on the calling thread, before the call returns, when
  // the answer is known at once), so it must not block nor call back into the sandbox.
  using ReadDone = absl::AnyInvocable<void(absl::StatusOr<std::string>)>;
  using WriteDone = absl::AnyInvocable<void(absl::StatusOr<size_t>)>;
  virtual void ReadOutputAsync(const std::string& container_id, const std::string& exec_id,
                               bool stderr_stream, size_t max_bytes, ReadDone done) = 0;
  virtual void WriteStdinAsync(const std::string& container_id, const std::string& exec_id,
                               std::string data, WriteDone done) = 0;
  // Resizes the process's terminal (FAILED_PRECONDITION without one).
  virtual absl::Status ResizePty(const std::string& container_id, const std::string& exec_id,
                                 uint32_t width, uint32_t height) = 0;
};

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_SANDBOX_H_
