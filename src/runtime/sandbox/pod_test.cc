#include "src/runtime/sandbox/pod.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::runtime {
namespace {

using ::testing::HasSubstr;

oci::Spec WithAnnotations(oci::StringMap a) {
  oci::Spec s;
  s.annotations = std::move(a);
  return s;
}

TEST(PodRoleOf, NoAnnotationsIsASingleContainer) {
  absl::StatusOr<PodRole> r = PodRoleOf("c1", oci::Spec());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ContainerKind::kSingle);
  EXPECT_EQ(r->sandbox_id, "c1");
}

TEST(PodRoleOf, ContainerdNames) {
  absl::StatusOr<PodRole> r = PodRoleOf(
      "pause", WithAnnotations({{kCriContainerType, "sandbox"}, {kCriSandboxId, "pause"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ContainerKind::kPodSandbox);
  EXPECT_EQ(r->sandbox_id, "pause");
  r = PodRoleOf("c1",
                WithAnnotations({{kCriContainerType, "container"}, {kCriSandboxId, "pause"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ContainerKind::kPodContainer);
  EXPECT_EQ(r->sandbox_id, "pause");
}

TEST(PodRoleOf, CrioNames) {
  absl::StatusOr<PodRole> r = PodRoleOf(
      "infra", WithAnnotations({{kCrioContainerType, "sandbox"}, {kCrioSandboxId, "infra"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ContainerKind::kPodSandbox);
  r = PodRoleOf("c1",
                WithAnnotations({{kCrioContainerType, "container"}, {kCrioSandboxId, "infra"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ContainerKind::kPodContainer);
  EXPECT_EQ(r->sandbox_id, "infra");
}

TEST(PodRoleOf, ContainerdNamesWinOverCrio) {
  absl::StatusOr<PodRole> r = PodRoleOf("c1", WithAnnotations({{kCriContainerType, "container"},
                                                               {kCriSandboxId, "a"},
                                                               {kCrioContainerType, "sandbox"},
                                                               {kCrioSandboxId, "b"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ContainerKind::kPodContainer);
  EXPECT_EQ(r->sandbox_id, "a");
}

TEST(PodRoleOf, BadValuesAreRejectedByName) {
  absl::Status s = PodRoleOf("c1", WithAnnotations({{kCriContainerType, "podsandbox"}})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("io.kubernetes.cri.container-type=\"podsandbox\""));
  s = PodRoleOf("c1", WithAnnotations({{kCrioContainerType, "container"}})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("without a sandbox id"));
  s = PodRoleOf("c1", WithAnnotations({{kCriContainerType, "container"}, {kCriSandboxId, ""}}))
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(SharesPodPidNamespace, APidPathMeansThePods) {
  oci::Spec s;
  EXPECT_FALSE(SharesPodPidNamespace(s));
  s.linux.emplace();
  s.linux->namespaces = std::vector<oci::LinuxNamespace>{{"pid", std::nullopt, {}}};
  EXPECT_FALSE(SharesPodPidNamespace(s));  // a namespace of its own
  s.linux->namespaces =
      std::vector<oci::LinuxNamespace>{{"network", std::string("/var/run/netns/x"), {}},
                                       {"pid", std::string("/proc/4242/ns/pid"), {}}};
  EXPECT_TRUE(SharesPodPidNamespace(s));  // containerd CRI's shareProcessNamespace
  s.linux->namespaces = std::vector<oci::LinuxNamespace>{{"pid", std::string(), {}}};
  EXPECT_FALSE(SharesPodPidNamespace(s));
  s.linux->namespaces = std::vector<oci::LinuxNamespace>{{"mount", std::nullopt, {}}};
  EXPECT_FALSE(SharesPodPidNamespace(s));  // host pid (no entry): a new one in the guest
}

TEST(VcpusFor, AsKata) {
  EXPECT_EQ(VcpusFor(220000, 100000), 3u);  // 2200 mCPU rounds up
  EXPECT_EQ(VcpusFor(200000, 100000), 2u);
  EXPECT_EQ(VcpusFor(100, 100000), 1u);  // 1 mCPU: one vCPU
  EXPECT_EQ(VcpusFor(99, 100000), 0u);   // under 1 mCPU: nothing (Kata's integer mCPUs)
  EXPECT_EQ(VcpusFor(0, 100000), 0u);
  EXPECT_EQ(VcpusFor(-1, 100000), 0u);  // unconstrained
  EXPECT_EQ(VcpusFor(50000, 0), 0u);
  EXPECT_EQ(VcpusFor(INT64_MAX, 1), UINT32_MAX);  // saturates
}

TEST(PodResourcesOf, SandboxAnnotations) {
  oci::Spec s = WithAnnotations({{kCriContainerType, "sandbox"},
                                 {kCriSandboxId, "p"},
                                 {kCriSandboxMemory, "536870912"},
                                 {kCriSandboxCpuQuota, "200000"},
                                 {kCriSandboxCpuPeriod, "100000"},
                                 {kCriSandboxCpuShares, "2048"}});
  absl::StatusOr<PodResources> r = PodResourcesOf("p", s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->memory_mib, 512u);
  EXPECT_EQ(r->vcpus, 2u);
  // What containerd writes for a pod without limits: nothing extra.
  s = WithAnnotations({{kCriContainerType, "sandbox"},
                       {kCriSandboxMemory, "0"},
                       {kCriSandboxCpuQuota, "0"},
                       {kCriSandboxCpuPeriod, "100000"},
                       {kCriSandboxCpuShares, "2"}});
  r = PodResourcesOf("p", s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->memory_mib, 0u);
  EXPECT_EQ(r->vcpus, 0u);
  (*s.annotations)[kCriSandboxMemory] = "-1";
  (*s.annotations)[kCriSandboxCpuQuota] = "-1";
  r = PodResourcesOf("p", s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->memory_mib, 0u);
  EXPECT_EQ(r->vcpus, 0u);
}

TEST(PodResourcesOf, BadSizingAnnotationsAreRejected) {
  for (const char* key :
       {kCriSandboxMemory, kCriSandboxCpuQuota, kCriSandboxCpuPeriod, kCriSandboxCpuShares}) {
    oci::Spec s = WithAnnotations({{kCriContainerType, "sandbox"}, {key, "12x"}});
    absl::Status st = PodResourcesOf("p", s).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(st.message(), HasSubstr(std::string(key) + "=\"12x\"")) << key;
  }
  oci::Spec s = WithAnnotations({{kCriContainerType, "sandbox"}, {kCriSandboxCpuPeriod, "-5"}});
  EXPECT_EQ(PodResourcesOf("p", s).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PodResourcesOf, SingleContainerLimitsAndPodContainers) {
  oci::Spec s;
  s.linux.emplace();
  s.linux->resources.emplace();
  s.linux->resources->memory.emplace();
  s.linux->resources->memory->limit = 256 << 20;
  s.linux->resources->cpu.emplace();
  s.linux->resources->cpu->quota = 150000;
  s.linux->resources->cpu->period = 100000;
  absl::StatusOr<PodResources> r = PodResourcesOf("c1", s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->memory_mib, 256u);
  EXPECT_EQ(r->vcpus, 2u);
  // A pod's container joins a VM that exists: it asks nothing of the VM's size here.
  s.annotations = oci::StringMap{{kCriContainerType, "container"}, {kCriSandboxId, "p"}};
  r = PodResourcesOf("c1", s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->memory_mib, 0u);
  EXPECT_EQ(r->vcpus, 0u);
}

TEST(SizeVm, DefaultsPlusThePodWithinTheMaxima) {
  config::QemuConfig q;
  q.default_vcpus = 1;
  q.default_memory = 2048;
  const HostLimits host{8, 16384};
  VmSize v = SizeVm(q, {2, 512}, host);
  EXPECT_EQ(v.vcpus, 3u);
  EXPECT_EQ(v.memory_mib, 2560u);
  v = SizeVm(q, {}, host);
  EXPECT_EQ(v.vcpus, 1u);
  EXPECT_EQ(v.memory_mib, 2048u);
  // 0 maxima: the host's.
  v = SizeVm(q, {100, 100000}, host);
  EXPECT_EQ(v.vcpus, 8u);
  EXPECT_EQ(v.memory_mib, 16384u);
  q.default_maxvcpus = 2;
  q.default_maxmemory = 3000;
  v = SizeVm(q, {100, 100000}, host);
  EXPECT_EQ(v.vcpus, 2u);
  EXPECT_EQ(v.memory_mib, 3000u);
  // Never below the defaults, even on a smaller host.
  v = SizeVm(q, {UINT32_MAX, UINT32_MAX}, HostLimits{1, 512});
  EXPECT_EQ(v.vcpus, 2u);
  EXPECT_EQ(v.memory_mib, 3000u);
  q.default_maxvcpus = 0;
  q.default_maxmemory = 0;
  v = SizeVm(q, {4, 4096}, HostLimits{1, 1024});
  EXPECT_EQ(v.vcpus, 1u);
  EXPECT_EQ(v.memory_mib, 2048u);
}

TEST(CurrentHostLimits, ReadsThisHost) {
  const HostLimits h = CurrentHostLimits();
  EXPECT_GE(h.cpus, 1u);
  EXPECT_GT(h.memory_mib, 64u);
}

}  // namespace
}  // namespace kata::runtime
