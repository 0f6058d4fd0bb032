// The agent's GetMetrics answer: Prometheus text (prometheus.h) about the agent's own process
// and the guest, with Kata's metric names (Kata's src/agent/src/metrics.rs):
//
//   kata_agent_scrape_count                 counter: GetMetrics calls answered, this one too
//   kata_agent_total_time / _total_vm / _total_rss   CPU seconds, virtual and resident bytes
//   kata_agent_* of process_metrics.h       threads, fds, proc_status, proc_stat, io_stat,
//                                           process_cpu_seconds_total, ...
//   kata_guest_load{item=load1|load5|load15}, kata_guest_tasks{item=cur|max}   /proc/loadavg
//   kata_guest_cpu_time{cpu=total|0|..,item=user|nice|system|idle|...}  /proc/stat, in ms
//   kata_guest_meminfo{item=mem_total|...}  /proc/meminfo, bytes
//   kata_guest_vm_stat{item=...}            /proc/vmstat
//   kata_guest_netdev_stat{interface,item}  /proc/net/dev
//   kata_guest_diskstat{disk,item}          /proc/diskstats
//
//   GuestMetrics metrics("/proc");
//   std::string text = metrics.Collect();
//
// Contracts: stateless but for the scrape count; thread-safe. A /proc file that cannot be read
// or parsed leaves its families out (Kata logs and goes on): a scrape never fails.
#ifndef KATA_SRC_AGENT_RPC_GUEST_METRICS_H_
#define KATA_SRC_AGENT_RPC_GUEST_METRICS_H_

#include <atomic>
#include <cstdint>
#include <string>

namespace kata {
namespace agent {

class GuestMetrics {
 public:
  explicit GuestMetrics(std::string proc_root) : proc_root_(std::move(proc_root)) {}

  std::string Collect();

 private:
  void AppendAgent(std::string* out) const;
  void AppendGuest(std::string* out) const;

  const std::string proc_root_;
  std::atomic<uint64_t> scrapes_{0};
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_GUEST_METRICS_H_
