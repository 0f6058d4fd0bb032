#include "src/libs/metrics/process_metrics.h"

#include "absl/strings/str_cat.h"

namespace kata::metrics {
namespace {

MetricFamily One(std::string name, std::string type, std::string help, double value) {
  return {std::move(name), std::move(type), std::move(help), {{{}, value}}};
}

}  // namespace

MetricFamily ItemFamily(std::string name, std::string help, const Counters& counters,
                        const std::string& label, const Labels& extra) {
  MetricFamily f{std::move(name), "gauge", std::move(help), {}};
  for (const auto& [k, v] : counters) {
    Labels labels = extra;
    labels.emplace_back(label, k);
    f.samples.push_back({std::move(labels), static_cast<double>(v)});
  }
  return f;
}

void AppendProcessMetrics(absl::string_view prefix, const ProcessStats& s, std::string* out) {
  const std::string p(prefix);
  AppendFamily(
      One(p + "_threads", "gauge", "Threads of the process.", static_cast<double>(s.threads)), out);
  AppendFamily(One(p + "_fds", "gauge", "Open file descriptors of the process.",
                   static_cast<double>(s.open_fds)),
               out);
  AppendFamily(
      ItemFamily(p + "_proc_status", "Numbers of /proc/<pid>/status (sizes in bytes).", s.status),
      out);
  AppendFamily(
      ItemFamily(p + "_proc_stat", "CPU times of /proc/<pid>/stat, in clock ticks.", s.stat), out);
  if (s.io) {
    AppendFamily(ItemFamily(p + "_io_stat", "I/O counters of /proc/<pid>/io.", *s.io), out);
  }
  AppendFamily(One(p + "_process_cpu_seconds_total", "counter",
                   "Total user and system CPU time spent in seconds.", s.cpu_seconds),
               out);
  AppendFamily(One(p + "_process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                   static_cast<double>(s.rss_bytes)),
               out);
  AppendFamily(One(p + "_process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                   static_cast<double>(s.virtual_bytes)),
               out);
  AppendFamily(One(p + "_process_open_fds", "gauge", "Number of open file descriptors.",
                   static_cast<double>(s.open_fds)),
               out);
  if (s.max_fds) {
    AppendFamily(One(p + "_process_max_fds", "gauge", "Maximum number of open file descriptors.",
                     static_cast<double>(*s.max_fds)),
                 out);
  }
  AppendFamily(One(p + "_process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in seconds.", s.start_time_seconds),
               out);
}

}  // namespace kata::metrics
