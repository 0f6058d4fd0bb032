#include "src/runtime/shim/monitor.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/status_util.h"
#include "src/libs/metrics/process_metrics.h"
#include "src/libs/metrics/procfs.h"
#include "src/libs/metrics/prometheus.h"
#include "src/runtime/sandbox/layout.h"
#include "src/runtime/shim/log.h"

namespace kata {
namespace shim {
namespace {

using metrics::AppendFamily;
using metrics::MetricFamily;

// The agent's text if the guest may be believed; else why not.
absl::StatusOr<std::string> CheckedAgentText(runtime::Sandbox* sandbox) {
  absl::StatusOr<std::string> text = sandbox->AgentMetrics();
  if (!text.ok()) return text.status();
  if (text->size() > kMaxAgentMetrics) {
    return absl::ResourceExhaustedError(absl::StrCat("agent metrics: ", text->size(), " bytes"));
  }
  absl::StatusOr<metrics::Exposition> exp = metrics::ParseExposition(*text);
  if (!exp.ok()) return exp.status();
  for (const auto& s : exp->samples) {
    if (!absl::StartsWith(s.name, "kata_agent_") && !absl::StartsWith(s.name, "kata_guest_")) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent metrics: series ", s.name, " is not the agent's nor the guest's"));
    }
  }
  for (const auto* names : {&exp->types, &exp->helps}) {
    for (const auto& [name, unused] : *names) {
      if (!absl::StartsWith(name, "kata_agent_") && !absl::StartsWith(name, "kata_guest_")) {
        return absl::InvalidArgumentError(
            absl::StrCat("agent metrics: family ", name, " is not the agent's nor the guest's"));
      }
    }
  }
  return metrics::FormatExposition(*exp);  // only what was understood: no comments
}

void AppendContainers(const SandboxView& view, std::string* out, int* errors) {
  MetricFamily cpu{"kata_container_cpu_usage_seconds_total",
                   "counter",
                   "CPU time of the container's cgroup in the guest, in seconds.",
                   {}};
  MetricFamily user{"kata_container_cpu_user_seconds_total",
                    "counter",
                    "User CPU time of the container's cgroup in the guest, in seconds.",
                    {}};
  MetricFamily sys{"kata_container_cpu_system_seconds_total",
                   "counter",
                   "System CPU time of the container's cgroup in the guest, in seconds.",
                   {}};
  MetricFamily mem{"kata_container_memory_usage_bytes",
                   "gauge",
                   "Memory usage of the container's cgroup in the guest.",
                   {}};
  MetricFamily max{"kata_container_memory_max_usage_bytes",
                   "gauge",
                   "Peak memory usage of the container's cgroup in the guest.",
                   {}};
  MetricFamily limit{"kata_container_memory_limit_bytes",
                     "gauge",
                     "Memory limit of the container's cgroup in the guest (when limited).",
                     {}};
  MetricFamily pids{"kata_container_pids_current",
                    "gauge",
                    "Processes in the container's cgroup in the guest.",
                    {}};
  for (const std::string& cid : view.container_ids) {
    absl::StatusOr<runtime::ContainerStats> s = view.sandbox->Stats(cid);
    if (!s.ok()) {
      // A container not running has no cgroup to read: not an error.
      if (s.status().code() != absl::StatusCode::kFailedPrecondition) ++*errors;
      continue;
    }
    metrics::Labels l = {{"container_id", cid}};
    if (s->cpu) {
      cpu.samples.push_back({l, static_cast<double>(s->cpu->total_ns) / 1e9});
      user.samples.push_back({l, static_cast<double>(s->cpu->user_ns) / 1e9});
      sys.samples.push_back({l, static_cast<double>(s->cpu->kernel_ns) / 1e9});
    }
    if (s->memory) {
      mem.samples.push_back({l, static_cast<double>(s->memory->usage.usage)});
      max.samples.push_back({l, static_cast<double>(s->memory->usage.max_usage)});
      uint64_t lim = s->memory->usage.limit;
      if (lim != 0 && lim < (uint64_t{1} << 62))
        limit.samples.push_back({l, static_cast<double>(lim)});
    }
    if (s->pids) pids.samples.push_back({l, static_cast<double>(s->pids->current)});
  }
  for (const MetricFamily* f : {&cpu, &user, &sys, &mem, &max, &limit, &pids}) {
    AppendFamily(*f, out);
  }
}

}  // namespace

std::string CollectSandboxMetrics(const SandboxView& view, const std::string& proc_root) {
  std::string out;
  int errors = 0;
  if (auto me = metrics::ReadProcessStats(proc_root, "self"); me.ok()) {
    metrics::AppendProcessMetrics("kata_shim", *me, &out);
  } else {
    ++errors;
  }
  if (view.sandbox != nullptr) {
    std::vector<pid_t> pids = view.sandbox->VmPids();
    if (!pids.empty()) {
      if (auto vmm = metrics::ReadProcessStats(proc_root, std::to_string(pids[0])); vmm.ok()) {
        metrics::AppendProcessMetrics("kata_hypervisor", *vmm, &out);
      } else {
        ++errors;
      }
    }
    absl::StatusOr<std::string> agent = CheckedAgentText(view.sandbox);
    if (agent.ok()) {
      out += *agent;
    } else {
      ++errors;
      std::string why(agent.status().message().substr(0, 200));
      for (char& c : why) {  // the cause may quote the guest
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = ' ';
      }
      absl::StrAppend(&out, "# agent metrics left out: ", why, "\n");
    }
    AppendContainers(view, &out, &errors);
  }
  AppendFamily({"kata_shim_scrape_errors",
                "gauge",
                "Parts of this scrape that could not be read (shim, hypervisor, agent, "
                "containers).",
                {{{}, static_cast<double>(errors)}}},
               &out);
  return out;
}

absl::StatusOr<std::unique_ptr<ShimMonitor>> ShimMonitor::Start(const std::string& sandbox_id,
                                                                std::function<SandboxView()> view,
                                                                const std::string& state_root) {
  if (mkdir(state_root.c_str(), 0711) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir " + state_root);
  }
  const std::string dir = absl::StrCat(state_root, "/", sandbox_id);
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir " + dir);
  std::unique_ptr<ShimMonitor> m(
      new ShimMonitor(dir, absl::StrCat(dir, "/", runtime::kShimMonitorSocket)));
  absl::StatusOr<UniqueFd> l = http::ListenUnix(m->socket_path_, 0600);
  if (!l.ok()) return l.status();
  absl::StatusOr<std::unique_ptr<http::HttpServer>> server = http::HttpServer::Start(
      std::move(*l), {{"/metrics", [view = std::move(view)] {
                         return http::HttpResponse{200, http::kPrometheusContentType,
                                                   CollectSandboxMetrics(view())};
                       }}});
  if (!server.ok()) return server.status();
  m->server_ = std::move(*server);
  return m;
}

ShimMonitor::~ShimMonitor() {
  if (server_) server_->Stop();
  unlink(socket_path_.c_str());
  rmdir(dir_.c_str());
}

}  // namespace shim
}  // namespace kata
