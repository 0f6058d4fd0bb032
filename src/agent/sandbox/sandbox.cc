#include "src/agent/sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "src/agent/container/container.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/trace/scoped_span.h"

namespace kata {
namespace agent {
namespace {

// `lines` (one per line, as given) in <dir>/resolv.conf, `dir` created as needed (mkdir -p);
// the file's path.
absl::StatusOr<std::string> WriteResolvConf(
    const std::string& dir, const google::protobuf::RepeatedPtrField<std::string>& lines) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      const std::string cur = dir.substr(0, i);
      if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoStatus(errno, absl::StrCat("mkdir ", cur));
      }
    }
  }
  const std::string path = absl::StrCat(dir, "/resolv.conf");
  std::string text;
  for (const std::string& line : lines) absl::StrAppend(&text, line, "\n");
  KATA_RETURN_IF_ERROR(WriteStringToFile(path, text));
  return path;
}

// The holder of the sandbox's shared namespaces, parked at the exec gate `gate_read`.
absl::StatusOr<std::unique_ptr<Process>> StartHolder(const std::string& hostname, bool pidns,
                                                     int gate_read) {
  ProcessOptions po;
  po.argv = {"kata-sandbox-namespaces"};  // never exec'd: the holder waits at the gate
  po.clone_flags = CLONE_NEWUTS | CLONE_NEWIPC | (pidns ? CLONE_NEWPID : 0);
  po.exec_gate_fd = gate_read;
  po.reap_at_gate = true;  // pid 1 of the shared pid namespace reaps its orphans
  po.output_buffer_bytes = 4096;
  po.child_hook = [hostname]() -> absl::Status {
    if (!hostname.empty() && sethostname(hostname.data(), hostname.size()) != 0) {
      return ErrnoStatus(errno, "sethostname");
    }
    return absl::OkStatus();
  };
  return Process::Start(std::move(po));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Create(const grpc::CreateSandboxRequest& request,
                                                         StorageManager* storages,
                                                         const SandboxOptions& options) {
  if (!request.sandbox_id().empty()) {
    KATA_RETURN_IF_ERROR(ValidateId(request.sandbox_id(), "sandbox id"));
  }
  if (!request.guest_hook_path().empty()) {
    return absl::UnimplementedError(
        "CreateSandbox: guest hooks (guest_hook_path) are not supported");
  }
  if (request.kernel_modules_size() > 0) {
    return absl::UnimplementedError(
        "CreateSandbox: loading kernel_modules per sandbox is not supported");
  }
  const std::string& hostname = request.hostname();
  if (hostname.size() > 64) {
    return absl::InvalidArgumentError("CreateSandbox: hostname longer than 64 bytes");
  }
  std::unique_ptr<Sandbox> sb(new Sandbox());
  sb->id_ = request.sandbox_id();
  sb->pidns_ = request.sandbox_pidns();
  sb->storages_ = storages;
  absl::Cleanup undo = [&sb] { sb->Destroy().IgnoreError(); };

  if (options.set_agent_hostname && !hostname.empty() &&
      sethostname(hostname.data(), hostname.size()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("sandbox ", sb->id_, ": sethostname ", hostname));
  }
  if (request.dns_size() > 0) {
    absl::StatusOr<std::string> resolv_conf = WriteResolvConf(options.sandbox_dir, request.dns());
    if (!resolv_conf.ok()) {
      return AnnotateStatus(resolv_conf.status(), absl::StrCat("sandbox ", sb->id_));
    }
    sb->resolv_conf_ = *std::move(resolv_conf);
  }

  // Spans of the steps (children of the rpc's span when the agent traces; else no-ops).
  std::optional<trace::ScopedSpan> step(std::in_place, "sandbox.namespaces");
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  const UniqueFd gate_read(gate[0]);
  sb->gate_write_.reset(gate[1]);
  absl::StatusOr<std::unique_ptr<Process>> holder =
      StartHolder(hostname, sb->pidns_, gate_read.get());
  if (!holder.ok()) {
    return AnnotateStatus(holder.status(), absl::StrCat("sandbox ", sb->id_, ": namespaces"));
  }
  sb->holder_ = std::move(*holder);
  step.reset();

  step.emplace("sandbox.storages");
  absl::StatusOr<std::vector<std::string>> held = storages->Add(request.storages());
  if (!held.ok()) return AnnotateStatus(held.status(), absl::StrCat("sandbox ", sb->id_));
  sb->held_ = std::move(*held);
  std::move(undo).Cancel();
  return sb;
}

Sandbox::~Sandbox() { Destroy().IgnoreError(); }

absl::Status Sandbox::AdjustSpec(oci::Spec& spec, bool sandbox_pidns) const {
  if (sandbox_pidns && !pidns_ && !adopted_pidns_) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox ", id_,
                     " has no shared pid namespace (sandbox_pidns): none at CreateSandbox and no "
                     "container created yet"));
  }
  if (holder_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox ", id_, " is destroyed"));
  }
  if (!spec.linux) spec.linux.emplace();
  if (!spec.linux->namespaces) spec.linux->namespaces.emplace();
  std::vector<oci::LinuxNamespace> out;
  const std::string proc = absl::StrCat("/proc/", holder_->pid(), "/ns/");
  for (oci::LinuxNamespace ns : *spec.linux->namespaces) {
    if (ns.type == "pid") continue;
    if (ns.type == "ipc" || ns.type == "uts") ns.path = proc + ns.type;
    out.push_back(std::move(ns));
  }
  oci::LinuxNamespace pid;
  pid.type = "pid";
  if (sandbox_pidns) {
    pid.path =
        pidns_ ? proc + "pid" : absl::StrCat("/proc/", getpid(), "/fd/", adopted_pidns_.get());
  }
  out.push_back(std::move(pid));
  *spec.linux->namespaces = std::move(out);
  return absl::OkStatus();
}

absl::Status Sandbox::AdoptPidNamespace(pid_t init_pid) {
  if (pidns_ || adopted_pidns_) return absl::OkStatus();
  const std::string path = absl::StrCat("/proc/", init_pid, "/ns/pid");
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return ErrnoStatus(errno, absl::StrCat("sandbox ", id_,
                                           ": pid namespace of the first "
                                           "container: open ",
                                           path));
  }
  adopted_pidns_ = std::move(fd);
  return absl::OkStatus();
}

absl::Status Sandbox::Destroy() {
  absl::Status first;
  if (holder_ != nullptr) {
    holder_->Signal(SIGKILL).IgnoreError();
    holder_->Wait();
    holder_.reset();
  }
  gate_write_.reset();
  adopted_pidns_.reset();
  if (!held_.empty()) {
    first = storages_->Release(held_);
    held_.clear();
  }
  if (!resolv_conf_.empty()) {
    unlink(resolv_conf_.c_str());
    resolv_conf_.clear();
  }
  return first;
}

}  // namespace agent
}  // namespace kata
