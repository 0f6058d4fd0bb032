#include "src/runtime/config/annotations.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::config {
namespace {

using ::testing::HasSubstr;

constexpr char kPrefix[] = "io.katacontainers.config.hypervisor.";

RuntimeConfig Base() {
  RuntimeConfig c;
  c.hypervisor.initrd = "/opt/kata/initrd.img";
  c.hypervisor.kernel_params = "console=ttyS0 quiet";
  c.hypervisor.enable_annotations = {"default_.*", "kernel_params", "machine_type", "path",
                                     "enable_iommu"};
  c.hypervisor.valid_hypervisor_paths = {"/usr/bin/qemu-*"};
  EXPECT_TRUE(Validate(c).ok());
  return c;
}

std::string A(const std::string& key) { return kPrefix + key; }

TEST(AnnotationsTest, EnabledAnnotationsOverride) {
  RuntimeConfig c = Base();
  absl::Status s = ApplyAnnotations({{A("default_memory"), "4096"},
                                     {A("default_vcpus"), "2"},
                                     {A("default_max_vcpus"), "8"},
                                     {A("machine_type"), "pc"},
                                     {A("enable_iommu"), "true"},
                                     {A("path"), "/usr/bin/qemu-system-aarch64"}},
                                    &c);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(c.hypervisor.default_memory, 4096u);
  EXPECT_EQ(c.hypervisor.default_vcpus, 2u);
  EXPECT_EQ(c.hypervisor.default_maxvcpus, 8u);
  EXPECT_EQ(c.hypervisor.machine_type, "pc");
  EXPECT_TRUE(c.hypervisor.enable_iommu);
  EXPECT_EQ(c.hypervisor.path, "/usr/bin/qemu-system-aarch64");
}

TEST(AnnotationsTest, KernelParamsReplaceSameNameOrAppend) {
  RuntimeConfig c = Base();
  ASSERT_TRUE(ApplyAnnotations({{A("kernel_params"), "console=hvc0 debug"}}, &c).ok());
  EXPECT_EQ(c.hypervisor.kernel_params, "console=hvc0 quiet debug");
}

TEST(AnnotationsTest, OtherAnnotationsIgnored) {
  RuntimeConfig c = Base();
  absl::Status s = ApplyAnnotations({{"io.kubernetes.cri.sandbox-id", "x"},
                                     {"io.katacontainers.config.runtime.enable_debug", "x"},
                                     {"io.katacontainers.config.hypervisor", "x"}},
                                    &c);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(AnnotationsTest, NotEnabledIsPermissionDenied) {
  RuntimeConfig c = Base();
  absl::Status s = ApplyAnnotations({{A("shared_fs"), "none"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("annotation io.katacontainers.config.hypervisor.shared_fs is not enabled"));
}

TEST(AnnotationsTest, PatternsAreAnchored) {
  RuntimeConfig c = Base();
  // "kernel_params" must not enable "kernel_params_x" nor "xkernel_params".
  EXPECT_EQ(ApplyAnnotations({{A("kernel_params_x"), "a"}}, &c).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ApplyAnnotations({{A("xkernel_params"), "a"}}, &c).code(),
            absl::StatusCode::kPermissionDenied);
  c.hypervisor.enable_annotations = {};
  EXPECT_EQ(ApplyAnnotations({{A("default_memory"), "1"}}, &c).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AnnotationsTest, PathOutsideItsGuardIsDenied) {
  RuntimeConfig c = Base();
  absl::Status s = ApplyAnnotations({{A("path"), "/tmp/evil-qemu"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("valid_hypervisor_paths"));
  EXPECT_EQ(c.hypervisor.path, kDefaultQemuPath);
}

TEST(AnnotationsTest, BadValuesAreInvalidArgument) {
  RuntimeConfig c = Base();
  absl::Status s = ApplyAnnotations({{A("default_memory"), "-1"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("annotation io.katacontainers.config.hypervisor.default_memory: expected "
                        "an unsigned 32-bit integer, got \"-1\""));

  s = ApplyAnnotations({{A("default_vcpus"), "0"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("hypervisor.qemu.default_vcpus: must be at least 1, got 0"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("default_vcpus=\"0\""));

  s = ApplyAnnotations({{A("machine_type"), "q99"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("hypervisor.qemu.machine_type: unknown value"));

  s = ApplyAnnotations({{A("enable_iommu"), "yes"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("expected a boolean, got \"yes\""));

  c.hypervisor.enable_annotations = {".*"};
  s = ApplyAnnotations({{A("jailer_path"), "/x"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("jailer_path: not supported by kata-cpp"));
}

TEST(AnnotationsTest, AllOrNothing) {
  RuntimeConfig c = Base();
  // default_memory is fine and sorts first; default_vcpus is bad: nothing changes.
  absl::Status s = ApplyAnnotations({{A("default_memory"), "4096"}, {A("default_vcpus"), "x"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.hypervisor.default_memory, 2048u);

  // A denied annotation wins over a bad value and also leaves everything unchanged.
  s = ApplyAnnotations({{A("default_memory"), "4096"}, {A("shared_fs"), "none"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(c.hypervisor.default_memory, 2048u);

  // Valid one by one, invalid together (vcpus above the max): nothing changes.
  s = ApplyAnnotations({{A("default_vcpus"), "4"}, {A("default_max_vcpus"), "2"}}, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.hypervisor.default_vcpus, 1u);
  EXPECT_EQ(c.hypervisor.default_maxvcpus, 0u);
}

TEST(AnnotationsTest, SupportedKeysListed) {
  EXPECT_THAT(AnnotationKeys(), ::testing::Contains("default_memory"));
  EXPECT_THAT(AnnotationKeys(), ::testing::Contains("kernel_params"));
}

}  // namespace
}  // namespace kata::config
