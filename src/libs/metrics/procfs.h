// Readers of the /proc files metrics come from, for one process and for the whole system
// (host or guest). Every reader takes the proc root ("/proc" in production, a directory of
// fake files in tests) and answers with plain numbers.
//
//   KATA_ASSIGN_OR_RETURN(ProcessStats me, ReadProcessStats("/proc", "self"));
//   double cpu = me.cpu_seconds;                     // utime + stime
//   KATA_ASSIGN_OR_RETURN(auto mem, ReadMeminfo("/proc"));   // {"mem_total", bytes}, ...
//
// Contracts: a file that is missing or unreadable is an error naming it (NOT_FOUND for a
// process that is gone); a line that does not parse is INVALID_ARGUMENT naming the file and
// the line, except in key/value files (meminfo, vmstat, status, io), where lines that are not
// "key: number" are skipped. Sizes given in kB are returned in bytes; CPU times of /proc/stat
// in milliseconds (USER_HZ ticks * 1000 / sysconf(_SC_CLK_TCK)), as Kata reports them.
// ProcessStats' optional parts (io, max_fds) are left empty when their file is unreadable
// (/proc/<pid>/io needs ptrace rights).
#ifndef KATA_SRC_LIBS_METRICS_PROCFS_H_
#define KATA_SRC_LIBS_METRICS_PROCFS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kata::metrics {

using Counters = std::map<std::string, uint64_t>;

struct ProcessStats {
  // From /proc/<pid>/stat, in clock ticks (utime, stime, cutime, cstime) and bytes.
  Counters stat;
  double cpu_seconds = 0;         // (utime + stime) / ticks per second
  double start_time_seconds = 0;  // since the epoch (btime of /proc/stat + starttime)
  uint64_t threads = 0;
  uint64_t virtual_bytes = 0;
  uint64_t rss_bytes = 0;
  // /proc/<pid>/status's numeric lines, keys lowercased ("vmrss", in bytes;
  // "voluntary_ctxt_switches").
  Counters status;
  std::optional<Counters> io;       // /proc/<pid>/io ("rchar", "read_bytes", ...)
  uint64_t open_fds = 0;            // entries of /proc/<pid>/fd
  std::optional<uint64_t> max_fds;  // the soft "Max open files" of /proc/<pid>/limits
};

// `pid` is a number or "self".
absl::StatusOr<ProcessStats> ReadProcessStats(const std::string& proc_root, const std::string& pid);

// /proc/meminfo, with Kata's item names ("MemTotal" -> "mem_total", "Active(anon)" ->
// "active_anon"), in bytes.
absl::StatusOr<Counters> ReadMeminfo(const std::string& proc_root);

// /proc/vmstat as it is ("nr_free_pages", ...).
absl::StatusOr<Counters> ReadVmstat(const std::string& proc_root);

struct CpuTimes {
  std::string cpu;  // "total", "0", "1", ...
  Counters ms;      // user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice
};
// The cpu lines of /proc/stat, "total" first.
absl::StatusOr<std::vector<CpuTimes>> ReadCpuTimes(const std::string& proc_root);

struct LoadAvg {
  double load1 = 0, load5 = 0, load15 = 0;
  uint64_t tasks_running = 0, tasks_total = 0;
};
absl::StatusOr<LoadAvg> ReadLoadAvg(const std::string& proc_root);

// /proc/net/dev by interface: recv_bytes, recv_packets, recv_errs, recv_drop, recv_fifo,
// recv_frame, recv_compressed, recv_multicast, sent_bytes, sent_packets, sent_errs, sent_drop,
// sent_fifo, sent_colls, sent_carrier, sent_compressed.
absl::StatusOr<std::map<std::string, Counters>> ReadNetDev(const std::string& proc_root);

// /proc/diskstats by disk name: reads, merged, sectors_read, time_reading, writes,
// writes_merged, sectors_written, time_writing, in_progress, time_in_progress,
// weighted_time_in_progress (and discards..., flushes... where the kernel has them).
absl::StatusOr<std::map<std::string, Counters>> ReadDiskstats(const std::string& proc_root);

}  // namespace kata::metrics

#endif  // KATA_SRC_LIBS_METRICS_PROCFS_H_
