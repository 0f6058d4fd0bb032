#include "src/agent/cgroups/internal/resources.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "src/libs/base/status_macros.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace internal {

namespace {

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("resources.", field, ": ", why));
}

bool IsCpuList(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && c != ',' && c != '-') return false;
  }
  return true;
}

// "2MB", "1GB", "64KB".
bool IsPageSize(absl::string_view s) {
  if (s.size() < 3 || s.substr(s.size() - 1) != "B") return false;
  char unit = s[s.size() - 2];
  if (unit != 'K' && unit != 'M' && unit != 'G') return false;
  for (char c : s.substr(0, s.size() - 2)) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

absl::Status ValidateMemory(const oci::LinuxMemory& m) {
  if (m.limit && *m.limit < -1) return Invalid("memory.limit", "must be -1 or >= 0");
  if (m.limit && *m.limit >= 0 && *m.limit < 4096) {
    return Invalid("memory.limit", "below one page (4096 bytes)");
  }
  if (m.reservation && *m.reservation < -1) {
    return Invalid("memory.reservation", "must be -1 or >= 0");
  }
  if (m.swap && *m.swap < -1) return Invalid("memory.swap", "must be -1 or >= 0");
  if (m.swap && *m.swap >= 0) {
    if (!m.limit || *m.limit < 0) {
      return Invalid("memory.swap", "a swap limit needs a memory limit");
    }
    if (*m.swap < *m.limit) {
      return Invalid("memory.swap", "memory+swap must be >= memory.limit");
    }
  }
  if (m.swappiness && *m.swappiness > 100) return Invalid("memory.swappiness", "above 100");
  return absl::OkStatus();
}

absl::Status ValidateCpu(const oci::LinuxCpu& c) {
  if (c.shares && *c.shares != 0 && (*c.shares < 2 || *c.shares > 262144)) {
    return Invalid("cpu.shares", "must be in [2, 262144]");
  }
  if (c.quota && *c.quota != -1 && *c.quota < 1000) {
    return Invalid("cpu.quota", "must be -1 or >= 1000 (us)");
  }
  if (c.period && *c.period != 0 && (*c.period < 1000 || *c.period > 1000000)) {
    return Invalid("cpu.period", "must be in [1000, 1000000] (us)");
  }
  if (c.cpus && !c.cpus->empty() && !IsCpuList(*c.cpus)) {
    return Invalid("cpu.cpus", "not a cpu list");
  }
  if (c.mems && !c.mems->empty() && !IsCpuList(*c.mems)) {
    return Invalid("cpu.mems", "not a node list");
  }
  return absl::OkStatus();
}

absl::Status ValidateBlockIo(const oci::LinuxBlockIo& b) {
  if (b.weight && *b.weight != 0 && (*b.weight < 10 || *b.weight > 1000)) {
    return Invalid("blockIO.weight", "must be in [10, 1000]");
  }
  if (b.weight_device) {
    for (const auto& d : *b.weight_device) {
      if (d.weight && (*d.weight < 10 || *d.weight > 1000)) {
        return Invalid("blockIO.weightDevice", "weight must be in [10, 1000]");
      }
      if (d.major < 0 || d.minor < 0) return Invalid("blockIO.weightDevice", "bad device");
    }
  }
  for (const auto* list : {&b.throttle_read_bps_device, &b.throttle_write_bps_device,
                           &b.throttle_read_iops_device, &b.throttle_write_iops_device}) {
    if (!*list) continue;
    for (const auto& d : **list) {
      if (d.major < 0 || d.minor < 0) return Invalid("blockIO.throttle*", "bad device");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateDevices(const std::vector<oci::LinuxDeviceCgroup>& devices) {
  for (const auto& d : devices) {
    if (d.type && *d.type != "a" && *d.type != "b" && *d.type != "c") {
      return Invalid("devices.type", absl::StrCat("\"", *d.type, "\""));
    }
    if (!d.access) continue;
    if (d.access->empty()) return Invalid("devices.access", "empty");
    for (char c : *d.access) {
      if (c != 'r' && c != 'w' && c != 'm') {
        return Invalid("devices.access", absl::StrCat("\"", *d.access, "\""));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateResources(const oci::LinuxResources& r) {
  if (r.memory) KATA_RETURN_IF_ERROR(ValidateMemory(*r.memory));
  if (r.cpu) KATA_RETURN_IF_ERROR(ValidateCpu(*r.cpu));
  if (r.block_io) KATA_RETURN_IF_ERROR(ValidateBlockIo(*r.block_io));
  if (r.hugepage_limits) {
    for (const auto& h : *r.hugepage_limits) {
      if (!IsPageSize(h.page_size)) {
        return Invalid("hugepageLimits.pageSize", absl::StrCat("\"", h.page_size, "\""));
      }
    }
  }
  if (r.devices) KATA_RETURN_IF_ERROR(ValidateDevices(*r.devices));
  if (r.unified) {
    for (const auto& [key, value] : *r.unified) {
      if (key.empty() || key.find('/') != std::string::npos || key == "." || key == ".." ||
          key.find('.') == std::string::npos) {
        return Invalid("unified", absl::StrCat("bad key \"", key, "\""));
      }
    }
  }
  return absl::OkStatus();
}

std::string DeviceRuleLine(const oci::LinuxDeviceCgroup& rule) {
  std::string type = rule.type.value_or("a");
  std::string major = rule.major && *rule.major >= 0 ? absl::StrCat(*rule.major) : "*";
  std::string minor = rule.minor && *rule.minor >= 0 ? absl::StrCat(*rule.minor) : "*";
  return absl::StrCat(type, " ", major, ":", minor, " ", rule.access.value_or("rwm"));
}

uint64_t SharesToWeight(uint64_t shares) {
  if (shares == 0) return 0;
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t BlkioToIoWeight(uint64_t weight) {
  if (weight == 0) return 0;
  return 1 + (weight - 10) * 9999 / 990;
}

}  // namespace internal
}  // namespace cgroups
}  // namespace agent
}  // namespace kata
