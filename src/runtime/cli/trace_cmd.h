// kata-runtime trace FILE [--trace-id HEX]: one trace of an OTLP/JSON trace file (what the
// shim writes with tracing_endpoint = "file:///...": one ExportTraceServiceRequest a line,
// the shim's spans and the agent's) as a waterfall, one line per span:
//
//   trace 5b8efff798038103d269b633813fc60c: 14 spans (kata-shim 11, kata-agent 3), 3512.4 ms
//     start ms    dur ms  span
//          0.0    3512.4  containerd-shim-kata-v2                 |########################|
//          0.0      12.3    shim.start                            |#                       |
//         45.1    2101.0    task.Create                           | ##############         |
//
// Spans are indented by depth under their parent (children by start time); the offset is
// from the trace's first start; the bar, kWaterfallBarWidth wide, is scaled to the whole
// trace (its first start to its last end). A span whose parent is not in the file is shown
// as a root; an agent's span is marked "[kata-agent]"; an error status adds " !ERROR".
// Without --trace-id the trace with the latest start is shown (and the number of others
// said). Errors (exit 1, one line on stderr): an unreadable file, a malformed line (its
// number), no span, an unknown trace id. Usage errors exit 2.
#ifndef KATA_SRC_RUNTIME_CLI_TRACE_CMD_H_
#define KATA_SRC_RUNTIME_CLI_TRACE_CMD_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/libs/trace/otlp.h"

namespace kata::runtime::cli {

inline constexpr int kWaterfallBarWidth = 40;

// The waterfall of the trace `trace_id` (hex; "" = the latest) among `spans`.
absl::StatusOr<std::string> FormatWaterfall(const std::vector<trace::ServiceSpan>& spans,
                                            const std::string& trace_id);

// `args` are the words after "trace".
int RunTrace(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace kata::runtime::cli

#endif  // KATA_SRC_RUNTIME_CLI_TRACE_CMD_H_
