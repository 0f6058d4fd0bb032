#include "tools/cri-ctl/cri_log.h"

#include <cstddef>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kata {
namespace cri_ctl {
namespace {

absl::StatusOr<CriLogEntry> ParseLine(absl::string_view line) {
  std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(' ', 3));
  if (f.size() < 3) return absl::InvalidArgumentError("want '<time> <stream> <F|P> <content>'");
  CriLogEntry e;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, f[0], &e.time, &err)) {
    return absl::InvalidArgumentError(absl::StrCat("time '", f[0], "': ", err));
  }
  if (f[1] != "stdout" && f[1] != "stderr") {
    return absl::InvalidArgumentError(absl::StrCat("stream '", f[1], "' is not stdout/stderr"));
  }
  e.stream = std::string(f[1]);
  if (f[2] != "F" && f[2] != "P") {
    return absl::InvalidArgumentError(absl::StrCat("tag '", f[2], "' is not F or P"));
  }
  e.partial = f[2] == "P";
  if (f.size() == 4) e.content = std::string(f[3]);
  return e;
}

}  // namespace

absl::StatusOr<std::vector<CriLogEntry>> ParseCriLog(absl::string_view text) {
  std::vector<CriLogEntry> entries;
  size_t number = 0;
  while (!text.empty()) {
    ++number;
    size_t nl = text.find('\n');
    absl::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == absl::string_view::npos ? text.size() : nl + 1);
    absl::StatusOr<CriLogEntry> e = ParseLine(line);
    if (!e.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("CRI log line ", number, ": ", e.status().message()));
    }
    entries.push_back(*std::move(e));
  }
  return entries;
}

std::string JoinCriLog(const std::vector<CriLogEntry>& entries, absl::string_view stream) {
  std::string out;
  for (const CriLogEntry& e : entries) {
    if (!stream.empty() && e.stream != stream) continue;
    out += e.content;
    if (!e.partial) out += '\n';
  }
  return out;
}

}  // namespace cri_ctl
}  // namespace kata
