// cri-ctl: a command-line client for the Kubernetes CRI (runtime.v1 RuntimeService and
// ImageService over gRPC, tools/cri-ctl/api.proto), to drive a CRI runtime such as
// containerd's CRI plugin with kata-cpp as kubelet would, without a cluster:
//
//   cri-ctl --endpoint /run/containerd/containerd.sock runp --runtime kata pod.json
//   cri-ctl create POD_ID container.json pod.json && cri-ctl start CONTAINER_ID
//   cri-ctl exec --timeout 10 CONTAINER_ID sh -c 'echo hi'
//
// UsageText() is the manual (commands, options, exit codes). The binary (main.cc) only
// forwards its argv to RunCriCtl.
//
// Promises:
// - RunCriCtl writes results to `out` and diagnostics to `err` only and returns an exit code
//   (ExitCode, or for `exec` the command's own exit code); it never exits the process.
// - Usage errors and config files that are not valid JSON for their message (protobuf's JSON
//   mapping; unknown fields are errors) are reported before any connection is made.
// - Every rpc has a deadline (--timeout, default 300 s; `exec --timeout T`: T + 30 s).
// - Messages are printed as JSON with the .proto field names, scalar fields at their default
//   value included (SANDBOX_READY, exit_code 0); ids are printed alone on a line.
#ifndef KATA_TOOLS_CRI_CTL_CRI_CTL_H_
#define KATA_TOOLS_CRI_CTL_CRI_CTL_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace kata {
namespace cri_ctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitRpcError = 1,      // the runtime answered an error (or a check such as `logs` failed)
  kExitUsage = 2,         // bad command line or config file
  kExitConnection = 3,    // the endpoint does not answer
  kExitExecFailed = 125,  // `exec`: the ExecSync rpc itself failed
};

std::string UsageText();

int RunCriCtl(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
              std::ostream& err);

}  // namespace cri_ctl
}  // namespace kata

#endif  // KATA_TOOLS_CRI_CTL_CRI_CTL_H_
