#include "src/runtime/shim/vm_factory.h"

#include <optional>

#include "src/libs/base/status_macros.h"
#include "src/libs/trace/scoped_span.h"
#include "src/runtime/config/annotations.h"
#include "src/runtime/config/resolve.h"
#include "src/runtime/hypervisor/qemu/factory.h"
#include "src/runtime/network/tcfilter/tcfilter.h"
#include "src/runtime/sandbox/vm_sandbox.h"
#include "src/runtime/shim/log.h"

namespace kata {
namespace shim {

SandboxFactory VmSandboxFactory() {
  return [](const std::string& id, const oci::Spec& spec,
            const std::string& config_path) -> absl::StatusOr<std::unique_ptr<runtime::Sandbox>> {
    std::optional<trace::ScopedSpan> span(std::in_place, "config.load");
    KATA_ASSIGN_OR_RETURN(config::ResolvedConfig resolved,
                          config::Resolve(config_path, config::ProcessEnvironment()));
    SHIM_LOG(Info) << "sandbox " << id << ": configuration " << resolved.path << " ("
                   << config::SourceName(resolved.source) << ")";
    for (const std::string& w : resolved.config.warnings) {
      SHIM_LOG(Warning) << "sandbox " << id << ": configuration " << resolved.path << ": " << w;
    }
    KATA_RETURN_IF_ERROR(
        config::ApplyAnnotations(spec.annotations.value_or(oci::StringMap{}), &resolved.config));
    span.reset();
    runtime::SandboxOptions options;
    options.id = id;
    options.spec = spec;
    options.config = std::move(resolved.config);
    // The one place that knows which VMM runs: QEMU (its driver reads [hypervisor.qemu]).
    options.hypervisor_factory = hypervisor::qemu::QemuFactory();
    // Kata's tcfilter pod network (taps + tc mirred in the spec's network namespace).
    options.network_factory = runtime::network::TcFilterNetworkFactory(
        [](absl::string_view line) { SHIM_LOG(Info) << line; });
    options.on_warning = [](absl::string_view message) { SHIM_LOG(Warning) << message; };
    return runtime::NewVmSandbox(std::move(options));
  };
}

}  // namespace shim
}  // namespace kata
