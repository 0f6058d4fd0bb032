#include "src/runtime/shim/task_state.h"

#include "absl/strings/str_cat.h"

namespace kata {
namespace shim {

const char* TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kCreated:
      return "created";
    case TaskState::kRunning:
      return "running";
    case TaskState::kPaused:
      return "paused";
    case TaskState::kStopped:
      return "stopped";
  }
  return "?";
}

const char* TaskOpName(TaskOp op) {
  switch (op) {
    case TaskOp::kStart:
      return "start";
    case TaskOp::kKill:
      return "kill";
    case TaskOp::kPause:
      return "pause";
    case TaskOp::kResume:
      return "resume";
    case TaskOp::kDelete:
      return "delete";
    case TaskOp::kExec:
      return "exec";
    case TaskOp::kResizePty:
      return "resize pty";
    case TaskOp::kUpdate:
      return "update";
    case TaskOp::kStats:
      return "stats";
  }
  return "?";
}

::containerd::v1::types::Status ToProtoStatus(TaskState s) {
  switch (s) {
    case TaskState::kCreated:
      return ::containerd::v1::types::CREATED;
    case TaskState::kRunning:
      return ::containerd::v1::types::RUNNING;
    case TaskState::kPaused:
      return ::containerd::v1::types::PAUSED;
    case TaskState::kStopped:
      return ::containerd::v1::types::STOPPED;
  }
  return ::containerd::v1::types::UNKNOWN;
}

absl::Status CheckTaskOp(absl::string_view who, TaskState s, TaskOp op) {
  bool ok = false;
  switch (op) {
    case TaskOp::kStart:
      ok = s == TaskState::kCreated;
      break;
    case TaskOp::kKill:
      if (s == TaskState::kStopped) {
        return absl::NotFoundError(absl::StrCat("process ", who, ": process already finished"));
      }
      ok = true;
      break;
    case TaskOp::kPause:
      ok = s == TaskState::kRunning;
      break;
    case TaskOp::kResume:
      ok = s == TaskState::kPaused;
      break;
    case TaskOp::kDelete:
      ok = s == TaskState::kCreated || s == TaskState::kStopped;
      break;
    case TaskOp::kExec:
      ok = s == TaskState::kRunning;
      break;
    case TaskOp::kResizePty:
    case TaskOp::kUpdate:
    case TaskOp::kStats:
      ok = s != TaskState::kStopped;
      break;
  }
  if (ok) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("process ", who, ": cannot ", TaskOpName(op), " in state ", TaskStateName(s)));
}

}  // namespace shim
}  // namespace kata
