// A container's resource statistics as the runtime reports them (from the guest's cgroup),
// independent of the agent's protocol. Zero means "not reported" for every counter.
#ifndef KATA_SRC_RUNTIME_SANDBOX_STATS_H_
#define KATA_SRC_RUNTIME_SANDBOX_STATS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kata::runtime {

struct CpuStats {
  uint64_t total_ns = 0;
  uint64_t kernel_ns = 0;
  uint64_t user_ns = 0;
  std::vector<uint64_t> per_cpu_ns;
  uint64_t periods = 0;  // CFS throttling
  uint64_t throttled_periods = 0;
  uint64_t throttled_ns = 0;
};

struct MemoryCounter {
  uint64_t usage = 0;
  uint64_t max_usage = 0;
  uint64_t failcnt = 0;
  uint64_t limit = 0;
};

struct MemoryStats {
  uint64_t cache = 0;
  MemoryCounter usage, swap, kernel;
  // memory.stat's keys as the guest's cgroup names them ("rss", "pgfault", ...).
  std::map<std::string, uint64_t> stat;
};

struct PidsStats {
  uint64_t current = 0;
  uint64_t limit = 0;
};

struct HugetlbStats {
  uint64_t usage = 0;
  uint64_t max_usage = 0;
  uint64_t failcnt = 0;
};

struct ContainerStats {
  std::optional<CpuStats> cpu;
  std::optional<MemoryStats> memory;
  std::optional<PidsStats> pids;
  std::map<std::string, HugetlbStats> hugetlb;  // by page size ("2MB")
};

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_STATS_H_
