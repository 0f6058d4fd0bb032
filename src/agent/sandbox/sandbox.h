// The pod of Kata's agent API (CreateSandbox ... DestroySandbox): the namespaces its
// containers share, its hostname, DNS and storages.
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> sb, Sandbox::Create(request, &storages, {}));
//   KATA_RETURN_IF_ERROR(sb->AdjustSpec(spec, create_container.sandbox_pidns()));
//   ...
//   sb->Destroy();
//
// Create promises (Kata's CreateSandbox):
// - A holder process keeps the sandbox's shared namespaces alive: new UTS and IPC namespaces
//   (and a new PID namespace, the holder being its pid 1, when sandbox_pidns), with the
//   hostname set in that UTS namespace. The holder never runs a program: it is a child of
//   the agent parked before exec (process library exec gate) until Destroy; parked, it
//   reaps its children, so orphans of the shared pid namespace (re-parented to it, its
//   pid 1) never stay zombies. When
//   options.set_agent_hostname (the agent is the guest's PID 1) the agent's own hostname is
//   set too, as Kata sets the guest's.
// - `dns` lines, when any, are written (one per line, as given) to
//   <options.sandbox_dir>/resolv.conf.
// - The storages are mounted through the StorageManager (see storage.h) and held until
//   Destroy.
// - sandbox_id must be "" or a valid id; a non-empty guest_hook_path or kernel_modules
//   list is UNIMPLEMENTED (this agent runs no guest hooks and loads no modules per
//   sandbox). Any failure undoes what was done.
// AdjustSpec (Kata's update_container_namespaces): the spec's ipc and uts entries get the
//   holder's namespaces as `path` (/proc/<holder>/ns/ipc, .../uts); the pid entries are
//   replaced by one pid entry: the pod's pid namespace when `sandbox_pidns` (the holder's,
//   or the adopted one below; FAILED_PRECONDITION while there is none), else a new one.
// AdoptPidNamespace (Kata's update_shared_pidns, for a sandbox created without
//   sandbox_pidns, as Kata's runtime creates it): the pid namespace of the first container's
//   init (the pod's infra container: the CRI's pause) becomes the pod's, so containers
//   created with sandbox_pidns see the pause process as their PID 1, as with runc. The agent
//   calls it for every container it creates; only the first call of a sandbox without a pid
//   namespace takes effect. The namespace is held open (a reused pid never redirects it);
//   once its init is gone, joining it fails.
// Destroy: kills the holder, releases the storages; idempotent; best effort (first error).
#ifndef KATA_SRC_AGENT_SANDBOX_SANDBOX_H_
#define KATA_SRC_AGENT_SANDBOX_SANDBOX_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/agent/process/process.h"
#include "src/agent/storage/storage.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/oci/spec.h"
#include "src/libs/protocols/agent.pb.h"

namespace kata {
namespace agent {

struct SandboxOptions {
  std::string sandbox_dir = "/run/kata-containers/sandbox";
  bool set_agent_hostname = false;
};

class Sandbox {
 public:
  static absl::StatusOr<std::unique_ptr<Sandbox>> Create(const grpc::CreateSandboxRequest& request,
                                                         StorageManager* storages,
                                                         const SandboxOptions& options);
  ~Sandbox();  // Destroy(), errors ignored
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const std::string& id() const { return id_; }
  // The holder's pid (its namespaces are /proc/<pid>/ns/*).
  pid_t holder_pid() const { return holder_ != nullptr ? holder_->pid() : -1; }
  bool has_pidns() const { return pidns_; }

  absl::Status AdjustSpec(oci::Spec& spec, bool sandbox_pidns) const;
  absl::Status AdoptPidNamespace(pid_t init_pid);
  absl::Status Destroy();

 private:
  Sandbox() = default;

  std::string id_;
  bool pidns_ = false;
  StorageManager* storages_ = nullptr;
  std::vector<std::string> held_;
  std::unique_ptr<Process> holder_;
  UniqueFd gate_write_;      // closing it ends the holder (exit 127 without exec)
  UniqueFd adopted_pidns_;   // AdoptPidNamespace's namespace (-1: none)
  std::string resolv_conf_;  // written by Create, removed by Destroy ("" = none)
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_SANDBOX_SANDBOX_H_
