#include "src/agent/security/rlimits.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace security {
namespace {

struct RlimitName {
  const char* name;
  int value;
};

#define KATA_RLIMIT(n) \
  { #n, n }
constexpr RlimitName kRlimits[] = {
    KATA_RLIMIT(RLIMIT_CPU),      KATA_RLIMIT(RLIMIT_FSIZE),  KATA_RLIMIT(RLIMIT_DATA),
    KATA_RLIMIT(RLIMIT_STACK),    KATA_RLIMIT(RLIMIT_CORE),   KATA_RLIMIT(RLIMIT_RSS),
    KATA_RLIMIT(RLIMIT_NPROC),    KATA_RLIMIT(RLIMIT_NOFILE), KATA_RLIMIT(RLIMIT_MEMLOCK),
    KATA_RLIMIT(RLIMIT_AS),       KATA_RLIMIT(RLIMIT_LOCKS),  KATA_RLIMIT(RLIMIT_SIGPENDING),
    KATA_RLIMIT(RLIMIT_MSGQUEUE), KATA_RLIMIT(RLIMIT_NICE),   KATA_RLIMIT(RLIMIT_RTPRIO),
    KATA_RLIMIT(RLIMIT_RTTIME),
};
#undef KATA_RLIMIT

}  // namespace

int RlimitFromName(absl::string_view name) {
  for (const RlimitName& r : kRlimits) {
    if (name == r.name) return r.value;
  }
  return -1;
}

absl::StatusOr<Rlimits> Rlimits::Parse(const std::vector<oci::PosixRlimit>& spec) {
  Rlimits r;
  for (size_t i = 0; i < spec.size(); ++i) {
    const oci::PosixRlimit& l = spec[i];
    const std::string at = absl::StrCat("process.rlimits[", i, "]");
    int res = RlimitFromName(l.type);
    if (res < 0) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": unknown type \"", l.type, "\""));
    }
    for (const Limit& prev : r.limits_) {
      if (prev.resource == res) {
        return absl::InvalidArgumentError(absl::StrCat(at, ": ", l.type, " given twice"));
      }
    }
    if (l.soft > l.hard) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": ", l.type, " soft ", l.soft, " is above hard ", l.hard));
    }
    Limit lim;
    lim.resource = res;
    lim.value.rlim_cur = static_cast<rlim_t>(l.soft);
    lim.value.rlim_max = static_cast<rlim_t>(l.hard);
    r.limits_.push_back(lim);
  }
  return r;
}

absl::Status Rlimits::Apply() const {
  for (const Limit& l : limits_) {
    if (setrlimit(static_cast<__rlimit_resource_t>(l.resource), &l.value) != 0) {
      return ErrnoStatus(errno, absl::StrCat("setrlimit ", l.resource));
    }
  }
  return absl::OkStatus();
}

absl::Status SetNoNewPrivileges() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ErrnoStatus(errno, "no_new_privs");
  return absl::OkStatus();
}

absl::Status SetOomScoreAdj(int adj) {
  if (adj < -1000 || adj > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("oomScoreAdj ", adj, " is outside -1000..1000"));
  }
  char buf[16];
  int len = 0;
  unsigned int v = adj < 0 ? static_cast<unsigned int>(-adj) : static_cast<unsigned int>(adj);
  char digits[8];
  int nd = 0;
  do {
    digits[nd++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  if (adj < 0) buf[len++] = '-';
  while (nd > 0) buf[len++] = digits[--nd];
  UniqueFd fd(open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "open /proc/self/oom_score_adj");
  ssize_t n = RetryEintr([&] { return write(fd.get(), buf, static_cast<size_t>(len)); });
  if (n != len) return ErrnoStatus(n < 0 ? errno : EIO, "write /proc/self/oom_score_adj");
  return absl::OkStatus();
}

}  // namespace security
}  // namespace agent
}  // namespace kata
