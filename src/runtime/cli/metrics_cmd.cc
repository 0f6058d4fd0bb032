#include "src/runtime/cli/metrics_cmd.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "src/libs/http/http.h"
#include "src/libs/metrics/prometheus.h"
#include "src/runtime/sandbox/ids.h"
#include "src/runtime/sandbox/layout.h"

namespace kata::runtime::cli {

int RunMetrics(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
               const std::string& state_root, absl::Duration timeout) {
  if (args.size() != 1) {
    err << "usage: kata-runtime metrics <sandbox-id>\n";
    return 2;
  }
  const std::string& id = args[0];
  if (absl::Status s = CheckId("sandbox id", id); !s.ok()) {
    err << "kata-runtime metrics: " << s.message() << "\n";
    return 1;
  }
  const std::string socket = absl::StrCat(state_root, "/", id, "/", kShimMonitorSocket);
  struct stat st;
  if (stat(socket.c_str(), &st) != 0) {
    err << "kata-runtime metrics: no sandbox " << id << " (" << socket << " does not exist)\n";
    return 1;
  }
  absl::StatusOr<http::HttpResponse> r = http::HttpGetUnix(socket, "/metrics", timeout);
  if (!r.ok()) {
    err << "kata-runtime metrics: sandbox " << id << ": " << r.status().message() << "\n";
    return 1;
  }
  if (r->status != 200) {
    err << "kata-runtime metrics: sandbox " << id << ": the shim answered " << r->status << "\n";
    return 1;
  }
  if (absl::Status s = metrics::CheckExposition(r->body); !s.ok()) {
    err << "kata-runtime metrics: sandbox " << id << ": " << s.message() << "\n";
    return 1;
  }
  // The text quotes the guest (label values, HELP): no control byte reaches the terminal.
  std::string body = r->body;
  for (char& c : body) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == 0x7f) c = '?';
  }
  out << body;
  return 0;
}

}  // namespace kata::runtime::cli
