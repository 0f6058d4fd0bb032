// The real SandboxFactory: resolves configuration.toml (runtime options' config_path,
// KATA_CONF_FILE, /etc, the installed default; config/resolve.h), applies the pod's allowed
// io.katacontainers.* annotations, and makes a VM sandbox (sandbox/vm_sandbox.h) with the QEMU
// driver's factory injected (hypervisor/qemu/factory.h): the sandbox itself knows no VMM.
#ifndef KATA_SRC_RUNTIME_SHIM_VM_FACTORY_H_
#define KATA_SRC_RUNTIME_SHIM_VM_FACTORY_H_

#include "src/runtime/shim/task_service.h"

namespace kata {
namespace shim {

SandboxFactory VmSandboxFactory();

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_VM_FACTORY_H_
