#include "src/runtime/shim/task_convert.h"

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_util.h"
#include "src/libs/oci/spec_json.h"

namespace kata {
namespace shim {

namespace cg = ::io::containerd::cgroups::v1;

std::string ProcessName(const std::string& id, const std::string& exec_id) {
  return exec_id.empty() ? id : absl::StrCat(id, "/", exec_id);
}

// An OCI Process from the JSON containerd puts in ExecProcessRequest.spec.
absl::StatusOr<oci::Process> ParseProcessJson(absl::string_view json) {
  auto spec = oci::ParseSpec(absl::StrCat("{\"ociVersion\":\"1.0.2\",\"process\":", json, "}"));
  if (!spec.ok()) return AnnotateStatus(spec.status(), "exec process spec");
  if (!spec->process.has_value()) return absl::InvalidArgumentError("exec process spec: empty");
  return *spec->process;
}

// OCI LinuxResources from the JSON containerd puts in UpdateTaskRequest.resources.
absl::StatusOr<oci::LinuxResources> ParseResourcesJson(absl::string_view json) {
  auto spec = oci::ParseSpec(
      absl::StrCat("{\"ociVersion\":\"1.0.2\",\"linux\":{\"resources\":", json, "}}"));
  if (!spec.ok()) return AnnotateStatus(spec.status(), "update resources");
  if (!spec->linux.has_value() || !spec->linux->resources.has_value()) {
    return absl::InvalidArgumentError("update resources: empty");
  }
  return *spec->linux->resources;
}

cg::Metrics ToMetrics(const runtime::ContainerStats& stats) {
  cg::Metrics m;
  if (stats.pids.has_value()) {
    m.mutable_pids()->set_current(stats.pids->current);
    m.mutable_pids()->set_limit(stats.pids->limit);
  }
  if (stats.cpu.has_value()) {
    const runtime::CpuStats& c = *stats.cpu;
    cg::CPUUsage* usage = m.mutable_cpu()->mutable_usage();
    usage->set_total(c.total_ns);
    usage->set_kernel(c.kernel_ns);
    usage->set_user(c.user_ns);
    for (uint64_t v : c.per_cpu_ns) usage->add_per_cpu(v);
    m.mutable_cpu()->mutable_throttling()->set_periods(c.periods);
    m.mutable_cpu()->mutable_throttling()->set_throttled_periods(c.throttled_periods);
    m.mutable_cpu()->mutable_throttling()->set_throttled_time(c.throttled_ns);
  }
  if (stats.memory.has_value()) {
    const runtime::MemoryStats& ms = *stats.memory;
    cg::MemoryStat* mem = m.mutable_memory();
    mem->set_cache(ms.cache);
    auto entry = [](const runtime::MemoryCounter& d, cg::MemoryEntry* e) {
      e->set_usage(d.usage);
      e->set_max(d.max_usage);
      e->set_failcnt(d.failcnt);
      e->set_limit(d.limit);
    };
    entry(ms.usage, mem->mutable_usage());
    entry(ms.swap, mem->mutable_swap());
    entry(ms.kernel, mem->mutable_kernel());
    auto stat = [&ms](const char* key) -> uint64_t {
      auto it = ms.stat.find(key);
      return it == ms.stat.end() ? 0 : it->second;
    };
    mem->set_rss(stat("rss"));
    mem->set_rss_huge(stat("rss_huge"));
    mem->set_mapped_file(stat("mapped_file"));
    mem->set_dirty(stat("dirty"));
    mem->set_writeback(stat("writeback"));
    mem->set_pg_pg_in(stat("pgpgin"));
    mem->set_pg_pg_out(stat("pgpgout"));
    mem->set_pg_fault(stat("pgfault"));
    mem->set_pg_maj_fault(stat("pgmajfault"));
    mem->set_inactive_anon(stat("inactive_anon"));
    mem->set_active_anon(stat("active_anon"));
    mem->set_inactive_file(stat("inactive_file"));
    mem->set_active_file(stat("active_file"));
    mem->set_unevictable(stat("unevictable"));
    mem->set_hierarchical_memory_limit(stat("hierarchical_memory_limit"));
    mem->set_hierarchical_swap_limit(stat("hierarchical_memsw_limit"));
    mem->set_total_cache(stat("total_cache"));
    mem->set_total_rss(stat("total_rss"));
  }
  for (const auto& [pagesize, h] : stats.hugetlb) {
    cg::HugetlbStat* hs = m.add_hugetlb();
    hs->set_pagesize(pagesize);
    hs->set_usage(h.usage);
    hs->set_max(h.max_usage);
    hs->set_failcnt(h.failcnt);
  }
  return m;
}

}  // namespace shim
}  // namespace kata
