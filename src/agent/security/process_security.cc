#include "src/agent/security/process_security.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_macros.h"

namespace kata {
namespace agent {
namespace security {

absl::StatusOr<std::shared_ptr<const SeccompFilter>> CompileSeccomp(const oci::Spec& spec) {
  if (!spec.linux || !spec.linux->seccomp) return std::shared_ptr<const SeccompFilter>();
  KATA_ASSIGN_OR_RETURN(SeccompFilter f, SeccompFilter::Compile(*spec.linux->seccomp));
  return std::make_shared<const SeccompFilter>(std::move(f));
}

absl::StatusOr<ProcessSecurity> ProcessSecurity::Prepare(
    const oci::Process& process, std::shared_ptr<const SeccompFilter> seccomp) {
  ProcessSecurity s;
  if (process.rlimits) {
    KATA_ASSIGN_OR_RETURN(s.rlimits_, Rlimits::Parse(*process.rlimits));
  }
  if (process.oom_score_adj) {
    int adj = *process.oom_score_adj;
    if (adj < -1000 || adj > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("process.oomScoreAdj ", adj, " is outside -1000..1000"));
    }
    s.oom_score_adj_ = adj;
  }
  if (process.capabilities) {
    KATA_ASSIGN_OR_RETURN(Capabilities caps, Capabilities::Parse(*process.capabilities));
    s.caps_ = caps;
  }
  s.no_new_privs_ = process.no_new_privileges.value_or(false);
  s.seccomp_ = std::move(seccomp);
  return s;
}

absl::Status ProcessSecurity::ApplyEarly() const {
  KATA_RETURN_IF_ERROR(rlimits_.Apply());
  if (oom_score_adj_) KATA_RETURN_IF_ERROR(SetOomScoreAdj(*oom_score_adj_));
  return absl::OkStatus();
}

absl::Status ProcessSecurity::ApplyBeforeUserSwitch() const {
  if (caps_) KATA_RETURN_IF_ERROR(caps_->ApplyBeforeUserSwitch());
  return absl::OkStatus();
}

absl::Status ProcessSecurity::ApplyAfterUserSwitch() const {
  if (caps_) KATA_RETURN_IF_ERROR(caps_->ApplyAfterUserSwitch());
  if (no_new_privs_) KATA_RETURN_IF_ERROR(SetNoNewPrivileges());
  if (seccomp_) KATA_RETURN_IF_ERROR(seccomp_->Load());
  return absl::OkStatus();
}

absl::Status ProcessSecurity::ApplyLate() const {
  KATA_RETURN_IF_ERROR(ApplyBeforeUserSwitch());
  return ApplyAfterUserSwitch();
}

}  // namespace security
}  // namespace agent
}  // namespace kata
