#include "src/runtime/sandbox/agent_stats.h"

namespace kata::runtime {
namespace {

MemoryCounter Counter(const ::grpc::MemoryData& d) {
  return {d.usage(), d.max_usage(), d.failcnt(), d.limit()};
}

}  // namespace

ContainerStats FromAgentStats(const ::grpc::StatsContainerResponse& response) {
  ContainerStats out;
  const ::grpc::CgroupStats& c = response.cgroup_stats();
  if (c.has_pids_stats()) out.pids = PidsStats{c.pids_stats().current(), c.pids_stats().limit()};
  if (c.has_cpu_stats()) {
    const auto& u = c.cpu_stats().cpu_usage();
    const auto& t = c.cpu_stats().throttling_data();
    CpuStats cpu;
    cpu.total_ns = u.total_usage();
    cpu.kernel_ns = u.usage_in_kernelmode();
    cpu.user_ns = u.usage_in_usermode();
    cpu.per_cpu_ns.assign(u.percpu_usage().begin(), u.percpu_usage().end());
    cpu.periods = t.periods();
    cpu.throttled_periods = t.throttled_periods();
    cpu.throttled_ns = t.throttled_time();
    out.cpu = std::move(cpu);
  }
  if (c.has_memory_stats()) {
    const auto& ms = c.memory_stats();
    MemoryStats mem;
    mem.cache = ms.cache();
    mem.usage = Counter(ms.usage());
    mem.swap = Counter(ms.swap_usage());
    mem.kernel = Counter(ms.kernel_usage());
    mem.stat.insert(ms.stats().begin(), ms.stats().end());
    out.memory = std::move(mem);
  }
  for (const auto& [pagesize, h] : c.hugetlb_stats()) {
    out.hugetlb[pagesize] = HugetlbStats{h.usage(), h.max_usage(), h.failcnt()};
  }
  return out;
}

}  // namespace kata::runtime
