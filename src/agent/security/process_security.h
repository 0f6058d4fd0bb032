// Everything the OCI spec asks of a container process's privileges, prepared in the agent and
// applied in the forked child (ProcessOptions::child_hook) in two steps.
//
//   KATA_ASSIGN_OR_RETURN(auto filter, CompileSeccomp(spec));        // once per container
//   KATA_ASSIGN_OR_RETURN(ProcessSecurity sec, ProcessSecurity::Prepare(*spec.process, filter));
//   po.early_hook = [sec] { return sec.ApplyEarly(); };  // first: rlimits, oom_score_adj
//   po.child_hook = [sec] {
//     ... namespaces, rootfs ...
//     return sec.ApplyBeforeUserSwitch();       // bounding set, keep caps over setuid
//   };
//   po.post_user_hook = [sec] { return sec.ApplyAfterUserSwitch(); };  // caps, nnp, seccomp
//
// The seccomp filter is loaded after the user switch, before the exec gate and exec, so the
// profile filters those two (any usable profile allows read and execve).
#ifndef KATA_SRC_AGENT_SECURITY_PROCESS_SECURITY_H_
#define KATA_SRC_AGENT_SECURITY_PROCESS_SECURITY_H_

#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/agent/security/capabilities.h"
#include "src/agent/security/rlimits.h"
#include "src/agent/security/seccomp.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {
namespace security {

// The compiled `linux.seccomp` of `spec`, or nullptr when it has none.
absl::StatusOr<std::shared_ptr<const SeccompFilter>> CompileSeccomp(const oci::Spec& spec);

class ProcessSecurity {
 public:
  // Parses process.rlimits, oomScoreAdj, capabilities and noNewPrivileges of `process`;
  // `seccomp` (may be null) is the container's filter. Errors are those of the parsers.
  static absl::StatusOr<ProcessSecurity> Prepare(const oci::Process& process,
                                                 std::shared_ptr<const SeccompFilter> seccomp);

  // Child (ProcessOptions::early_hook), before any namespace change: setrlimit, then
  // oom_score_adj (through this process's /proc, i.e. before the container's mounts and
  // namespaces; in a two-step start the intermediate process applies them).
  absl::Status ApplyEarly() const;
  // Child, at the end of the hook (root, before the user switch): the capability bounding set,
  // and PR_SET_KEEPCAPS so the switch keeps the permitted set.
  absl::Status ApplyBeforeUserSwitch() const;
  // Child, after the user switch: the capability sets and ambient caps (when the spec has
  // capabilities), no_new_privs (when set), then the seccomp filter.
  absl::Status ApplyAfterUserSwitch() const;
  // Both, for a process that does not switch user.
  absl::Status ApplyLate() const;

 private:
  Rlimits rlimits_;
  std::optional<int> oom_score_adj_;
  std::optional<Capabilities> caps_;
  bool no_new_privs_ = false;
  std::shared_ptr<const SeccompFilter> seccomp_;
};

}  // namespace security
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_SECURITY_PROCESS_SECURITY_H_
