#include "src/runtime/sandbox/vm_sandbox.h"

namespace kata::runtime {

// Placeholder until the implementation lands (the API is committed first for the shim).
absl::StatusOr<std::unique_ptr<Sandbox>> NewVmSandbox(SandboxOptions options) {
  return absl::UnimplementedError("sandbox " + options.id + ": NewVmSandbox not implemented yet");
}

absl::StatusOr<hypervisor::VmConfig> VmConfigFor(const config::RuntimeConfig&,
                                                 const std::string& sandbox_id,
                                                 const SandboxPaths&) {
  return absl::UnimplementedError("sandbox " + sandbox_id + ": VmConfigFor not implemented yet");
}

absl::Status CleanupSandbox(const std::string& sandbox_id, const SandboxPaths&) {
  return absl::UnimplementedError("sandbox " + sandbox_id +
                                  ": CleanupSandbox not implemented yet");
}

}  // namespace kata::runtime
