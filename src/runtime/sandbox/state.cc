#include "src/runtime/sandbox/state.h"

#include "absl/strings/str_cat.h"

namespace kata::runtime {

const char* SandboxStateName(SandboxState s) {
  switch (s) {
    case SandboxState::kInitial:
      return "initial";
    case SandboxState::kRunning:
      return "running";
    case SandboxState::kVmDied:
      return "vm-died";
    case SandboxState::kStopped:
      return "stopped";
  }
  return "unknown";
}

const char* ContainerStateName(ContainerState s) {
  switch (s) {
    case ContainerState::kCreated:
      return "created";
    case ContainerState::kRunning:
      return "running";
    case ContainerState::kPaused:
      return "paused";
    case ContainerState::kStopped:
      return "stopped";
  }
  return "unknown";
}

const char* ProcessStateName(ProcessState s) {
  switch (s) {
    case ProcessState::kCreated:
      return "created";
    case ProcessState::kRunning:
      return "running";
    case ProcessState::kExited:
      return "exited";
  }
  return "unknown";
}

const char* SandboxOpName(SandboxOp op) {
  switch (op) {
    case SandboxOp::kStart:
      return "Start";
    case SandboxOp::kShutdown:
      return "Shutdown";
    case SandboxOp::kCreateContainer:
      return "CreateContainer";
    case SandboxOp::kContainerOp:
      return "a container operation";
    case SandboxOp::kHostCleanup:
      return "DeleteContainer";
    case SandboxOp::kQuery:
      return "a query";
  }
  return "unknown";
}

const char* ContainerOpName(ContainerOp op) {
  switch (op) {
    case ContainerOp::kStart:
      return "Start";
    case ContainerOp::kExec:
      return "Exec";
    case ContainerOp::kSignal:
      return "Signal";
    case ContainerOp::kPause:
      return "Pause";
    case ContainerOp::kResume:
      return "Resume";
    case ContainerOp::kStats:
      return "Stats";
    case ContainerOp::kUpdate:
      return "Update";
    case ContainerOp::kResizePty:
      return "ResizePty";
    case ContainerOp::kStdio:
      return "stdio";
    case ContainerOp::kDelete:
      return "Delete";
    case ContainerOp::kQuery:
      return "a query";
  }
  return "unknown";
}

absl::Status CheckSandboxOp(absl::string_view sandbox_id, SandboxState s, SandboxOp op) {
  bool ok = false;
  switch (op) {
    case SandboxOp::kStart:
      ok = s == SandboxState::kInitial;
      break;
    case SandboxOp::kShutdown:
    case SandboxOp::kQuery:
      ok = true;
      break;
    case SandboxOp::kCreateContainer:
    case SandboxOp::kContainerOp:
      ok = s == SandboxState::kRunning;
      break;
    case SandboxOp::kHostCleanup:
      ok = s == SandboxState::kRunning || s == SandboxState::kVmDied;
      break;
  }
  if (ok) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("sandbox ", sandbox_id, ": ", SandboxOpName(op),
                                                    " is not allowed in state ",
                                                    SandboxStateName(s)));
}

absl::Status CheckContainerOp(absl::string_view container_id, ContainerState s, ContainerOp op) {
  bool ok = false;
  switch (op) {
    case ContainerOp::kStart:
      ok = s == ContainerState::kCreated;
      break;
    case ContainerOp::kExec:
    case ContainerOp::kPause:
      ok = s == ContainerState::kRunning;
      break;
    case ContainerOp::kResume:
      ok = s == ContainerState::kPaused;
      break;
    case ContainerOp::kSignal:
    case ContainerOp::kStats:
    case ContainerOp::kUpdate:
      ok = s != ContainerState::kStopped;
      break;
    case ContainerOp::kResizePty:
    case ContainerOp::kStdio:
    case ContainerOp::kQuery:
      ok = true;
      break;
    case ContainerOp::kDelete:
      ok = s == ContainerState::kCreated || s == ContainerState::kStopped;
      break;
  }
  if (ok) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("container ", container_id, ": ", ContainerOpName(op),
                   " is not allowed in state ", ContainerStateName(s)));
}

}  // namespace kata::runtime
