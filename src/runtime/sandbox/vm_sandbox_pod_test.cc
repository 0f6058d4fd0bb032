// VmSandbox as a Kubernetes pod: the VM sized for the pod (static_sandbox_resource_mgmt), the
// pod's shared PID namespace asked of the agent (fixture: vm_sandbox_test_fixture.h).
#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/runtime/sandbox/pod.h"
#include "src/runtime/sandbox/vm_sandbox_test_fixture.h"

namespace kata::runtime::vm_sandbox_test {
namespace {

oci::Spec PodSandboxSpec(oci::StringMap sizing) {
  oci::Spec s = SpecWithArgs({"sleep"});
  s.annotations = std::move(sizing);
  (*s.annotations)[kCriContainerType] = "sandbox";
  (*s.annotations)[kCriSandboxId] = "sb1";
  return s;
}

TEST_F(VmSandboxTest, TheVmIsSizedForThePod) {
  tune_config_ = [](config::RuntimeConfig& c) {
    c.hypervisor.default_memory = 256;
    c.hypervisor.default_vcpus = 1;
    c.hypervisor.default_maxvcpus = 4;
  };
  MakeSandbox(PodSandboxSpec({{kCriSandboxMemory, "536870912"},
                              {kCriSandboxCpuQuota, "200000"},
                              {kCriSandboxCpuPeriod, "100000"},
                              {kCriSandboxCpuShares, "2048"}}));
  ASSERT_TRUE(sandbox_->Start().ok());
  ASSERT_TRUE(factory_config_->has_value());
  EXPECT_EQ((*factory_config_)->hypervisor.default_memory, 256u + 512u);
  EXPECT_EQ((*factory_config_)->hypervisor.default_vcpus, 3u);
  ASSERT_TRUE(sandbox_->Shutdown().ok());
}

TEST_F(VmSandboxTest, PodSizeStopsAtTheMaxima) {
  tune_config_ = [](config::RuntimeConfig& c) {
    c.hypervisor.default_memory = 256;
    c.hypervisor.default_maxmemory = 512;
    c.hypervisor.default_maxvcpus = 2;
  };
  MakeSandbox(PodSandboxSpec({{kCriSandboxMemory, "4294967296"},
                              {kCriSandboxCpuQuota, "800000"},
                              {kCriSandboxCpuPeriod, "100000"}}));
  ASSERT_TRUE(sandbox_->Start().ok());
  EXPECT_EQ((*factory_config_)->hypervisor.default_memory, 512u);
  EXPECT_EQ((*factory_config_)->hypervisor.default_vcpus, 2u);
  ASSERT_TRUE(sandbox_->Shutdown().ok());
}

TEST_F(VmSandboxTest, WithoutStaticResourceManagementTheVmHasTheDefaults) {
  tune_config_ = [](config::RuntimeConfig& c) {
    c.hypervisor.default_memory = 256;
    c.runtime.static_sandbox_resource_mgmt = false;
  };
  MakeSandbox(PodSandboxSpec({{kCriSandboxMemory, "536870912"}}));
  ASSERT_TRUE(sandbox_->Start().ok());
  EXPECT_EQ((*factory_config_)->hypervisor.default_memory, 256u);
  EXPECT_EQ((*factory_config_)->hypervisor.default_vcpus, 1u);
  ASSERT_TRUE(sandbox_->Shutdown().ok());
}

TEST_F(VmSandboxTest, BadSizingAnnotationFailsStartBeforeAnythingIsMade) {
  MakeSandbox(PodSandboxSpec({{kCriSandboxMemory, "512Mi"}}));
  EXPECT_CALL(*vm_, CreateVm(_)).Times(0);
  absl::Status s = sandbox_->Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("sandbox sb1"));
  EXPECT_THAT(s.message(), HasSubstr("io.kubernetes.cri.sandbox-memory=\"512Mi\""));
  EXPECT_FALSE(factory_config_->has_value());
  ExpectNothingLeft();
}

// shareProcessNamespace: the sandbox is made without a PID namespace of its own (the agent
// takes the first container's, the pause container's); a container whose pid namespace has a
// path (containerd's CRI: the pause container's) joins it, others do not.
TEST_F(VmSandboxTest, ContainersWithAPidNamespacePathJoinThePods) {
  MakeSandbox();
  ASSERT_TRUE(sandbox_->Start().ok());
  auto sandboxes = agent_.RequestsAs<::grpc::CreateSandboxRequest>("CreateSandbox");
  ASSERT_EQ(sandboxes.size(), 1u);
  EXPECT_FALSE(sandboxes[0].sandbox_pidns());
  ASSERT_TRUE(sandbox_->CreateContainer(Config("own", {"sleep"})).ok());
  ContainerConfig shared = Config("shared", {"sleep"});
  shared.spec.linux->namespaces = std::vector<oci::LinuxNamespace>{
      {"pid", std::string("/proc/4242/ns/pid"), {}}, {"mount", std::nullopt, {}}};
  ASSERT_TRUE(sandbox_->CreateContainer(shared).ok());
  auto created = agent_.RequestsAs<::grpc::CreateContainerRequest>("CreateContainer");
  ASSERT_EQ(created.size(), 2u);
  EXPECT_FALSE(created[0].sandbox_pidns());
  EXPECT_TRUE(created[1].sandbox_pidns());
  // The host's path never reaches the guest.
  for (const auto& ns : created[1].oci().linux().namespaces()) EXPECT_EQ(ns.path(), "");
  ASSERT_TRUE(sandbox_->Shutdown().ok());
}

}  // namespace
}  // namespace kata::runtime::vm_sandbox_test
