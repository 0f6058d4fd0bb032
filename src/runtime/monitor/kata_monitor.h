// kata-monitor: every sandbox's metrics on one HTTP port, as Kata's kata-monitor serves them.
// Each scrape lists <state_root>/*/shim-monitor.sock (sandbox/layout.h), asks every shim for
// GET /metrics (at most `shim_timeout` each, several at once), and merges the answers into one
// exposition, every series labelled sandbox_id (prometheus.h MergeLabelled), plus its own:
//   kata_monitor_running_shim_count   gauge: the shims found
//   kata_monitor_scrape_count         counter: scrapes served
//   kata_monitor_scrape_failed_count  counter: shims that did not answer or answered badly
//   kata_monitor_* of process_metrics.h (threads, fds, process_cpu_seconds_total, ...)
//
//   KataMonitor monitor({.state_root = "/run/vc/sbs"});
//   std::string text = monitor.Scrape();
//
// Listening defaults to 127.0.0.1:8090 (main.cc): whoever reaches the port reads every
// sandbox's metrics, so it stays on localhost unless told otherwise. Thread-safe.
#ifndef KATA_SRC_RUNTIME_MONITOR_KATA_MONITOR_H_
#define KATA_SRC_RUNTIME_MONITOR_KATA_MONITOR_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace kata::runtime::monitor {

class KataMonitor {
 public:
  struct Options {
    std::string state_root = "/run/vc/sbs";
    absl::Duration shim_timeout = absl::Seconds(10);
    std::string proc_root = "/proc";
  };
  explicit KataMonitor(Options options) : options_(std::move(options)) {}

  std::string Scrape();

 private:
  const Options options_;
  std::atomic<uint64_t> scrapes_{0}, failures_{0};
};

}  // namespace kata::runtime::monitor

#endif  // KATA_SRC_RUNTIME_MONITOR_KATA_MONITOR_H_
