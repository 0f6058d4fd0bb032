// The lifecycles of a sandbox, its containers and their processes, as explicit state machines.
//
// Every Sandbox method (sandbox.h) first checks its operation against the current state with
// the Check* functions below; an operation not legal in the current state fails with
// FAILED_PRECONDITION naming the object, the operation and the state, and changes nothing.
//
// Sandbox (one VM per pod):
//
//   kInitial --Start--> kRunning --Shutdown--> kStopped (terminal)
//                           |
//                           +--(the VM dies by itself)--> kVmDied --Shutdown--> kStopped
//
//   A failed Start rolls everything back and ends kStopped. Shutdown is legal in every state
//   (idempotent). Container operations need kRunning; in kVmDied only queries, Wait (which
//   returns the VM's death as every unfinished process's end) and DeleteContainer (which
//   cleans up the host side) are legal.
//
// Container (the init process's lifecycle as containerd sees it):
//
//   CreateContainer --> kCreated --StartContainer--> kRunning <--Pause/Resume--> kPaused
//   kCreated/kRunning/kPaused --(init exits, or the VM dies)--> kStopped
//   kCreated/kStopped --DeleteContainer--> (gone)
//
// Process (init or exec), per container:
//
//   kCreated (init only, before StartContainer) --start--> kRunning --exit--> kExited
#ifndef KATA_SRC_RUNTIME_SANDBOX_STATE_H_
#define KATA_SRC_RUNTIME_SANDBOX_STATE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kata::runtime {

enum class SandboxState { kInitial, kRunning, kVmDied, kStopped };
enum class ContainerState { kCreated, kRunning, kPaused, kStopped };
enum class ProcessState { kCreated, kRunning, kExited };

enum class SandboxOp {
  kStart,
  kShutdown,
  kCreateContainer,
  kContainerOp,  // any operation that reaches the guest (start, exec, signal, stats, ...)
  kHostCleanup,  // DeleteContainer: host side always, guest side when running
  kQuery,        // state, pids, wait
};

enum class ContainerOp {
  kStart,
  kExec,
  kSignal,
  kPause,
  kResume,
  kStats,
  kUpdate,
  kResizePty,
  kStdio,
  kDelete,
  kQuery,
};

const char* SandboxStateName(SandboxState s);
const char* ContainerStateName(ContainerState s);
const char* ProcessStateName(ProcessState s);
const char* ContainerOpName(ContainerOp op);
const char* SandboxOpName(SandboxOp op);

// OK if `op` is legal for a sandbox in state `s`, else FAILED_PRECONDITION
// "sandbox <id>: <op> is not allowed in state <state>".
absl::Status CheckSandboxOp(absl::string_view sandbox_id, SandboxState s, SandboxOp op);

// OK if `op` is legal for a container in state `s`, else FAILED_PRECONDITION
// "container <id>: <op> is not allowed in state <state>".
//   kStart: kCreated          kExec: kRunning            kSignal: kCreated/kRunning/kPaused
//   kPause: kRunning          kResume: kPaused           kStats/kUpdate: not kStopped
//   kResizePty/kStdio: any (the process decides)         kDelete: kCreated/kStopped
//   kQuery: any
absl::Status CheckContainerOp(absl::string_view container_id, ContainerState s, ContainerOp op);

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_STATE_H_
