// Resource limits (`process.rlimits`), no_new_privileges and oom_score_adj of a container
// process: parsed in the agent, applied in the forked child.
//
//   KATA_ASSIGN_OR_RETURN(Rlimits r, Rlimits::Parse(*process.rlimits));
//   // child hook:
//   KATA_RETURN_IF_ERROR(r.Apply());
//   KATA_RETURN_IF_ERROR(SetOomScoreAdj(-500));
//   KATA_RETURN_IF_ERROR(SetNoNewPrivileges());
#ifndef KATA_SRC_AGENT_SECURITY_RLIMITS_H_
#define KATA_SRC_AGENT_SECURITY_RLIMITS_H_

#include <sys/resource.h>

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {
namespace security {

// RLIMIT_* number of "RLIMIT_NOFILE" etc., or -1 when unknown.
int RlimitFromName(absl::string_view name);

class Rlimits {
 public:
  struct Limit {
    int resource;
    rlimit value;
  };

  // Errors: INVALID_ARGUMENT naming the entry ("process.rlimits[1]: ...") for an unknown type,
  // a type given twice, or soft > hard.
  static absl::StatusOr<Rlimits> Parse(const std::vector<oci::PosixRlimit>& spec);

  const std::vector<Limit>& limits() const { return limits_; }

  // setrlimit for each, in spec order (child; async-signal-safe; allocates only on error).
  // Raising a hard limit needs CAP_SYS_RESOURCE.
  absl::Status Apply() const;

 private:
  std::vector<Limit> limits_;
};

// prctl(PR_SET_NO_NEW_PRIVS, 1): execve never grants privileges again (setuid bits, file
// capabilities); inherited by children, irreversible.
absl::Status SetNoNewPrivileges();

// Writes `adj` (-1000..1000) to /proc/self/oom_score_adj (lowering it needs
// CAP_SYS_RESOURCE). Async-signal-safe; allocates only on error.
absl::Status SetOomScoreAdj(int adj);

}  // namespace security
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_SECURITY_RLIMITS_H_
