#include "src/libs/trace/align.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace kata::trace {

std::optional<int64_t> ClockOffset(const std::vector<SpanData>& local,
                                   const std::vector<SpanData>& remote) {
  absl::flat_hash_map<std::string, const SpanData*> clients;
  for (const SpanData& s : local) {
    if (s.kind == SpanKind::kClient) clients[std::string(AsBytes(s.context.span_id))] = &s;
  }
  std::optional<int64_t> best_offset;
  int64_t best_slack = 0;
  for (const SpanData& r : remote) {
    if (r.kind != SpanKind::kServer) continue;
    auto it = clients.find(std::string(AsBytes(r.parent_span_id)));
    if (it == clients.end()) continue;
    const SpanData& c = *it->second;
    const int64_t slack =
        (c.end_unix_nanos - c.start_unix_nanos) - (r.end_unix_nanos - r.start_unix_nanos);
    if (slack < 0) continue;
    if (!best_offset.has_value() || slack < best_slack) {
      best_slack = slack;
      best_offset = c.start_unix_nanos + slack / 2 - r.start_unix_nanos;
    }
  }
  return best_offset;
}

void Shift(int64_t offset, std::vector<SpanData>& spans) {
  for (SpanData& s : spans) {
    s.start_unix_nanos += offset;
    s.end_unix_nanos += offset;
  }
}

}  // namespace kata::trace
