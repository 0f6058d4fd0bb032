// One process's metrics in Kata's names, for the agent (prefix "kata_agent"), the shim
// ("kata_shim") and the hypervisor ("kata_hypervisor"):
//
//   <p>_threads, <p>_fds                          gauges (Kata's shim and hypervisor names)
//   <p>_proc_status{item=...}                     /proc/<pid>/status numbers (sizes in bytes)
//   <p>_proc_stat{item=utime|stime|cutime|cstime} clock ticks
//   <p>_io_stat{item=...}                         /proc/<pid>/io, when readable
//   <p>_process_cpu_seconds_total                 counter, utime + stime in seconds
//   <p>_process_resident_memory_bytes, <p>_process_virtual_memory_bytes,
//   <p>_process_open_fds, <p>_process_max_fds, <p>_process_start_time_seconds
//
//   std::string out;
//   AppendProcessMetrics("kata_shim", *ReadProcessStats("/proc", "self"), &out);
#ifndef KATA_SRC_LIBS_METRICS_PROCESS_METRICS_H_
#define KATA_SRC_LIBS_METRICS_PROCESS_METRICS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "src/libs/metrics/procfs.h"
#include "src/libs/metrics/prometheus.h"

namespace kata::metrics {

void AppendProcessMetrics(absl::string_view prefix, const ProcessStats& stats, std::string* out);

// A gauge family with one sample per counter, labelled `label`=key.
MetricFamily ItemFamily(std::string name, std::string help, const Counters& counters,
                        const std::string& label = "item", const Labels& extra = {});

}  // namespace kata::metrics

#endif  // KATA_SRC_LIBS_METRICS_PROCESS_METRICS_H_
