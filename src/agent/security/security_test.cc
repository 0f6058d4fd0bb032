#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/security/capabilities.h"
#include "src/agent/security/process_security.h"
#include "src/agent/security/rlimits.h"
#include "src/agent/security/seccomp.h"

namespace kata {
namespace agent {
namespace security {
namespace {

using ::testing::HasSubstr;

oci::LinuxSeccomp DenyMkdir(uint32_t err) {
  oci::LinuxSeccomp s;
  s.default_action = "SCMP_ACT_ALLOW";
  oci::LinuxSyscall sc;
  sc.names = {"mkdir", "mkdirat", "no_such_syscall_xyz"};
  sc.action = "SCMP_ACT_ERRNO";
  sc.errno_ret = err;
  s.syscalls = std::vector<oci::LinuxSyscall>{sc};
  return s;
}

// Runs `body` in a forked child; its exit code.
template <typename F>
int InChild(F body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(SeccompTest, CompilesAndSkipsUnknownSyscalls) {
  absl::StatusOr<SeccompFilter> f = SeccompFilter::Compile(DenyMkdir(EPERM));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_GT(f->size(), 4u);
}

TEST(SeccompTest, ErrorsNameTheField) {
  oci::LinuxSeccomp s = DenyMkdir(EPERM);
  (*s.syscalls)[0].action = "SCMP_ACT_FOO";
  absl::Status st = SeccompFilter::Compile(s).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("linux.seccomp.syscalls[0]: unknown action \"SCMP_ACT_FOO\""));

  s = DenyMkdir(EPERM);
  s.default_action = "SCMP_ACT_NOTIFY";
  EXPECT_EQ(SeccompFilter::Compile(s).status().code(), absl::StatusCode::kUnimplemented);

  s = DenyMkdir(EPERM);
  oci::LinuxSeccompArg a;
  a.index = 0;
  a.op = "SCMP_CMP_BOGUS";
  (*s.syscalls)[0].args = std::vector<oci::LinuxSeccompArg>{a};
  st = SeccompFilter::Compile(s).status();
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("linux.seccomp.syscalls[0].args[0]: unknown op"));
  (*(*s.syscalls)[0].args)[0].op = "SCMP_CMP_EQ";
  (*(*s.syscalls)[0].args)[0].index = 6;
  EXPECT_EQ(SeccompFilter::Compile(s).status().code(), absl::StatusCode::kInvalidArgument);

  s = DenyMkdir(EPERM);
  s.architectures = oci::Strings{"SCMP_ARCH_X86_64", "SCMP_ARCH_NOPE"};
  st = SeccompFilter::Compile(s).status();
  EXPECT_THAT(std::string(st.message()), HasSubstr("linux.seccomp.architectures[1]"));

  s = DenyMkdir(EPERM);
  s.flags = oci::Strings{"SECCOMP_FILTER_FLAG_BOGUS"};
  st = SeccompFilter::Compile(s).status();
  EXPECT_THAT(std::string(st.message()), HasSubstr("linux.seccomp.flags[0]"));
}

TEST(SeccompTest, AllActionsOpsArchesAndFlagsCompile) {
  oci::LinuxSeccomp s;
  s.default_action = "SCMP_ACT_ERRNO";
  s.default_errno_ret = ENOSYS;
  s.architectures = oci::Strings{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  s.flags = oci::Strings{"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"};
  std::vector<oci::LinuxSyscall> calls;
  const char* actions[] = {"SCMP_ACT_ALLOW",       "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                           "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE",
                           "SCMP_ACT_LOG",         "SCMP_ACT_ERRNO"};
  const char* ops[] = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",       "SCMP_CMP_EQ",
                       "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};
  const char* names[] = {"read", "write", "openat", "close", "fstat", "mmap", "munmap", "brk"};
  for (int i = 0; i < 8; ++i) {
    oci::LinuxSyscall sc;
    sc.names = {names[i]};
    sc.action = actions[i];
    if (i < 7) {
      oci::LinuxSeccompArg a;
      a.index = static_cast<uint32_t>(i % 6);
      a.op = ops[i];
      a.value = 3;
      a.value_two = 1;
      sc.args = std::vector<oci::LinuxSeccompArg>{a};
    }
    calls.push_back(sc);
  }
  // A repeated index: one rule per argument (OR).
  oci::LinuxSyscall personality;
  personality.names = {"personality"};
  personality.action = "SCMP_ACT_ALLOW";
  oci::LinuxSeccompArg p0, p1;
  p0.value = 0;
  p0.op = "SCMP_CMP_EQ";
  p1.value = 8;
  p1.op = "SCMP_CMP_EQ";
  personality.args = std::vector<oci::LinuxSeccompArg>{p0, p1};
  calls.push_back(personality);
  s.syscalls = calls;
  absl::StatusOr<SeccompFilter> f = SeccompFilter::Compile(s);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->flags() & ~static_cast<unsigned int>(2 /* FLAG_LOG */), 0u);
}

TEST(SeccompTest, LoadedFilterDeniesWithTheErrno) {
  absl::StatusOr<SeccompFilter> f = SeccompFilter::Compile(DenyMkdir(EXDEV));
  ASSERT_TRUE(f.ok()) << f.status();
  const char* base = getenv("TEST_TMPDIR");
  std::string dir = std::string(base != nullptr ? base : "/tmp") + "/seccomp-mkdir";
  int code = InChild([&] {
    if (!SetNoNewPrivileges().ok()) return 10;
    if (!f->Load().ok()) return 11;
    if (mkdir(dir.c_str(), 0755) == 0) return 12;
    if (errno != EXDEV) return 13;
    if (getpid() <= 0) return 14;  // other syscalls still work
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(SeccompTest, MaskedEqMatchesArgument) {
  // Deny umask(mode) when (mode & 0700) == 0700.
  oci::LinuxSeccomp s;
  s.default_action = "SCMP_ACT_ALLOW";
  oci::LinuxSyscall sc;
  sc.names = {"umask"};
  sc.action = "SCMP_ACT_ERRNO";
  sc.errno_ret = EXDEV;
  oci::LinuxSeccompArg a;
  a.index = 0;
  a.op = "SCMP_CMP_MASKED_EQ";
  a.value = 0700;
  a.value_two = 0700;
  sc.args = std::vector<oci::LinuxSeccompArg>{a};
  s.syscalls = std::vector<oci::LinuxSyscall>{sc};
  absl::StatusOr<SeccompFilter> f = SeccompFilter::Compile(s);
  ASSERT_TRUE(f.ok()) << f.status();
  int code = InChild([&] {
    if (!SetNoNewPrivileges().ok() || !f->Load().ok()) return 10;
    if (syscall(SYS_umask, 0022) < 0) return 11;                      // allowed
    if (syscall(SYS_umask, 0755) != -1 || errno != EXDEV) return 12;  // denied
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(CapabilitiesTest, ParsesNamesAndRejectsUnknown) {
  EXPECT_EQ(CapabilityFromName("CAP_CHOWN"), CAP_CHOWN);
  EXPECT_EQ(CapabilityFromName("CAP_KILL"), CAP_KILL);
  EXPECT_EQ(CapabilityFromName("CAP_CHECKPOINT_RESTORE"), 40);
  EXPECT_EQ(CapabilityFromName("cap_kill"), -1);
  oci::LinuxCapabilities c;
  c.bounding = oci::Strings{"CAP_CHOWN", "CAP_KILL"};
  c.ambient = oci::Strings{"CAP_KILL"};
  absl::StatusOr<Capabilities> caps = Capabilities::Parse(c);
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_EQ(caps->bounding(), (1ull << CAP_CHOWN) | (1ull << CAP_KILL));
  EXPECT_EQ(caps->ambient(), 1ull << CAP_KILL);
  EXPECT_EQ(caps->effective(), 0u);

  c.permitted = oci::Strings{"CAP_KILL", "CAP_NOPE"};
  absl::Status st = Capabilities::Parse(c).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("process.capabilities.permitted[1]: unknown capability \"CAP_NOPE\""));
  EXPECT_GE(LastCapability(), CAP_AUDIT_READ);
}

TEST(RlimitsTest, ParsesAndValidates) {
  oci::PosixRlimit n;
  n.type = "RLIMIT_NOFILE";
  n.soft = 64;
  n.hard = 128;
  absl::StatusOr<Rlimits> r = Rlimits::Parse({n});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->limits().size(), 1u);
  EXPECT_EQ(r->limits()[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(r->limits()[0].value.rlim_cur, 64u);

  oci::PosixRlimit bad = n;
  bad.type = "RLIMIT_BOGUS";
  absl::Status st = Rlimits::Parse({n, bad}).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("process.rlimits[1]: unknown type"));
  EXPECT_EQ(Rlimits::Parse({n, n}).status().code(), absl::StatusCode::kInvalidArgument);
  bad = n;
  bad.soft = 200;
  EXPECT_EQ(Rlimits::Parse({bad}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RlimitsTest, AppliesInChild) {
  oci::PosixRlimit n;
  n.type = "RLIMIT_NOFILE";
  n.soft = 64;
  n.hard = 100;
  absl::StatusOr<Rlimits> r = Rlimits::Parse({n});
  ASSERT_TRUE(r.ok());
  int code = InChild([&] {
    if (!r->Apply().ok()) return 10;
    rlimit got;
    if (getrlimit(RLIMIT_NOFILE, &got) != 0) return 11;
    return got.rlim_cur == 64 && got.rlim_max == 100 ? 0 : 12;
  });
  EXPECT_EQ(code, 0);
}

TEST(ProcessSecurityTest, PrepareValidates) {
  oci::Process p;
  p.oom_score_adj = 2000;
  EXPECT_EQ(ProcessSecurity::Prepare(p, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  p.oom_score_adj = 100;
  p.no_new_privileges = true;
  absl::StatusOr<ProcessSecurity> s = ProcessSecurity::Prepare(p, nullptr);
  ASSERT_TRUE(s.ok()) << s.status();
  int code = InChild([&] {
    if (!s->ApplyEarly().ok() || !s->ApplyLate().ok()) return 10;  // raising oom needs no cap
    return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 11;
  });
  EXPECT_EQ(code, 0);
  oci::Spec spec;
  absl::StatusOr<std::shared_ptr<const SeccompFilter>> none = CompileSeccomp(spec);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
}

}  // namespace
}  // namespace security
}  // namespace agent
}  // namespace kata
