#include "src/libs/metrics/procfs.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_util.h"

namespace kata::metrics {
namespace {

absl::StatusOr<std::string> Read(const std::string& path) { return ReadFileToString(path); }

absl::Status BadLine(const std::string& path, absl::string_view line) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": cannot parse \"", line, "\""));
}

double TicksPerSecond() {
  long t = sysconf(_SC_CLK_TCK);
  return t > 0 ? static_cast<double>(t) : 100.0;
}

// "Key:   123 kB" lines; `kb` multiplies values followed by "kB" by 1024.
Counters ParseKeyValues(absl::string_view text, bool colon) {
  Counters out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(colon ? ": \t" : " \t"), absl::SkipEmpty());
    if (f.size() < 2 || f.size() > 3) continue;
    uint64_t v = 0;
    if (!absl::SimpleAtoi(f[1], &v)) continue;
    if (f.size() == 3) {
      if (f[2] != "kB") continue;
      v *= 1024;
    }
    out[std::string(f[0])] = v;
  }
  return out;
}

std::string KataMeminfoName(const std::string& key) {
  static const auto* names =
      new std::map<std::string, std::string>{{"MemTotal", "mem_total"},
                                             {"MemFree", "mem_free"},
                                             {"MemAvailable", "mem_available"},
                                             {"Buffers", "buffers"},
                                             {"Cached", "cached"},
                                             {"SwapCached", "swap_cached"},
                                             {"Active", "active"},
                                             {"Inactive", "inactive"},
                                             {"Active(anon)", "active_anon"},
                                             {"Inactive(anon)", "inactive_anon"},
                                             {"Active(file)", "active_file"},
                                             {"Inactive(file)", "inactive_file"},
                                             {"Unevictable", "unevictable"},
                                             {"Mlocked", "mlocked"},
                                             {"HighTotal", "high_total"},
                                             {"HighFree", "high_free"},
                                             {"LowTotal", "low_total"},
                                             {"LowFree", "low_free"},
                                             {"MmapCopy", "mmap_copy"},
                                             {"SwapTotal", "swap_total"},
                                             {"SwapFree", "swap_free"},
                                             {"Dirty", "dirty"},
                                             {"Writeback", "writeback"},
                                             {"AnonPages", "anon_pages"},
                                             {"Mapped", "mapped"},
                                             {"Shmem", "shmem"},
                                             {"Slab", "slab"},
                                             {"SReclaimable", "s_reclaimable"},
                                             {"SUnreclaim", "s_unreclaim"},
                                             {"KernelStack", "kernel_stack"},
                                             {"PageTables", "page_tables"},
                                             {"Quicklists", "quicklists"},
                                             {"NFS_Unstable", "nfs_unstable"},
                                             {"Bounce", "bounce"},
                                             {"WritebackTmp", "writeback_tmp"},
                                             {"CommitLimit", "commit_limit"},
                                             {"Committed_AS", "committed_as"},
                                             {"VmallocTotal", "vmalloc_total"},
                                             {"VmallocUsed", "vmalloc_used"},
                                             {"VmallocChunk", "vmalloc_chunk"},
                                             {"HardwareCorrupted", "hardware_corrupted"},
                                             {"AnonHugePages", "anon_hugepages"},
                                             {"ShmemHugePages", "shmem_hugepages"},
                                             {"ShmemPmdMapped", "shmem_pmd_mapped"},
                                             {"CmaTotal", "cma_total"},
                                             {"CmaFree", "cma_free"},
                                             {"HugePages_Total", "hugepages_total"},
                                             {"HugePages_Free", "hugepages_free"},
                                             {"HugePages_Rsvd", "hugepages_rsvd"},
                                             {"HugePages_Surp", "hugepages_surp"},
                                             {"Hugepagesize", "hugepagesize"},
                                             {"DirectMap4k", "direct_map_4k"},
                                             {"DirectMap4M", "direct_map_4M"},
                                             {"DirectMap2M", "direct_map_2M"},
                                             {"DirectMap1G", "direct_map_1G"},
                                             {"Hugetlb", "hugetlb"},
                                             {"Percpu", "per_cpu"},
                                             {"KReclaimable", "k_reclaimable"}};
  auto it = names->find(key);
  if (it != names->end()) return it->second;
  // A key Kata does not name: lowercase, anything else than [a-z0-9] as one '_'.
  std::string out;
  for (char c : key) {
    if (absl::ascii_isalnum(c)) {
      out.push_back(absl::ascii_tolower(c));
    } else if (!out.empty() && out.back() != '_') {
      out.push_back('_');
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

absl::StatusOr<uint64_t> BootTime(const std::string& proc_root) {
  absl::StatusOr<std::string> text = Read(proc_root + "/stat");
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    uint64_t v = 0;
    if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtoi(line, &v)) return v;
  }
  return absl::InvalidArgumentError(proc_root + "/stat: no btime line");
}

absl::Status ParsePidStat(const std::string& path, absl::string_view text, ProcessStats* out) {
  // pid (comm) state ppid ...: comm may hold spaces and ')', so split after the last ')'.
  size_t close = text.rfind(')');
  if (close == absl::string_view::npos) return BadLine(path, text);
  std::vector<absl::string_view> f =
      absl::StrSplit(text.substr(close + 1), ' ', absl::SkipWhitespace());
  // f[0] is field 3 (state): field n is f[n - 3].
  if (f.size() < 22) return BadLine(path, text);
  uint64_t v[25] = {};
  for (int field : {14, 15, 16, 17, 20, 22, 23, 24}) {
    if (!absl::SimpleAtoi(f[field - 3], &v[field])) return BadLine(path, text);
  }
  const double tps = TicksPerSecond();
  out->stat = {{"utime", v[14]}, {"stime", v[15]}, {"cutime", v[16]}, {"cstime", v[17]}};
  out->cpu_seconds = static_cast<double>(v[14] + v[15]) / tps;
  out->threads = v[20];
  out->start_time_seconds = static_cast<double>(v[22]) / tps;
  out->virtual_bytes = v[23];
  out->rss_bytes = v[24] * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> CountFds(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "opendir " + dir);
  uint64_t n = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

std::optional<uint64_t> MaxFds(const std::string& path) {
  absl::StatusOr<std::string> text = Read(path);
  if (!text.ok()) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (!absl::ConsumePrefix(&line, "Max open files")) continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    uint64_t v = 0;
    if (!f.empty() && absl::SimpleAtoi(f[0], &v)) return v;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<ProcessStats> ReadProcessStats(const std::string& proc_root,
                                              const std::string& pid) {
  const std::string dir = absl::StrCat(proc_root, "/", pid);
  ProcessStats out;
  absl::StatusOr<std::string> stat = Read(dir + "/stat");
  if (!stat.ok()) return stat.status();
  absl::Status s = ParsePidStat(dir + "/stat", absl::StripTrailingAsciiWhitespace(*stat), &out);
  if (!s.ok()) return s;
  absl::StatusOr<uint64_t> btime = BootTime(proc_root);
  if (!btime.ok()) return btime.status();
  out.start_time_seconds += static_cast<double>(*btime);
  absl::StatusOr<std::string> status = Read(dir + "/status");
  if (!status.ok()) return status.status();
  for (const auto& [k, v] : ParseKeyValues(*status, true)) {
    out.status[absl::AsciiStrToLower(k)] = v;
  }
  if (absl::StatusOr<std::string> io = Read(dir + "/io"); io.ok()) {
    out.io = ParseKeyValues(*io, true);
  }
  absl::StatusOr<uint64_t> fds = CountFds(dir + "/fd");
  if (!fds.ok()) return fds.status();
  out.open_fds = *fds;
  out.max_fds = MaxFds(dir + "/limits");
  return out;
}

absl::StatusOr<Counters> ReadMeminfo(const std::string& proc_root) {
  absl::StatusOr<std::string> text = Read(proc_root + "/meminfo");
  if (!text.ok()) return text.status();
  Counters out;
  for (const auto& [k, v] : ParseKeyValues(*text, true)) out[KataMeminfoName(k)] = v;
  return out;
}

absl::StatusOr<Counters> ReadVmstat(const std::string& proc_root) {
  absl::StatusOr<std::string> text = Read(proc_root + "/vmstat");
  if (!text.ok()) return text.status();
  return ParseKeyValues(*text, false);
}

absl::StatusOr<std::vector<CpuTimes>> ReadCpuTimes(const std::string& proc_root) {
  static const char* const kItems[] = {"user", "nice",    "system", "idle",  "iowait",
                                       "irq",  "softirq", "steal",  "guest", "guest_nice"};
  const std::string path = proc_root + "/stat";
  absl::StatusOr<std::string> text = Read(path);
  if (!text.ok()) return text.status();
  std::vector<CpuTimes> out;
  const double ms_per_tick = 1000.0 / TicksPerSecond();
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    if (!absl::StartsWith(line, "cpu")) continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (f.size() < 5) return BadLine(path, line);
    CpuTimes cpu;
    cpu.cpu = f[0] == "cpu" ? "total" : std::string(f[0].substr(3));
    for (size_t i = 1; i < f.size() && i <= 10; ++i) {
      uint64_t ticks = 0;
      if (!absl::SimpleAtoi(f[i], &ticks)) return BadLine(path, line);
      cpu.ms[kItems[i - 1]] = static_cast<uint64_t>(static_cast<double>(ticks) * ms_per_tick);
    }
    out.push_back(std::move(cpu));
  }
  if (out.empty() || out[0].cpu != "total") {
    return absl::InvalidArgumentError(path + ": no cpu line");
  }
  return out;
}

absl::StatusOr<LoadAvg> ReadLoadAvg(const std::string& proc_root) {
  const std::string path = proc_root + "/loadavg";
  absl::StatusOr<std::string> text = Read(path);
  if (!text.ok()) return text.status();
  absl::string_view line = absl::StripTrailingAsciiWhitespace(*text);
  std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipWhitespace());
  LoadAvg out;
  std::vector<absl::string_view> tasks;
  if (f.size() >= 4) tasks = absl::StrSplit(f[3], '/');
  if (f.size() < 4 || tasks.size() != 2 || !absl::SimpleAtod(f[0], &out.load1) ||
      !absl::SimpleAtod(f[1], &out.load5) || !absl::SimpleAtod(f[2], &out.load15) ||
      !absl::SimpleAtoi(tasks[0], &out.tasks_running) ||
      !absl::SimpleAtoi(tasks[1], &out.tasks_total)) {
    return BadLine(path, line);
  }
  return out;
}

absl::StatusOr<std::map<std::string, Counters>> ReadNetDev(const std::string& proc_root) {
  static const char* const kItems[] = {
      "recv_bytes", "recv_packets", "recv_errs",       "recv_drop",
      "recv_fifo",  "recv_frame",   "recv_compressed", "recv_multicast",
      "sent_bytes", "sent_packets", "sent_errs",       "sent_drop",
      "sent_fifo",  "sent_colls",   "sent_carrier",    "sent_compressed"};
  const std::string path = proc_root + "/net/dev";
  absl::StatusOr<std::string> text = Read(path);
  if (!text.ok()) return text.status();
  std::map<std::string, Counters> out;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos || line.find('|') != absl::string_view::npos) continue;
    std::string name(absl::StripAsciiWhitespace(line.substr(0, colon)));
    std::vector<absl::string_view> f =
        absl::StrSplit(line.substr(colon + 1), ' ', absl::SkipWhitespace());
    if (f.size() != 16 || name.empty()) return BadLine(path, line);
    Counters& c = out[name];
    for (size_t i = 0; i < 16; ++i) {
      if (!absl::SimpleAtoi(f[i], &c[kItems[i]])) return BadLine(path, line);
    }
  }
  return out;
}

absl::StatusOr<std::map<std::string, Counters>> ReadDiskstats(const std::string& proc_root) {
  static const char* const kItems[] = {"reads",
                                       "merged",
                                       "sectors_read",
                                       "time_reading",
                                       "writes",
                                       "writes_merged",
                                       "sectors_written",
                                       "time_writing",
                                       "in_progress",
                                       "time_in_progress",
                                       "weighted_time_in_progress",
                                       "discards",
                                       "discards_merged",
                                       "sectors_discarded",
                                       "time_discarding",
                                       "flushes",
                                       "time_flushing"};
  const std::string path = proc_root + "/diskstats";
  absl::StatusOr<std::string> text = Read(path);
  if (!text.ok()) return text.status();
  std::map<std::string, Counters> out;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (f.size() < 14) return BadLine(path, line);
    Counters& c = out[std::string(f[2])];
    for (size_t i = 3; i < f.size() && i - 3 < std::size(kItems); ++i) {
      if (!absl::SimpleAtoi(f[i], &c[kItems[i - 3]])) return BadLine(path, line);
    }
  }
  return out;
}

}  // namespace kata::metrics
