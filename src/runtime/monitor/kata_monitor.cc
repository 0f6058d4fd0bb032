#include "src/runtime/monitor/kata_monitor.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/libs/http/http.h"
#include "src/libs/metrics/process_metrics.h"
#include "src/libs/metrics/procfs.h"
#include "src/libs/metrics/prometheus.h"
#include "src/runtime/sandbox/ids.h"
#include "src/runtime/sandbox/layout.h"

namespace kata::runtime::monitor {
namespace {

// Sandboxes with a management socket under `root` (plain-name directories only).
std::vector<std::string> Sandboxes(const std::string& root) {
  std::vector<std::string> ids;
  DIR* d = opendir(root.c_str());
  if (d == nullptr) return ids;
  while (struct dirent* e = readdir(d)) {
    std::string id = e->d_name;
    if (!CheckId("sandbox id", id).ok()) continue;
    struct stat st;
    std::string sock = absl::StrCat(root, "/", id, "/", kShimMonitorSocket);
    if (stat(sock.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ids.push_back(id);
  }
  closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

std::string KataMonitor::Scrape() {
  const uint64_t scrapes = ++scrapes_;
  std::vector<std::string> ids = Sandboxes(options_.state_root);
  std::vector<metrics::Source> sources(ids.size());
  std::vector<bool> ok(ids.size(), false);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ids.size(); ++i) {
    threads.emplace_back([&, i] {
      sources[i].name = ids[i];
      absl::StatusOr<http::HttpResponse> r =
          http::HttpGetUnix(absl::StrCat(options_.state_root, "/", ids[i], "/", kShimMonitorSocket),
                            "/metrics", options_.shim_timeout);
      if (r.ok() && r->status == 200) {
        sources[i].text = std::move(r->body);
        ok[i] = true;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<metrics::Source> answered;
  uint64_t failed_now = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ok[i]) {
      answered.push_back(std::move(sources[i]));
    } else {
      ++failed_now;
    }
  }
  std::vector<std::string> bad;
  std::string out = metrics::MergeLabelled(answered, "sandbox_id", &bad);
  const uint64_t failures = failures_ += failed_now + bad.size();
  if (auto me = metrics::ReadProcessStats(options_.proc_root, "self"); me.ok()) {
    metrics::AppendProcessMetrics("kata_monitor", *me, &out);
  }
  metrics::AppendFamily({"kata_monitor_running_shim_count",
                         "gauge",
                         "Running shim count (running sandboxes).",
                         {{{}, static_cast<double>(ids.size())}}},
                        &out);
  metrics::AppendFamily({"kata_monitor_scrape_count",
                         "counter",
                         "Scrape count.",
                         {{{}, static_cast<double>(scrapes)}}},
                        &out);
  metrics::AppendFamily({"kata_monitor_scrape_failed_count",
                         "counter",
                         "Shims that did not answer a scrape, or answered badly.",
                         {{{}, static_cast<double>(failures)}}},
                        &out);
  return out;
}

}  // namespace kata::runtime::monitor
