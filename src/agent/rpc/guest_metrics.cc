#include "src/agent/rpc/guest_metrics.h"

#include "src/libs/metrics/process_metrics.h"
#include "src/libs/metrics/procfs.h"
#include "src/libs/metrics/prometheus.h"

namespace kata {
namespace agent {
namespace {

using metrics::AppendFamily;
using metrics::Counters;
using metrics::ItemFamily;
using metrics::MetricFamily;

MetricFamily Gauge(std::string name, std::string help, double value) {
  return {std::move(name), "gauge", std::move(help), {{{}, value}}};
}

// One family over a map of counters per `label` value (interface, disk).
MetricFamily Nested(std::string name, std::string help, const std::string& label,
                    const std::map<std::string, Counters>& by) {
  MetricFamily f{std::move(name), "gauge", std::move(help), {}};
  for (const auto& [key, counters] : by) {
    MetricFamily one = ItemFamily("", "", counters, "item", {{label, key}});
    for (auto& s : one.samples) f.samples.push_back(std::move(s));
  }
  return f;
}

}  // namespace

std::string GuestMetrics::Collect() {
  const uint64_t scrapes = ++scrapes_;
  std::string out;
  AppendFamily({"kata_agent_scrape_count",
                "counter",
                "Metrics scrape count",
                {{{}, static_cast<double>(scrapes)}}},
               &out);
  AppendAgent(&out);
  AppendGuest(&out);
  return out;
}

void GuestMetrics::AppendAgent(std::string* out) const {
  absl::StatusOr<metrics::ProcessStats> me = metrics::ReadProcessStats(proc_root_, "self");
  if (!me.ok()) return;
  AppendFamily(Gauge("kata_agent_total_time", "Agent process total time", me->cpu_seconds), out);
  AppendFamily(Gauge("kata_agent_total_vm", "Agent process total VM size",
                     static_cast<double>(me->virtual_bytes)),
               out);
  AppendFamily(Gauge("kata_agent_total_rss", "Agent process total RSS size",
                     static_cast<double>(me->rss_bytes)),
               out);
  metrics::AppendProcessMetrics("kata_agent", *me, out);
}

void GuestMetrics::AppendGuest(std::string* out) const {
  if (absl::StatusOr<metrics::LoadAvg> load = metrics::ReadLoadAvg(proc_root_); load.ok()) {
    AppendFamily({"kata_guest_load",
                  "gauge",
                  "Guest system load.",
                  {{{{"item", "load1"}}, load->load1},
                   {{{"item", "load5"}}, load->load5},
                   {{{"item", "load15"}}, load->load15}}},
                 out);
    AppendFamily({"kata_guest_tasks",
                  "gauge",
                  "Guest system tasks (running and in all).",
                  {{{{"item", "cur"}}, static_cast<double>(load->tasks_running)},
                   {{{"item", "max"}}, static_cast<double>(load->tasks_total)}}},
                 out);
  }
  if (auto cpus = metrics::ReadCpuTimes(proc_root_); cpus.ok()) {
    std::map<std::string, Counters> by_cpu;
    for (const auto& c : *cpus) by_cpu[c.cpu] = c.ms;
    AppendFamily(
        Nested("kata_guest_cpu_time", "Guest CPU statistics, in milliseconds.", "cpu", by_cpu),
        out);
  }
  if (auto vm = metrics::ReadVmstat(proc_root_); vm.ok()) {
    AppendFamily(ItemFamily("kata_guest_vm_stat", "Guest virtual memory statistics.", *vm), out);
  }
  if (auto net = metrics::ReadNetDev(proc_root_); net.ok()) {
    AppendFamily(
        Nested("kata_guest_netdev_stat", "Guest net devices statistics.", "interface", *net), out);
  }
  if (auto disks = metrics::ReadDiskstats(proc_root_); disks.ok()) {
    AppendFamily(Nested("kata_guest_diskstat", "Disks statistics in system.", "disk", *disks), out);
  }
  if (auto mem = metrics::ReadMeminfo(proc_root_); mem.ok()) {
    AppendFamily(ItemFamily("kata_guest_meminfo",
                            "Statistics about memory usage in the system, in bytes.", *mem),
                 out);
  }
}

}  // namespace agent
}  // namespace kata
