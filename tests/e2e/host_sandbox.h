// A Sandbox (src/runtime/sandbox/sandbox.h) that runs each container as plain host processes
// chrooted into containerd's rootfs: no VM, no isolation. It exists only so the shim's
// containerd-facing half (start/delete, Task rpcs, events, FIFO stdio, exit codes, exec,
// signals, pause, metrics, one shim per pod) can be tested against the real containerd
// independently of the VM path (containerd_e2e_test.sh host). Never use it for anything else.
#ifndef KATA_TESTS_E2E_HOST_SANDBOX_H_
#define KATA_TESTS_E2E_HOST_SANDBOX_H_

#include <memory>
#include <string>

#include "src/runtime/sandbox/sandbox.h"

namespace kata::e2e {

std::unique_ptr<runtime::Sandbox> NewHostSandbox(const std::string& id);

}  // namespace kata::e2e

#endif  // KATA_TESTS_E2E_HOST_SANDBOX_H_
