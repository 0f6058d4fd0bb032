#include "src/agent/security/seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace security {
namespace {

absl::StatusOr<uint32_t> ParseAction(const std::string& name, std::optional<uint32_t> ret,
                                     const std::string& at) {
  const uint32_t err = ret.value_or(EPERM);
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(err);
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(err);
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY") {
    return absl::UnimplementedError(absl::StrCat(at, ": action SCMP_ACT_NOTIFY is not supported"));
  }
  return absl::InvalidArgumentError(absl::StrCat(at, ": unknown action \"", name, "\""));
}

absl::StatusOr<scmp_compare> ParseOp(const std::string& op, const std::string& at) {
  if (op == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (op == "SCMP_CMP_LT") return SCMP_CMP_LT;
  if (op == "SCMP_CMP_LE") return SCMP_CMP_LE;
  if (op == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (op == "SCMP_CMP_GE") return SCMP_CMP_GE;
  if (op == "SCMP_CMP_GT") return SCMP_CMP_GT;
  if (op == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  return absl::InvalidArgumentError(absl::StrCat(at, ": unknown op \"", op, "\""));
}

// Whether the running kernel accepts `flag` for SECCOMP_SET_MODE_FILTER: with a NULL
// program a known flag fails with EFAULT, an unknown one with EINVAL (libseccomp's probe).
bool KernelHasFlag(unsigned int flag) {
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flag, nullptr);
  return rc < 0 && errno == EFAULT;
}

absl::Status LibError(int rc, absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(-rc)));
}

constexpr char kRoot[] = "linux.seccomp";

struct CtxRelease {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxRelease>;  // a scmp_filter_ctx

// `flags` as seccomp(2) flags, those the kernel lacks dropped.
absl::StatusOr<unsigned int> ParseFlags(const oci::Opt<oci::Strings>& flags) {
  unsigned int out = 0;
  if (!flags) return out;
  for (size_t i = 0; i < flags->size(); ++i) {
    const std::string& name = (*flags)[i];
    unsigned int flag = 0;
    if (name == "SECCOMP_FILTER_FLAG_TSYNC") {
      continue;
    } else if (name == "SECCOMP_FILTER_FLAG_LOG") {
      flag = SECCOMP_FILTER_FLAG_LOG;
    } else if (name == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") {
      flag = SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(kRoot, ".flags[", i, "]: unknown or unsupported flag \"", name, "\""));
    }
    if (KernelHasFlag(flag)) out |= flag;
  }
  return out;
}

absl::Status AddArchitectures(scmp_filter_ctx ctx, const oci::LinuxSeccomp& spec) {
  if (!spec.architectures) return absl::OkStatus();
  for (size_t i = 0; i < spec.architectures->size(); ++i) {
    const std::string& name = (*spec.architectures)[i];
    std::string lower = absl::AsciiStrToLower(name);
    uint32_t arch = 0;
    if (absl::StartsWith(lower, "scmp_arch_")) {
      arch = seccomp_arch_resolve_name(lower.substr(10).c_str());
    }
    if (arch == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(kRoot, ".architectures[", i, "]: unknown architecture \"", name, "\""));
    }
    int rc = seccomp_arch_add(ctx, arch);
    if (rc != 0 && rc != -EEXIST) {
      return LibError(rc, absl::StrCat(kRoot, ".architectures[", i, "] ", name));
    }
  }
  return absl::OkStatus();
}

// The argument conditions of a syscall entry `at`; `repeated_index` tells whether an index
// appears twice (then each condition is a rule of its own).
absl::StatusOr<std::vector<scmp_arg_cmp>> ParseArgs(const oci::LinuxSyscall& sc,
                                                    const std::string& at, bool* repeated_index) {
  std::vector<scmp_arg_cmp> cmps;
  *repeated_index = false;
  if (!sc.args) return cmps;
  std::set<uint32_t> seen;
  for (size_t j = 0; j < sc.args->size(); ++j) {
    const oci::LinuxSeccompArg& a = (*sc.args)[j];
    const std::string arg_at = absl::StrCat(at, ".args[", j, "]");
    if (a.index > 5) {
      return absl::InvalidArgumentError(
          absl::StrCat(arg_at, ": index ", a.index, " is out of range (0..5)"));
    }
    absl::StatusOr<scmp_compare> op = ParseOp(a.op, arg_at);
    if (!op.ok()) return op.status();
    if (!seen.insert(a.index).second) *repeated_index = true;
    scmp_arg_cmp c;
    c.arg = a.index;
    c.op = *op;
    c.datum_a = a.value;
    c.datum_b = a.value_two.value_or(0);
    cmps.push_back(c);
  }
  return cmps;
}

// The rules of syscall entry `i` (none when its action is the default one).
absl::Status AddSyscall(scmp_filter_ctx ctx, const oci::LinuxSyscall& sc, size_t i,
                        uint32_t default_action) {
  const std::string at = absl::StrCat(kRoot, ".syscalls[", i, "]");
  absl::StatusOr<uint32_t> action = ParseAction(sc.action, sc.errno_ret, at);
  if (!action.ok()) return action.status();
  bool repeated_index = false;
  absl::StatusOr<std::vector<scmp_arg_cmp>> cmps = ParseArgs(sc, at, &repeated_index);
  if (!cmps.ok()) return cmps.status();
  if (*action == default_action) return absl::OkStatus();  // as runc: it changes nothing
  for (const std::string& name : sc.names) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not a syscall of this architecture
    const std::string what = absl::StrCat(at, ": syscall \"", name, "\"");
    if (repeated_index) {
      for (const scmp_arg_cmp& c : *cmps) {
        int rc = seccomp_rule_add_array(ctx, *action, nr, 1, &c);
        if (rc != 0) return LibError(rc, what);
      }
    } else {
      int rc = seccomp_rule_add_array(ctx, *action, nr, static_cast<unsigned int>(cmps->size()),
                                      cmps->empty() ? nullptr : cmps->data());
      if (rc != 0) return LibError(rc, what);
    }
  }
  return absl::OkStatus();
}

// The BPF program of `ctx` (exported through a memfd).
absl::StatusOr<std::vector<sock_filter>> Export(scmp_filter_ctx ctx) {
  UniqueFd fd(memfd_create("seccomp-bpf", MFD_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "memfd_create");
  int rc = seccomp_export_bpf(ctx, fd.get());
  if (rc != 0) return LibError(rc, "seccomp_export_bpf");
  off_t len = lseek(fd.get(), 0, SEEK_END);
  if (len < 0) return ErrnoStatus(errno, "lseek");
  if (len == 0 || len % sizeof(sock_filter) != 0) {
    return absl::InternalError(absl::StrCat("seccomp_export_bpf: odd program size ", len));
  }
  std::vector<sock_filter> prog(static_cast<size_t>(len) / sizeof(sock_filter));
  char* p = reinterpret_cast<char*>(prog.data());
  for (off_t done = 0; done < len;) {
    ssize_t n = RetryEintr(
        [&] { return pread(fd.get(), p + done, static_cast<size_t>(len - done), done); });
    if (n < 0) return ErrnoStatus(errno, "read exported bpf");
    if (n == 0) return absl::InternalError("read exported bpf: short file");
    done += n;
  }
  return prog;
}

}  // namespace

absl::StatusOr<SeccompFilter> SeccompFilter::Compile(const oci::LinuxSeccomp& spec) {
  absl::StatusOr<uint32_t> def = ParseAction(spec.default_action, spec.default_errno_ret,
                                             absl::StrCat(kRoot, ".defaultAction"));
  if (!def.ok()) return def.status();
  if (spec.listener_path && !spec.listener_path->empty()) {
    return absl::UnimplementedError(absl::StrCat(kRoot, ".listenerPath is not supported"));
  }
  SeccompFilter f;
  KATA_ASSIGN_OR_RETURN(f.flags_, ParseFlags(spec.flags));

  Ctx ctx(seccomp_init(*def));
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");
  // The program is exported and loaded by Load(), which never sets no_new_privs itself.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  if (rc != 0) return LibError(rc, "seccomp_attr_set");
  KATA_RETURN_IF_ERROR(AddArchitectures(ctx.get(), spec));
  if (spec.syscalls) {
    for (size_t i = 0; i < spec.syscalls->size(); ++i) {
      KATA_RETURN_IF_ERROR(AddSyscall(ctx.get(), (*spec.syscalls)[i], i, *def));
    }
  }
  KATA_ASSIGN_OR_RETURN(f.prog_, Export(ctx.get()));
  if (f.prog_.size() > 0xffff) {
    return absl::InvalidArgumentError(
        absl::StrCat(kRoot, ": the filter has ", f.prog_.size(), " instructions, over 65535"));
  }
  return f;
}

absl::Status SeccompFilter::Load() const {
  sock_fprog prog;
  prog.len = static_cast<unsigned short>(prog_.size());
  prog.filter = const_cast<sock_filter*>(prog_.data());
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags_, &prog) != 0) {
    return ErrnoStatus(errno, "seccomp load");
  }
  return absl::OkStatus();
}

}  // namespace security
}  // namespace agent
}  // namespace kata
