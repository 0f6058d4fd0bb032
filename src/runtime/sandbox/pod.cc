#include "src/runtime/sandbox/pod.h"

#include <unistd.h>

#include <algorithm>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/status_macros.h"

namespace kata::runtime {
namespace {

const std::string* Find(const oci::Spec& spec, const char* key) {
  if (!spec.annotations.has_value()) return nullptr;
  auto it = spec.annotations->find(key);
  return it == spec.annotations->end() ? nullptr : &it->second;
}

// The first of `keys` present, with its key.
const std::string* FindAny(const oci::Spec& spec, std::initializer_list<const char*> keys,
                           const char** found) {
  for (const char* k : keys) {
    if (const std::string* v = Find(spec, k)) {
      *found = k;
      return v;
    }
  }
  return nullptr;
}

absl::Status BadAnnotation(const char* key, const std::string& value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("annotation ", key, "=\"", value, "\": ", why));
}

// The annotation `key` as an integer of type T; 0 when absent.
template <typename T>
absl::StatusOr<T> Number(const oci::Spec& spec, const char* key) {
  const std::string* v = Find(spec, key);
  if (v == nullptr) return T{0};
  T n;
  if (!absl::SimpleAtoi(*v, &n)) return BadAnnotation(key, *v, "not an integer in range");
  return n;
}

uint32_t MibOf(int64_t bytes) {
  if (bytes <= 0) return 0;  // negative: unconstrained
  return static_cast<uint32_t>(
      std::min<int64_t>(bytes / (1024 * 1024), std::numeric_limits<uint32_t>::max()));
}

}  // namespace

absl::StatusOr<PodRole> PodRoleOf(const std::string& container_id, const oci::Spec& spec) {
  PodRole role{ContainerKind::kSingle, container_id};
  const char* type_key = nullptr;
  const std::string* type = FindAny(spec, {kCriContainerType, kCrioContainerType}, &type_key);
  if (type == nullptr) return role;
  if (*type == "sandbox") {
    role.kind = ContainerKind::kPodSandbox;
    return role;
  }
  if (*type != "container") {
    return BadAnnotation(type_key, *type, "expected \"sandbox\" or \"container\"");
  }
  const char* id_key = nullptr;
  const std::string* sid = FindAny(spec, {kCriSandboxId, kCrioSandboxId}, &id_key);
  if (sid == nullptr || sid->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("container ", container_id, ": annotation ",
                                                   type_key, "=container without a sandbox id (",
                                                   kCriSandboxId, " or ", kCrioSandboxId, ")"));
  }
  role.kind = ContainerKind::kPodContainer;
  role.sandbox_id = *sid;
  return role;
}

bool SharesPodPidNamespace(const oci::Spec& spec) {
  if (!spec.linux.has_value() || !spec.linux->namespaces.has_value()) return false;
  for (const oci::LinuxNamespace& ns : *spec.linux->namespaces) {
    if (ns.type == "pid") return ns.path.has_value() && !ns.path->empty();
  }
  return false;
}

uint32_t VcpusFor(int64_t quota, uint64_t period) {
  if (quota < 0 || period == 0) return 0;
  // In 128 bits: quota * 1000 does not overflow.
  const unsigned __int128 milli = static_cast<unsigned __int128>(quota) * 1000 / period;
  const unsigned __int128 vcpus = (milli + 999) / 1000;
  return vcpus > std::numeric_limits<uint32_t>::max() ? std::numeric_limits<uint32_t>::max()
                                                      : static_cast<uint32_t>(vcpus);
}

absl::StatusOr<PodResources> PodResourcesOf(const std::string& container_id,
                                            const oci::Spec& spec) {
  KATA_ASSIGN_OR_RETURN(PodRole role, PodRoleOf(container_id, spec));
  PodResources r;
  switch (role.kind) {
    case ContainerKind::kPodContainer:
      return r;
    case ContainerKind::kPodSandbox: {
      KATA_ASSIGN_OR_RETURN(int64_t memory, Number<int64_t>(spec, kCriSandboxMemory));
      KATA_ASSIGN_OR_RETURN(int64_t quota, Number<int64_t>(spec, kCriSandboxCpuQuota));
      KATA_ASSIGN_OR_RETURN(uint64_t period, Number<uint64_t>(spec, kCriSandboxCpuPeriod));
      KATA_ASSIGN_OR_RETURN(uint64_t shares, Number<uint64_t>(spec, kCriSandboxCpuShares));
      (void)shares;  // checked; a weight adds no vCPU
      r.memory_mib = MibOf(memory);
      r.vcpus = VcpusFor(quota, period);
      return r;
    }
    case ContainerKind::kSingle:
      break;
  }
  if (!spec.linux.has_value() || !spec.linux->resources.has_value()) return r;
  const oci::LinuxResources& res = *spec.linux->resources;
  if (res.memory.has_value() && res.memory->limit.has_value()) {
    r.memory_mib = MibOf(*res.memory->limit);
  }
  if (res.cpu.has_value())
    r.vcpus = VcpusFor(res.cpu->quota.value_or(0), res.cpu->period.value_or(0));
  return r;
}

HostLimits CurrentHostLimits() {
  HostLimits h;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus > 0) h.cpus = static_cast<uint32_t>(cpus);
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) {
    h.memory_mib = MibOf(static_cast<int64_t>(pages) * static_cast<int64_t>(page));
  }
  return h;
}

VmSize SizeVm(const config::QemuConfig& q, const PodResources& extra, const HostLimits& host) {
  auto sum = [](uint32_t a, uint32_t b) {
    return static_cast<uint32_t>(
        std::min<uint64_t>(uint64_t{a} + b, std::numeric_limits<uint32_t>::max()));
  };
  const uint32_t max_vcpus = q.default_maxvcpus == 0 ? host.cpus : q.default_maxvcpus;
  const uint32_t max_memory = q.default_maxmemory == 0 ? host.memory_mib : q.default_maxmemory;
  VmSize s;
  s.vcpus = std::max(q.default_vcpus, std::min(sum(q.default_vcpus, extra.vcpus), max_vcpus));
  s.memory_mib =
      std::max(q.default_memory, std::min(sum(q.default_memory, extra.memory_mib), max_memory));
  return s;
}

}  // namespace kata::runtime
