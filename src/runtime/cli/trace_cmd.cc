#include "src/runtime/cli/trace_cmd.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "src/libs/base/file.h"
#include "src/libs/trace/otlp_json.h"

namespace kata::runtime::cli {
namespace {

using trace::ServiceSpan;

absl::StatusOr<std::vector<ServiceSpan>> ReadTraceFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  std::vector<ServiceSpan> all;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_no;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    absl::StatusOr<trace::ExportTraceServiceRequest> r = trace::ParseOtlpJson(line);
    absl::StatusOr<std::vector<ServiceSpan>> spans =
        r.ok() ? trace::FromExportRequest(*r) : r.status();
    if (!spans.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " line ", line_no, ": ", spans.status().message()));
    }
    for (ServiceSpan& s : *spans) all.push_back(std::move(s));
  }
  return all;
}

std::string Bar(int64_t start, int64_t end, int64_t t0, int64_t total) {
  std::string bar(kWaterfallBarWidth, ' ');
  if (total <= 0) return "|" + std::string(kWaterfallBarWidth, '#') + "|";
  auto col = [&](int64_t t) {
    const double f = static_cast<double>(t - t0) / static_cast<double>(total);
    return std::clamp(static_cast<int>(f * kWaterfallBarWidth), 0, kWaterfallBarWidth);
  };
  const int from = std::min(col(start), kWaterfallBarWidth - 1);
  const int to = std::max(col(end), from + 1);
  for (int i = from; i < to; ++i) bar[i] = '#';
  return "|" + bar + "|";
}

}  // namespace

absl::StatusOr<std::string> FormatWaterfall(const std::vector<ServiceSpan>& spans,
                                            const std::string& trace_id) {
  if (spans.empty()) return absl::NotFoundError("no span in the trace file");
  std::map<std::string, std::vector<const ServiceSpan*>> traces;
  for (const ServiceSpan& s : spans) traces[trace::ToHex(s.span.context.trace_id)].push_back(&s);
  std::string id = absl::AsciiStrToLower(trace_id);
  if (id.empty()) {
    int64_t latest = 0;
    for (const auto& [tid, list] : traces) {
      for (const ServiceSpan* s : list) {
        if (id.empty() || s->span.start_unix_nanos > latest) {
          latest = s->span.start_unix_nanos;
          id = tid;
        }
      }
    }
  }
  auto found = traces.find(id);
  if (found == traces.end())
    return absl::NotFoundError(absl::StrCat("no trace ", id, " in the file"));
  const std::vector<const ServiceSpan*>& list = found->second;

  std::set<std::string> ids;
  std::map<std::string, int> per_service;
  int64_t t0 = list[0]->span.start_unix_nanos, t1 = list[0]->span.end_unix_nanos;
  for (const ServiceSpan* s : list) {
    ids.insert(trace::ToHex(s->span.context.span_id));
    per_service[s->service_name]++;
    t0 = std::min(t0, s->span.start_unix_nanos);
    t1 = std::max(t1, s->span.end_unix_nanos);
  }
  std::map<std::string, std::vector<const ServiceSpan*>> children;  // by parent span id
  std::vector<const ServiceSpan*> roots;
  for (const ServiceSpan* s : list) {
    const std::string parent = trace::ToHex(s->span.parent_span_id);
    if (trace::IsZero(trace::AsBytes(s->span.parent_span_id)) || !ids.count(parent)) {
      roots.push_back(s);
    } else {
      children[parent].push_back(s);
    }
  }
  auto by_start = [](const ServiceSpan* a, const ServiceSpan* b) {
    return a->span.start_unix_nanos < b->span.start_unix_nanos;
  };
  std::string out = absl::StrCat("trace ", id, ": ", list.size(), " spans (");
  bool first = true;
  for (const auto& [service, n] : per_service) {
    absl::StrAppend(&out, first ? "" : ", ", service.empty() ? "?" : service, " ", n);
    first = false;
  }
  absl::StrAppendFormat(&out, "), %.1f ms", static_cast<double>(t1 - t0) / 1e6);
  if (traces.size() > 1) absl::StrAppend(&out, " (", traces.size() - 1, " other traces)");
  absl::StrAppend(&out, "\n  start ms    dur ms  span\n");
  const std::string root_service = roots.empty() ? "" : roots[0]->service_name;
  std::function<void(const ServiceSpan*, int)> print = [&](const ServiceSpan* s, int depth) {
    std::string name = std::string(2 * depth, ' ') + s->span.name;
    if (s->service_name != root_service) absl::StrAppend(&name, " [", s->service_name, "]");
    if (s->span.status == trace::StatusCode::kError) absl::StrAppend(&name, " !ERROR");
    absl::StrAppendFormat(
        &out, "%10.1f %9.1f  %-50s %s\n", static_cast<double>(s->span.start_unix_nanos - t0) / 1e6,
        static_cast<double>(s->span.end_unix_nanos - s->span.start_unix_nanos) / 1e6, name,
        Bar(s->span.start_unix_nanos, s->span.end_unix_nanos, t0, t1 - t0));
    auto it = children.find(trace::ToHex(s->span.context.span_id));
    if (it == children.end()) return;
    std::vector<const ServiceSpan*> kids = it->second;
    std::stable_sort(kids.begin(), kids.end(), by_start);
    for (const ServiceSpan* k : kids) print(k, depth + 1);
  };
  std::stable_sort(roots.begin(), roots.end(), by_start);
  for (const ServiceSpan* r : roots) print(r, 0);
  return out;
}

int RunTrace(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string file, trace_id;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--trace-id" && i + 1 < args.size()) {
      trace_id = args[++i];
    } else if (file.empty() && !args[i].empty() && args[i][0] != '-') {
      file = args[i];
    } else {
      file.clear();
      break;
    }
  }
  if (file.empty()) {
    err << "usage: kata-runtime trace FILE [--trace-id HEX]\n";
    return 2;
  }
  absl::StatusOr<std::vector<ServiceSpan>> spans = ReadTraceFile(file);
  absl::StatusOr<std::string> text =
      spans.ok() ? FormatWaterfall(*spans, trace_id) : spans.status();
  if (!text.ok()) {
    err << "kata-runtime trace: " << text.status().message() << "\n";
    return 1;
  }
  out << *text;
  return 0;
}

}  // namespace kata::runtime::cli
