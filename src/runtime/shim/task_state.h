// The state machine of a task process (a container's init or an exec) as containerd sees it
// through the Task service:
//
//   (Create / Exec) --> kCreated --Start--> kRunning <--Pause/Resume--> kPaused (init only)
//   kCreated/kRunning/kPaused --(exit, or the VM died)--> kStopped --Delete--> (gone)
//
// CheckTaskOp says whether an rpc is legal in a state, with the errors containerd expects:
// FAILED_PRECONDITION for an illegal transition (start twice, delete a running process,
// pause a stopped task), NOT_FOUND ("process already finished") for a signal to a stopped
// process, as the runc shim answers.
#ifndef KATA_SRC_RUNTIME_SHIM_TASK_STATE_H_
#define KATA_SRC_RUNTIME_SHIM_TASK_STATE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "src/libs/protocols/containerd/types/task.pb.h"

namespace kata {
namespace shim {

enum class TaskState { kCreated, kRunning, kPaused, kStopped };

enum class TaskOp { kStart, kKill, kPause, kResume, kDelete, kExec, kResizePty, kUpdate, kStats };

const char* TaskStateName(TaskState s);
const char* TaskOpName(TaskOp op);

// containerd's Status for a state.
::containerd::v1::types::Status ToProtoStatus(TaskState s);

// OK when `op` is legal for process `who` ("c1" or "c1/exec1") in state `s`.
//   kStart: kCreated                     kKill: kCreated/kRunning/kPaused (kStopped: NOT_FOUND)
//   kPause: kRunning   kResume: kPaused  kDelete: kCreated/kStopped
//   kExec: kRunning (of the init)        kResizePty/kUpdate/kStats: not kStopped
absl::Status CheckTaskOp(absl::string_view who, TaskState s, TaskOp op);

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_TASK_STATE_H_
