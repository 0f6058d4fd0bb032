// One container of the guest agent (Kata's rustjail LinuxContainer, runc's libcontainer): its
// init process in new namespaces on a prepared rootfs, its cgroup, and the processes exec'd
// into it, each with the stdio of src/agent/process.
//
//   ContainerOptions opts;  // the real /sys/fs/cgroup
//   KATA_ASSIGN_OR_RETURN(auto c, Container::Create("c1", "c1", spec, opts));
//   KATA_RETURN_IF_ERROR(c->Start());  // the init execs spec.process
//   KATA_ASSIGN_OR_RETURN(std::shared_ptr<Process> init, c->GetProcess("c1"));
//   ... init->ReadStdout(4096) ...
//   KATA_ASSIGN_OR_RETURN(int code, c->Wait("c1"));  // 3, or 128 + signal
//   KATA_RETURN_IF_ERROR(c->Remove(absl::ZeroDuration()));
//
// Lifecycle (explicit, gVisor style): kCreated (init set up and waiting before exec) ->
// kRunning (Start released it) -> kStopped (init exited) -> removed (Remove succeeded; every
// call then answers FAILED_PRECONDITION). kRunning <-> kPaused by Pause/Resume (cgroup
// freezer). A call not legal in the current state answers FAILED_PRECONDITION naming the
// state: Start only in kCreated, Exec and Pause only in kRunning, Resume only in kPaused.
//
// Create promises:
// - `root.path` is the rootfs on the guest, taken as is when absolute, else relative to
//   `<options.bundle_root>/<id>`; it must be an existing directory.
// - Namespaces: pid, mount, uts, ipc, network, cgroup of `linux.namespaces` are new namespaces
//   of the init process; a mount namespace is required (the rootfs is set up in it: "/" made
//   rprivate, then rootfs::SetupRootfs); a hostname needs a uts namespace (new or joined). An
//   entry with a `path` joins that namespace (setns on the opened path, e.g. /proc/<pid>/ns/ipc
//   of a sandbox's holder; pid: the init is created in it), except mount (UNIMPLEMENTED); a
//   path that cannot be opened fails Create naming it. Time namespaces are UNIMPLEMENTED.
// - User namespace (runc's semantics): `linux.uidMappings`/`gidMappings` are required with a
//   new user namespace and refused without one (also when it is joined by path: it keeps its
//   own mappings); each range has size > 0, no overflow of the 32-bit ids, no overlap, and
//   container root 0 must be mapped: INVALID_ARGUMENT "container c1: linux.uidMappings[0]
//   (0 100000 0): size is 0" before anything is created. The init is cloned with
//   CLONE_NEWUSER together with its other new namespaces (process.h "two-step" start:
//   namespaces joined by path are entered first, a joined user namespace last), so they are
//   owned by the container's user namespace and proc, sysfs (with a new network namespace),
//   mqueue and tmpfs mounts work; the agent writes the maps before releasing it, it becomes
//   root inside (host id of the mapping) and sets up the rootfs as that user: the rootfs,
//   and the path to it, must be searchable by it (the mapped root is "other" to root-owned
//   files) and mount points it cannot create must exist. Devices (runc's defaults and
//   `linux.devices`) are bind mounts of the agent's /dev nodes instead of mknod. A uts or
//   ipc namespace joined by path (owned by the agent's user namespace) cannot be changed
//   from inside (sysctls: EPERM; the hostname is only set when it differs), and a pid
//   namespace joined by path (sandbox_pidns) is not owned by the container's user
//   namespace, so mounting /proc there fails (EPERM), as with runc. The cgroup is the
//   agent's (not delegated to the container's root). Exec joins, in order: namespaces the
//   init joined by path, the user namespace, the namespaces the init created, mount last
//   (runc joins the user namespace first; here the agent is privileged over every
//   namespace, and joined ones may belong to the agent's user namespace).
// - `linux.sysctl` is written under /proc/sys in the child once its namespaces are set;
//   only sysctls of a namespace the container has (new or joined) are allowed, as runc
//   checks (ipc: kernel.msg*/sem/shm*, fs.mqueue.*; net: net.*; uts: kernel.hostname,
//   kernel.domainname); any other is INVALID_ARGUMENT. `domainname` is set like the
//   hostname (it needs a uts namespace; Kata's grpc.Spec has no such field, so only a spec
//   from JSON carries it).
// - The cgroup `linux.cgroupsPath` (leading "/" dropped; default "<cgroup_parent>/<id>";
//   systemd "slice:prefix:name" paths are INVALID_ARGUMENT) is created with
//   `linux.resources`, and the init process is put into it before it runs anything.
// - Spec errors (all of the above, and those of src/agent/security: unknown capability,
//   rlimit, seccomp action...) are INVALID_ARGUMENT/UNIMPLEMENTED before anything is opened
//   or created.
// - Create returns once the init process has set up its rootfs and waits for Start: any
//   failure up to there (a mount, the hostname, the user switch, chdir) is Create's status,
//   and nothing is left behind (process reaped, cgroup removed; the mounts lived in the dead
//   mount namespace). A missing program shows only at Start: the init exits 127.
// - Process privileges (src/agent/security): process.rlimits and oomScoreAdj are applied
//   first in the child, then namespaces/rootfs, then the capability bounding set; after the
//   user switch the capability sets and ambient caps (see capabilities.h), noNewPrivileges
//   and, last before the exec gate and exec, linux.seccomp.
// Exec: the same for the exec'd process's own `process` fields, with the container's seccomp
//   profile. A new process joins every namespace of the init process (pid via the process
//   library's join_pid_ns_fd, the others by setns in the child, in the order above) and the
//   cgroup.
// Remove: SIGKILLs what still runs (the init of a pid namespace takes everything in it
//   along), waits up to `timeout` (zero = forever; DEADLINE_EXCEEDED and the container stays
//   otherwise), then removes the cgroup. The host's mounts are never touched.
// Thread-safe. Blocking calls (Wait, and reads/writes on the processes returned by
// GetProcess) do not hold the container's lock; Create, Exec and Remove hold it while they
// start or stop processes.
//
// Files: container.cc (lifecycle), launch.cc (Create and Exec: starting processes),
// init_plan.h (the spec checks of Create), namespaces.h (namespace descriptors).
#ifndef KATA_SRC_AGENT_CONTAINER_CONTAINER_H_
#define KATA_SRC_AGENT_CONTAINER_CONTAINER_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/agent/cgroups/cgroups.h"
#include "src/agent/cgroups/detect.h"
#include "src/agent/process/process.h"
#include "src/agent/security/seccomp.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {

// OK when `id` is a valid container or exec id: [A-Za-z0-9][A-Za-z0-9_.-]{0,63} (so never
// "", "/", "." or ".."); INVALID_ARGUMENT naming `what` ("container id") otherwise.
absl::Status ValidateId(absl::string_view id, absl::string_view what);

struct ContainerOptions {
  // Base of relative root paths: <bundle_root>/<container id>/<root.path>.
  std::string bundle_root = "/run/kata-containers";
  cgroups::CgroupOptions cgroups;
  // The container's cgroup when the spec names none: <cgroup_parent>/<container id>.
  std::string cgroup_parent = "kata";
  // Makes the container's cgroup manager from `cgroups`; unset: cgroups::NewCgroupManager
  // (tests substitute cgroups::MockCgroupManager).
  std::function<absl::StatusOr<std::unique_ptr<cgroups::CgroupManager>>(
      const cgroups::CgroupOptions&)>
      new_cgroup_manager;
};

class Container {
 public:
  enum class State { kCreated, kRunning, kPaused, kStopped, kRemoved };

  // See the header comment. `exec_id` names the init process for the process calls (Kata's
  // runtime uses the container id). Errors: INVALID_ARGUMENT (ids, spec), UNIMPLEMENTED
  // (namespaces above), and those of the cgroup, rootfs and process layers.
  static absl::StatusOr<std::unique_ptr<Container>> Create(const std::string& id,
                                                           const std::string& exec_id,
                                                           const oci::Spec& spec,
                                                           const ContainerOptions& options);

  // Remove(zero) when not removed yet (best effort).
  ~Container();
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  const std::string& id() const { return id_; }
  State state();

  // kCreated -> kRunning: lets the init process exec spec.process.
  absl::Status Start();

  // A new process (the spec's Process of the exec) in the running container. Errors:
  // INVALID_ARGUMENT (exec id, empty args, security fields), ALREADY_EXISTS for a used exec
  // id, FAILED_PRECONDITION unless kRunning.
  absl::Status Exec(const std::string& exec_id, const oci::Process& process);

  // The process `exec_id` (init or exec); NOT_FOUND for an unknown one.
  absl::StatusOr<std::shared_ptr<Process>> GetProcess(const std::string& exec_id);

  // Frees exec process `exec_id` once it is finished for the host (Kata's agent frees it in
  // WaitProcess): called with `exit_collected` when a WaitProcess returned `p`'s exit code,
  // and without it when a read of `p` returned EOF. `p` is forgotten (GetProcess answers
  // NOT_FOUND, Exec may reuse the id) once its exit was collected AND Process::OutputDone()
  // (nothing is left to read), so no output is ever lost; `p` itself lives on while callers
  // hold it. The init process is never freed (the container's state is its); a `p` that is
  // no longer the process `exec_id` changes nothing. True when `p` was freed.
  bool FreeIfDone(const std::string& exec_id, const std::shared_ptr<Process>& p,
                  bool exit_collected);

  // Sends `sig` to process `exec_id`; "" = to every process in the container's cgroup.
  absl::Status Signal(const std::string& exec_id, int sig);

  // Blocks until the process exits; its code (128 + n when killed by signal n).
  absl::StatusOr<int> Wait(const std::string& exec_id);

  // See the header comment. A paused container is thawed first (frozen processes do not
  // die).
  absl::Status Remove(absl::Duration timeout);

  // kRunning -> kPaused: freezes every process of the cgroup, waiting at most
  // `timeout` (DEADLINE_EXCEEDED, and the cgroup is thawed again and stays running).
  absl::Status Pause(absl::Duration timeout);
  // kPaused -> kRunning: thaws the cgroup (same timeout rule; stays paused on error).
  absl::Status Resume(absl::Duration timeout);

  // The cgroup's counters (CgroupManager::Stats); FAILED_PRECONDITION once removed.
  absl::StatusOr<cgroups::CgroupStats> Stats();
  // Applies new limits to the cgroup (CgroupManager::Apply: all or nothing), in any
  // state but removed.
  absl::Status Update(const oci::LinuxResources& resources);
  // The cgroup's OOM-kill counter; FAILED_PRECONDITION once removed.
  absl::StatusOr<uint64_t> OomKillCount();

 private:
  Container(std::string id, std::string init_exec_id, int clone_flags, int new_ns_flags,
            std::shared_ptr<const security::SeccompFilter> seccomp,
            std::unique_ptr<cgroups::CgroupManager> cgroup, UniqueFd gate,
            std::shared_ptr<Process> init);
  State StateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // state() with mu_ held
  // FAILED_PRECONDITION "container <id> is removed" once removed.
  absl::Status CheckNotRemovedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kills every process and waits for them until `deadline`, then removes the cgroup.
  absl::Status KillAndDestroyLocked(absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string id_;
  const std::string init_exec_id_;
  const int clone_flags_;   // every namespace the init has of its own (new or joined)
  const int new_ns_flags_;  // the namespaces the init created (owned by its user namespace)
  // linux.seccomp compiled at Create (null: none); loaded by the init and every exec.
  const std::shared_ptr<const security::SeccompFilter> seccomp_;

  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kCreated;
  const std::unique_ptr<cgroups::CgroupManager> cgroup_ ABSL_PT_GUARDED_BY(mu_);
  UniqueFd gate_ ABSL_GUARDED_BY(mu_);  // write end of the init's exec gate until Start
  std::map<std::string, std::shared_ptr<Process>> processes_ ABSL_GUARDED_BY(mu_);
  // Exec ids of processes_ whose exit a WaitProcess collected (see FreeIfDone).
  std::set<std::string> exits_collected_ ABSL_GUARDED_BY(mu_);
};

absl::string_view StateName(Container::State state);

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CONTAINER_CONTAINER_H_
