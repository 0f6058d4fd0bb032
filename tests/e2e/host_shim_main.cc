// containerd-shim-kata-v2 with the host-process Sandbox of host_sandbox.h instead of a VM:
// the shim's containerd contract under the real containerd, without the VM path.
#include "src/runtime/shim/shim.h"
#include "tests/e2e/host_sandbox.h"

int main(int argc, char** argv) {
  kata::shim::ShimEnv env;
  env.factory = [](const std::string& id, const kata::oci::Spec&,
                   const std::string&) -> absl::StatusOr<std::unique_ptr<kata::runtime::Sandbox>> {
    return kata::e2e::NewHostSandbox(id);
  };
  env.cleanup = [](const std::string&) { return absl::OkStatus(); };
  return kata::shim::ShimMain(argc, argv, env);
}
