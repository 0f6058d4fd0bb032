// kata-runtime metrics <sandbox-id>: prints the sandbox's Prometheus metrics, fetched from its
// shim's management socket (<state_root>/<sandbox-id>/shim-monitor.sock, src/runtime/shim/
// monitor.h): the shim's, the hypervisor's, the agent's and guest's, the containers'.
//
//   kata-runtime metrics s1      # exit 0, the text on stdout
//
// Errors (exit 1, one line on stderr): an id that is not a plain name (checked before any path
// is built from it); no such sandbox (no socket); a shim that does not answer in `timeout`; an
// answer other than 200 or one that is not valid Prometheus text. Usage errors exit 2.
#ifndef KATA_SRC_RUNTIME_CLI_METRICS_CMD_H_
#define KATA_SRC_RUNTIME_CLI_METRICS_CMD_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace kata::runtime::cli {

// `args` are the words after "metrics".
int RunMetrics(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
               const std::string& state_root, absl::Duration timeout = absl::Seconds(30));

}  // namespace kata::runtime::cli

#endif  // KATA_SRC_RUNTIME_CLI_METRICS_CMD_H_
