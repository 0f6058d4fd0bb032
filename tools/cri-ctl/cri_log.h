// The CRI container log format (kubelet's "CRI logging format", written by containerd's CRI
// plugin to ContainerStatus.log_path): one line per chunk of output,
//
//   <RFC 3339 time with nanoseconds> <stdout|stderr> <F|P> <content>\n
//
// where F ends a line of the container's output and P is a partial line continued by the
// next entry of the same stream.
//
//   KATA_ASSIGN_OR_RETURN(std::vector<CriLogEntry> entries, ParseCriLog(text));
//   std::string out = JoinCriLog(entries, "stdout");
//
// Promises: ParseCriLog accepts exactly that format (a final line without '\n' included) and
// names the line number of the first line that is not; it checks the time's shape
// (YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)) by parsing it. JoinCriLog rebuilds the output of
// one stream ("" = both, interleaved in log order): F entries end with '\n', P entries do not.
#ifndef KATA_TOOLS_CRI_CTL_CRI_LOG_H_
#define KATA_TOOLS_CRI_CTL_CRI_LOG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kata {
namespace cri_ctl {

struct CriLogEntry {
  absl::Time time;
  std::string stream;    // "stdout" or "stderr"
  bool partial = false;  // tag P
  std::string content;   // without the line's '\n'
};

absl::StatusOr<std::vector<CriLogEntry>> ParseCriLog(absl::string_view text);
std::string JoinCriLog(const std::vector<CriLogEntry>& entries, absl::string_view stream);

}  // namespace cri_ctl
}  // namespace kata

#endif  // KATA_TOOLS_CRI_CTL_CRI_LOG_H_
