// A container's seccomp profile (`linux.seccomp` of the OCI spec) compiled to a classic BPF
// program in the agent, and installed in the container's process just before exec.
//
//   // In the agent (parent): allocates, validates, reports errors naming the spec path.
//   KATA_ASSIGN_OR_RETURN(SeccompFilter f, SeccompFilter::Compile(*spec.linux->seccomp));
//   // In the child after fork (ProcessOptions::child_hook), last thing before exec:
//   KATA_RETURN_IF_ERROR(f.Load());
//
// Semantics follow runc:
// - Actions: SCMP_ACT_ALLOW, _ERRNO (errnoRet, default EPERM), _KILL (= _KILL_THREAD),
//   _KILL_PROCESS, _KILL_THREAD, _TRAP, _TRACE (errnoRet, default EPERM), _LOG.
//   SCMP_ACT_NOTIFY (a listener) is UNIMPLEMENTED; any other name is INVALID_ARGUMENT.
// - A rule whose action equals the default action is skipped (it could not change anything).
// - Syscall names this libseccomp/architecture does not know are skipped silently.
// - Arguments: ops SCMP_CMP_NE/LT/LE/EQ/GE/GT/MASKED_EQ (MASKED_EQ: (arg & value) ==
//   valueTwo); all arguments of a syscall entry must hold together (AND), except when an
//   index repeats: then each argument is a rule of its own (OR), as runc does.
// - architectures: SCMP_ARCH_* names, added to the native one; unknown: INVALID_ARGUMENT.
// - flags: SECCOMP_FILTER_FLAG_LOG and _SPEC_ALLOW are passed to the kernel when it supports
//   them (else dropped); _TSYNC is accepted and has no effect (the child is single-threaded);
//   any other flag is INVALID_ARGUMENT.
#ifndef KATA_SRC_AGENT_SECURITY_SECCOMP_H_
#define KATA_SRC_AGENT_SECURITY_SECCOMP_H_

#include <linux/filter.h>

#include <cstddef>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {
namespace security {

class SeccompFilter {
 public:
  // Compiles `spec`. Errors are INVALID_ARGUMENT/UNIMPLEMENTED naming the field, e.g.
  // "linux.seccomp.syscalls[3]: unknown action \"SCMP_ACT_FOO\"", or INTERNAL for a
  // libseccomp failure.
  static absl::StatusOr<SeccompFilter> Compile(const oci::LinuxSeccomp& spec);

  // Installs the filter in the calling thread (seccomp(2) SECCOMP_SET_MODE_FILTER). Does not
  // allocate unless it fails, so it is safe in a forked child. Needs CAP_SYS_ADMIN or
  // no_new_privs set before. After it, every later syscall of the process is filtered.
  absl::Status Load() const;

  // The number of BPF instructions (for tests and logs).
  size_t size() const { return prog_.size(); }
  // The flags passed to seccomp(2).
  unsigned int flags() const { return flags_; }

 private:
  std::vector<sock_filter> prog_;
  unsigned int flags_ = 0;
};

}  // namespace security
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_SECURITY_SECCOMP_H_
