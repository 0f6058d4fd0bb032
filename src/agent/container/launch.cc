// Starting a container's processes: Container::Create (its init, in new or joined namespaces
// on the prepared rootfs, in the new cgroup, parked at the exec gate) and Container::Exec.
// The spec checks are init_plan.h's, the namespace descriptors namespaces.h's.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/agent/container/container.h"
#include "src/agent/container/init_plan.h"
#include "src/agent/container/namespaces.h"
#include "src/agent/rootfs/rootfs.h"
#include "src/agent/security/process_security.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/trace/scoped_span.h"

namespace kata {
namespace agent {
namespace {

// What the init's child hook does, captured by value (the child has its own copy of the
// agent's memory; `spec` outlives Process::Start, which blocks while the hook runs).
struct InitChildSetup {
  const oci::Spec* spec = nullptr;
  std::string rootfs;
  rootfs::Options rootfs_options;
  std::string hostname;
  std::string domainname;
  std::vector<int> join_in_child;
  std::vector<std::pair<std::string, std::string>> sysctls;
};

// Child: one sysctl write (the value in a single write, as the kernel expects).
absl::Status WriteSysctl(const std::string& path, const std::string& value) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("sysctl ", path));
  const ssize_t n = RetryEintr([&] { return write(fd.get(), value.data(), value.size()); });
  if (n != static_cast<ssize_t>(value.size())) {
    return ErrnoStatus(n < 0 ? errno : EIO, absl::StrCat("sysctl ", path));
  }
  return absl::OkStatus();
}

// Child: the hostname, unless it is already set. A uts namespace joined from the sandbox
// already has it, and from inside a user namespace it cannot be changed (EPERM).
absl::Status SetHostname(const std::string& hostname) {
  char current[256] = {};
  if ((gethostname(current, sizeof(current) - 1) != 0 || hostname != current) &&
      sethostname(hostname.data(), hostname.size()) != 0) {
    return ErrnoStatus(errno, "sethostname");
  }
  return absl::OkStatus();
}

// Child, the init's hook: joins the namespaces left to it, writes the sysctls (they apply to
// the namespaces of the writer), sets the domainname, sets up the rootfs, sets the hostname.
absl::Status SetUpInit(const InitChildSetup& s) {
  for (int fd : s.join_in_child) {
    if (setns(fd, 0) != 0) return ErrnoStatus(errno, "setns (linux.namespaces path)");
  }
  for (const auto& [path, value] : s.sysctls) KATA_RETURN_IF_ERROR(WriteSysctl(path, value));
  if (!s.domainname.empty() && setdomainname(s.domainname.data(), s.domainname.size()) != 0) {
    return ErrnoStatus(errno, "setdomainname");
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return ErrnoStatus(errno, "make / rprivate");
  }
  KATA_RETURN_IF_ERROR(rootfs::SetupRootfs(*s.spec, s.rootfs, s.rootfs_options));
  if (!s.hostname.empty()) KATA_RETURN_IF_ERROR(SetHostname(s.hostname));
  return absl::OkStatus();
}

// The hooks common to the init and exec'd processes: into the cgroup from the agent; in the
// child the privileges (process_security.h) around `setup` (namespaces, rootfs).
void SetHooks(ProcessOptions& po, cgroups::CgroupManager* cgroup,
              const security::ProcessSecurity& sec, std::function<absl::Status()> setup) {
  po.parent_hook = [cgroup](pid_t pid) { return cgroup->AddProcess(pid); };
  po.early_hook = [sec]() { return sec.ApplyEarly(); };
  po.child_hook = [sec, setup = std::move(setup)]() -> absl::Status {
    KATA_RETURN_IF_ERROR(setup());
    return sec.ApplyBeforeUserSwitch();
  };
  po.post_user_hook = [sec]() { return sec.ApplyAfterUserSwitch(); };
}

// The init's ProcessOptions: `plan`'s namespaces and id maps, `joined`'s descriptors, parked
// at `gate_read` until Start.
ProcessOptions InitOptions(const oci::Spec& spec, const InitPlan& plan,
                           const JoinedNamespaces& joined, int gate_read) {
  ProcessOptions po = BaseProcessOptions(*spec.process);
  po.clone_flags = plan.namespaces.new_flags;
  if (joined.two_step) {
    po.pre_join_ns_fds = joined.pre_join;
    po.uid_map = plan.uid_map;
    po.gid_map = plan.gid_map;
  } else {
    po.join_pid_ns_fd = joined.join_pid;
  }
  po.keep_fds = joined.join_in_child;
  po.exec_gate_fd = gate_read;
  return po;
}

// The container's cgroup at `plan.cgroup_path` with `linux.resources`.
absl::StatusOr<std::unique_ptr<cgroups::CgroupManager>> CreateCgroup(
    const std::string& id, const oci::Spec& spec, const InitPlan& plan,
    const ContainerOptions& options) {
  KATA_ASSIGN_OR_RETURN(std::unique_ptr<cgroups::CgroupManager> cgroup,
                        options.new_cgroup_manager ? options.new_cgroup_manager(options.cgroups)
                                                   : cgroups::NewCgroupManager(options.cgroups));
  oci::LinuxResources resources;
  if (spec.linux && spec.linux->resources) resources = *spec.linux->resources;
  KATA_RETURN_IF_ERROR(
      AnnotateStatus(cgroup->Create(plan.cgroup_path, resources), absl::StrCat("container ", id)));
  return cgroup;
}

// The init process, parked at the exec gate `gate_read`, in `cgroup`.
absl::StatusOr<std::unique_ptr<Process>> StartInit(const oci::Spec& spec, const InitPlan& plan,
                                                   const JoinedNamespaces& joined,
                                                   const security::ProcessSecurity& sec,
                                                   cgroups::CgroupManager* cgroup, int gate_read) {
  ProcessOptions po = InitOptions(spec, plan, joined, gate_read);
  InitChildSetup setup;
  setup.spec = &spec;
  setup.rootfs = plan.rootfs;
  // mknod is not allowed in a user namespace: bind-mount the agent's device nodes (runc).
  setup.rootfs_options.mknod = !joined.two_step;
  setup.hostname = plan.hostname;
  setup.domainname = plan.domainname;
  setup.join_in_child = joined.join_in_child;
  setup.sysctls = plan.sysctls;
  SetHooks(po, cgroup, sec, [setup = std::move(setup)] { return SetUpInit(setup); });
  return Process::Start(std::move(po));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Container>> Container::Create(const std::string& id,
                                                             const std::string& exec_id,
                                                             const oci::Spec& spec,
                                                             const ContainerOptions& options) {
  KATA_RETURN_IF_ERROR(ValidateId(id, "container id"));
  KATA_RETURN_IF_ERROR(ValidateId(exec_id, "exec id"));
  const std::string context = absl::StrCat("container ", id);
  // Spans of the steps (children of the rpc's span when the agent traces; else no-ops).
  std::optional<trace::ScopedSpan> step(std::in_place, "container.plan");  // spec, seccomp
  KATA_ASSIGN_OR_RETURN(InitPlan plan, PlanInit(id, spec, options));
  absl::StatusOr<std::shared_ptr<const security::SeccompFilter>> seccomp =
      security::CompileSeccomp(spec);
  if (!seccomp.ok()) return AnnotateStatus(seccomp.status(), context);
  absl::StatusOr<security::ProcessSecurity> sec =
      security::ProcessSecurity::Prepare(*spec.process, *seccomp);
  if (!sec.ok()) return AnnotateStatus(sec.status(), context);

  step.reset();
  step.emplace("container.namespaces");  // the namespaces it joins, opened
  KATA_ASSIGN_OR_RETURN(JoinedNamespaces joined, OpenJoinedNamespaces(id, plan.namespaces));
  step.reset();
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) != 0) return ErrnoStatus(errno, absl::StrCat(context, ": pipe"));
  UniqueFd gate_read(gate[0]);
  UniqueFd gate_write(gate[1]);
  step.emplace("container.cgroup");
  KATA_ASSIGN_OR_RETURN(std::unique_ptr<cgroups::CgroupManager> cgroup,
                        CreateCgroup(id, spec, plan, options));
  step.reset();
  // The init's clone into its new namespaces, its rootfs mounts, pivot_root and hostname,
  // until it is parked at the exec gate.
  step.emplace("container.init_setup");
  absl::StatusOr<std::unique_ptr<Process>> init =
      StartInit(spec, plan, joined, *sec, cgroup.get(), gate_read.get());
  step.reset();
  if (!init.ok()) {
    cgroup->Destroy().IgnoreError();
    return AnnotateStatus(init.status(), context);
  }
  return std::unique_ptr<Container>(new Container(
      id, exec_id, plan.all_ns, plan.namespaces.new_flags, *std::move(seccomp), std::move(cgroup),
      std::move(gate_write), std::shared_ptr<Process>(*std::move(init))));
}

absl::Status Container::Exec(const std::string& exec_id, const oci::Process& process) {
  KATA_RETURN_IF_ERROR(ValidateId(exec_id, "exec id"));
  KATA_RETURN_IF_ERROR(CheckArgs(process));
  const std::string context = absl::StrCat("container ", id_, ": exec ", exec_id);
  absl::MutexLock lock(&mu_);
  State s = StateLocked();
  if (s != State::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", id_, " is ", StateName(s), ", not running"));
  }
  if (processes_.count(exec_id) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("container ", id_, ": exec id ", exec_id, " exists"));
  }
  // Opened here (the child may not allocate much), joined in the child.
  KATA_ASSIGN_OR_RETURN(ExecNamespaces ns, OpenExecNamespaces(id_, processes_[init_exec_id_]->pid(),
                                                              clone_flags_, new_ns_flags_));
  absl::StatusOr<security::ProcessSecurity> sec =
      security::ProcessSecurity::Prepare(process, seccomp_);
  if (!sec.ok()) return AnnotateStatus(sec.status(), context);
  ProcessOptions po = BaseProcessOptions(process);
  po.join_pid_ns_fd = ns.pid;
  po.keep_fds = ns.join;
  SetHooks(po, cgroup_.get(), *sec, [join = ns.join]() -> absl::Status {
    for (int fd : join) {
      if (setns(fd, 0) != 0) return ErrnoStatus(errno, "setns");
    }
    return absl::OkStatus();
  });
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Start(std::move(po));
  if (!p.ok()) return AnnotateStatus(p.status(), context);
  processes_[exec_id] = std::shared_ptr<Process>(*std::move(p));
  return absl::OkStatus();
}

}  // namespace agent
}  // namespace kata
