// The shim's management socket, as Kata's shim has it: HTTP over the unix socket
// <state_root>/<sid>/shim-monitor.sock (sandbox/layout.h; directory 0700, socket 0600, so only
// root reaches it), serving
//   GET /metrics   Prometheus text (CollectSandboxMetrics below)
//
//   KATA_ASSIGN_OR_RETURN(auto monitor, ShimMonitor::Start("s1", [&] { return service.View(); }));
//   ...
//   monitor.reset();   // stops serving, removes the socket and its directory
//
// CollectSandboxMetrics writes, for one sandbox:
//   kata_shim_*        this process (process_metrics.h: threads, fds, proc_status, proc_stat,
//                      io_stat, process_cpu_seconds_total, process_resident_memory_bytes, ...)
//   kata_hypervisor_*  the same for the VMM (the sandbox's first VM pid, QEMU)
//   kata_agent_*, kata_guest_*   the agent's GetMetrics text, passed through only if it parses
//                      strictly (prometheus.h), is at most kMaxAgentMetrics bytes and names only
//                      kata_agent_* / kata_guest_* series: the guest is not trusted, so it can
//                      neither break the host's exposition nor forge the shim's series; else it
//                      is left out with a comment saying why
//   kata_container_cpu_usage_seconds_total{container_id}, ..._cpu_user_seconds_total,
//   ..._cpu_system_seconds_total, kata_container_memory_usage_bytes, _memory_max_usage_bytes,
//   _memory_limit_bytes (when limited), kata_container_pids_current: each container's cgroup in
//   the guest (Sandbox::Stats, the numbers containerd's Stats gets)
//   kata_shim_scrape_errors: the parts that could not be read this time
// Calls into the sandbox run on the HTTP connection's thread, never under the TaskService's
// lock (the view is taken under it, then released); the agent calls are bounded by the
// sandbox's guest timeout.
#ifndef KATA_SRC_RUNTIME_SHIM_MONITOR_H_
#define KATA_SRC_RUNTIME_SHIM_MONITOR_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/libs/http/http.h"
#include "src/runtime/sandbox/sandbox.h"

namespace kata {
namespace shim {

inline constexpr size_t kMaxAgentMetrics = 4 << 20;

// What a scrape needs: the sandbox (null before the first Create) and its container ids. The
// sandbox outlives the ShimMonitor (the TaskService keeps it until it is destroyed).
struct SandboxView {
  runtime::Sandbox* sandbox = nullptr;
  std::vector<std::string> container_ids;
};

std::string CollectSandboxMetrics(const SandboxView& view, const std::string& proc_root = "/proc");

class ShimMonitor {
 public:
  // Creates <state_root>/<sandbox_id>/ (0700) and serves on its shim-monitor.sock.
  static absl::StatusOr<std::unique_ptr<ShimMonitor>> Start(const std::string& sandbox_id,
                                                            std::function<SandboxView()> view,
                                                            const std::string& state_root);
  ~ShimMonitor();

  const std::string& socket_path() const { return socket_path_; }

 private:
  ShimMonitor(std::string dir, std::string socket_path)
      : dir_(std::move(dir)), socket_path_(std::move(socket_path)) {}
  const std::string dir_, socket_path_;
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_MONITOR_H_
