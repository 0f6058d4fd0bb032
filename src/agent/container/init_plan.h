// What a container's spec asks of its init process (internal to //src/agent/container),
// checked before anything is opened or created (container.h "Create promises"), and the
// ProcessOptions common to the init and exec'd processes.
//
//   KATA_ASSIGN_OR_RETURN(InitPlan plan, PlanInit("c1", spec, options));
//   ProcessOptions po = BaseProcessOptions(*spec.process);
//   po.clone_flags = plan.namespaces.new_flags;  ...
//
// Contract: PlanInit only reads the spec and stats the rootfs; its errors are
// INVALID_ARGUMENT or UNIMPLEMENTED for the spec (the id maps' messages start with
// "container <id>: "), or the errno of stat on the rootfs.
#ifndef KATA_SRC_AGENT_CONTAINER_INIT_PLAN_H_
#define KATA_SRC_AGENT_CONTAINER_INIT_PLAN_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/agent/container/container.h"
#include "src/agent/container/namespaces.h"
#include "src/agent/process/process.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {

struct InitPlan {
  std::string rootfs;  // absolute path of the existing rootfs directory
  SpecNamespaceSet namespaces;
  int all_ns = 0;  // namespaces.AllFlags()
  // /proc/<pid>/{uid,gid}_map contents; "" without a new user namespace.
  std::string uid_map;
  std::string gid_map;
  std::string hostname;    // "" = not set
  std::string domainname;  // "" = not set
  // linux.sysctl as (path under /proc/sys, value).
  std::vector<std::pair<std::string, std::string>> sysctls;
  std::string cgroup_path;  // relative to the cgroup root
};

// The checks of Create in order: a process with args, root.path (resolved against
// `options.bundle_root`/`id` when relative) an existing directory, the namespaces, the id
// maps, a mount namespace, hostname and domainname with a uts namespace, the sysctls, the
// cgroup path.
absl::StatusOr<InitPlan> PlanInit(const std::string& id, const oci::Spec& spec,
                                  const ContainerOptions& options);

// INVALID_ARGUMENT "process.args is empty" unless args[0] is a non-empty string.
absl::Status CheckArgs(const oci::Process& process);

// argv, env, cwd ("/" when empty), user and terminal (with its size) of `process`.
ProcessOptions BaseProcessOptions(const oci::Process& process);

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CONTAINER_INIT_PLAN_H_
