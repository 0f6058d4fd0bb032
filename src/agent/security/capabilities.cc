#include "src/agent/security/capabilities.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace security {
namespace {

struct CapName {
  const char* name;
  int value;
};

#define KATA_CAP(n) \
  { #n, n }
constexpr CapName kCaps[] = {
    KATA_CAP(CAP_CHOWN),
    KATA_CAP(CAP_DAC_OVERRIDE),
    KATA_CAP(CAP_DAC_READ_SEARCH),
    KATA_CAP(CAP_FOWNER),
    KATA_CAP(CAP_FSETID),
    KATA_CAP(CAP_KILL),
    KATA_CAP(CAP_SETGID),
    KATA_CAP(CAP_SETUID),
    KATA_CAP(CAP_SETPCAP),
    KATA_CAP(CAP_LINUX_IMMUTABLE),
    KATA_CAP(CAP_NET_BIND_SERVICE),
    KATA_CAP(CAP_NET_BROADCAST),
    KATA_CAP(CAP_NET_ADMIN),
    KATA_CAP(CAP_NET_RAW),
    KATA_CAP(CAP_IPC_LOCK),
    KATA_CAP(CAP_IPC_OWNER),
    KATA_CAP(CAP_SYS_MODULE),
    KATA_CAP(CAP_SYS_RAWIO),
    KATA_CAP(CAP_SYS_CHROOT),
    KATA_CAP(CAP_SYS_PTRACE),
    KATA_CAP(CAP_SYS_PACCT),
    KATA_CAP(CAP_SYS_ADMIN),
    KATA_CAP(CAP_SYS_BOOT),
    KATA_CAP(CAP_SYS_NICE),
    KATA_CAP(CAP_SYS_RESOURCE),
    KATA_CAP(CAP_SYS_TIME),
    KATA_CAP(CAP_SYS_TTY_CONFIG),
    KATA_CAP(CAP_MKNOD),
    KATA_CAP(CAP_LEASE),
    KATA_CAP(CAP_AUDIT_WRITE),
    KATA_CAP(CAP_AUDIT_CONTROL),
    KATA_CAP(CAP_SETFCAP),
    KATA_CAP(CAP_MAC_OVERRIDE),
    KATA_CAP(CAP_MAC_ADMIN),
    KATA_CAP(CAP_SYSLOG),
    KATA_CAP(CAP_WAKE_ALARM),
    KATA_CAP(CAP_BLOCK_SUSPEND),
    KATA_CAP(CAP_AUDIT_READ),
    KATA_CAP(CAP_PERFMON),
    KATA_CAP(CAP_BPF),
    KATA_CAP(CAP_CHECKPOINT_RESTORE),
};
#undef KATA_CAP

absl::StatusOr<uint64_t> ParseList(const std::optional<oci::Strings>& names, const char* field,
                                   int last_cap) {
  uint64_t mask = 0;
  if (!names) return mask;
  for (size_t i = 0; i < names->size(); ++i) {
    int cap = CapabilityFromName((*names)[i]);
    if (cap < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "process.capabilities.", field, "[", i, "]: unknown capability \"", (*names)[i], "\""));
    }
    if (cap > last_cap || cap > 63) continue;  // the running kernel lacks it: skip, as runc
    mask |= uint64_t{1} << cap;
  }
  return mask;
}

}  // namespace

int CapabilityFromName(absl::string_view name) {
  for (const CapName& c : kCaps) {
    if (name == c.name) return c.value;
  }
  return -1;
}

int LastCapability() {
  absl::StatusOr<std::string> s = ReadFileToString("/proc/sys/kernel/cap_last_cap");
  int n = 0;
  if (s.ok() && absl::SimpleAtoi(*s, &n) && n >= 0 && n < 64) return n;
  return CAP_LAST_CAP;
}

absl::StatusOr<Capabilities> Capabilities::Parse(const oci::LinuxCapabilities& spec) {
  Capabilities c;
  c.last_cap_ = LastCapability();
  struct Field {
    const std::optional<oci::Strings>* names;
    const char* name;
    uint64_t* mask;
  };
  const Field fields[] = {
      {&spec.bounding, "bounding", &c.bounding_},
      {&spec.effective, "effective", &c.effective_},
      {&spec.inheritable, "inheritable", &c.inheritable_},
      {&spec.permitted, "permitted", &c.permitted_},
      {&spec.ambient, "ambient", &c.ambient_},
  };
  for (const Field& f : fields) {
    absl::StatusOr<uint64_t> m = ParseList(*f.names, f.name, c.last_cap_);
    if (!m.ok()) return m.status();
    *f.mask = *m;
  }
  return c;
}

absl::Status Capabilities::ApplyBeforeUserSwitch() const {
  for (int cap = 0; cap <= last_cap_; ++cap) {
    if ((bounding_ >> cap) & 1) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      return ErrnoStatus(errno, absl::StrCat("drop capability ", cap, " from the bounding set"));
    }
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return ErrnoStatus(errno, "prctl PR_SET_KEEPCAPS");
  return absl::OkStatus();
}

absl::Status Capabilities::ApplyAfterUserSwitch() const {
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return ErrnoStatus(errno, "prctl PR_SET_KEEPCAPS");
  __user_cap_header_struct hdr;
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  hdr.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  data[0].effective = static_cast<uint32_t>(effective_);
  data[1].effective = static_cast<uint32_t>(effective_ >> 32);
  data[0].permitted = static_cast<uint32_t>(permitted_);
  data[1].permitted = static_cast<uint32_t>(permitted_ >> 32);
  data[0].inheritable = static_cast<uint32_t>(inheritable_);
  data[1].inheritable = static_cast<uint32_t>(inheritable_ >> 32);
  if (syscall(SYS_capset, &hdr, data) != 0) return ErrnoStatus(errno, "capset");
  for (int cap = 0; cap <= last_cap_; ++cap) {
    if (((ambient_ >> cap) & 1) == 0) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
      return ErrnoStatus(errno, absl::StrCat("raise ambient capability ", cap));
    }
  }
  return absl::OkStatus();
}

}  // namespace security
}  // namespace agent
}  // namespace kata
