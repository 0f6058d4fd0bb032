// What a container's spec says about its pod, as containerd's CRI plugin and CRI-O write it,
// and how big the pod's VM is (Kata's static_sandbox_resource_mgmt).
//
//   KATA_ASSIGN_OR_RETURN(PodRole role, PodRoleOf("c1", spec));
//   if (role.kind == ContainerKind::kPodContainer) join(role.sandbox_id);
//   KATA_ASSIGN_OR_RETURN(PodResources extra, PodResourcesOf(spec));
//   VmSize size = SizeVm(config.hypervisor, extra, HostLimits());
//
// Annotations read (both spellings; containerd's wins when both are present):
//   containerd: io.kubernetes.cri.container-type ("sandbox" | "container"),
//               io.kubernetes.cri.sandbox-id
//   CRI-O:      io.kubernetes.cri-o.ContainerType ("sandbox" | "container"),
//               io.kubernetes.cri-o.SandboxID
//   sizing (containerd >= 1.6, kubelet >= 1.23; on the sandbox's spec):
//               io.kubernetes.cri.sandbox-memory (bytes), io.kubernetes.cri.sandbox-cpu-quota
//               and io.kubernetes.cri.sandbox-cpu-period (CFS, us),
//               io.kubernetes.cri.sandbox-cpu-shares (read and checked, but a relative weight,
//               not a count: it adds no vCPU, as in Kata)
// Contracts: pure functions. A value that is not what the runtime writes (an unknown
// container type, a pod container without a sandbox id, a number that does not parse) is
// INVALID_ARGUMENT naming the annotation and the value. A negative quota or memory means
// "unconstrained" and adds nothing (as in Kata).
#ifndef KATA_SRC_RUNTIME_SANDBOX_POD_H_
#define KATA_SRC_RUNTIME_SANDBOX_POD_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "src/libs/oci/spec.h"
#include "src/runtime/config/config.h"

namespace kata::runtime {

inline constexpr char kCriContainerType[] = "io.kubernetes.cri.container-type";
inline constexpr char kCriSandboxId[] = "io.kubernetes.cri.sandbox-id";
inline constexpr char kCrioContainerType[] = "io.kubernetes.cri-o.ContainerType";
inline constexpr char kCrioSandboxId[] = "io.kubernetes.cri-o.SandboxID";
inline constexpr char kCriSandboxMemory[] = "io.kubernetes.cri.sandbox-memory";
inline constexpr char kCriSandboxCpuQuota[] = "io.kubernetes.cri.sandbox-cpu-quota";
inline constexpr char kCriSandboxCpuPeriod[] = "io.kubernetes.cri.sandbox-cpu-period";
inline constexpr char kCriSandboxCpuShares[] = "io.kubernetes.cri.sandbox-cpu-shares";

enum class ContainerKind {
  kSingle,        // no pod annotations: a container that is its own sandbox (ctr run)
  kPodSandbox,    // the pod's sandbox (pause) container: the VM is made for it
  kPodContainer,  // a container joining the pod `sandbox_id`
};

struct PodRole {
  ContainerKind kind = ContainerKind::kSingle;
  std::string sandbox_id;  // the sandbox the container runs in (its own id unless kPodContainer)
};

absl::StatusOr<PodRole> PodRoleOf(const std::string& container_id, const oci::Spec& spec);

// Whether the container joins the pod's PID namespace (Kubernetes' shareProcessNamespace):
// containerd's CRI gives such a container a pid namespace entry with the path of the pod
// sandbox's one (/proc/<pause pid>/ns/pid), and a container of its own a pid entry without a
// path. A host path means nothing in the VM, so any path means the pod's namespace (as Kata's
// handlePidNamespace).
bool SharesPodPidNamespace(const oci::Spec& spec);

// What the pod asks on top of the VM's defaults.
struct PodResources {
  uint32_t vcpus = 0;       // ceil(quota / period)
  uint32_t memory_mib = 0;  // bytes / MiB, rounded down
};

// From the sizing annotations for a pod sandbox, from linux.resources (memory.limit,
// cpu.quota/cpu.period) for a single container, nothing for a pod container (the VM exists).
absl::StatusOr<PodResources> PodResourcesOf(const std::string& container_id, const oci::Spec& spec);

// Kata's calculateVCpusFromMilliCpus(calculateMilliCPUs(quota, period)): 0 when the quota is
// negative (unconstrained) or the period is 0.
uint32_t VcpusFor(int64_t quota, uint64_t period);

struct HostLimits {
  uint32_t cpus = 1;
  uint32_t memory_mib = 1;
};
// This host's online CPUs and total memory.
HostLimits CurrentHostLimits();

struct VmSize {
  uint32_t vcpus = 1;
  uint32_t memory_mib = 1;
};
// defaults + extra, at most default_maxvcpus / default_maxmemory (0 = the host's CPUs /
// memory), never below the defaults themselves.
VmSize SizeVm(const config::QemuConfig& q, const PodResources& extra, const HostLimits& host);

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_POD_H_
