#include "src/agent/rpc/agent_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/agent/version.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {

AgentService::Options::Options() : init_daemon(getpid() == 1) {}

AgentService::AgentService(Options options) : options_(std::move(options)) {}

absl::StatusOr<uint64_t> ParseMemBlockSize(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  uint64_t v = 0;
  if (t.empty() || !absl::SimpleHexAtoi(t, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a hex number, got \"", absl::CHexEscape(t), "\""));
  }
  return v;
}

absl::StatusOr<grpc::GuestDetailsResponse> AgentService::GuestDetails(
    const grpc::GuestDetailsRequest& request) const {
  grpc::GuestDetailsResponse response;
  if (request.mem_block_size()) {
    const std::string path = absl::StrCat(options_.memory_dir, "/block_size_bytes");
    std::ifstream in(path);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      absl::StatusOr<uint64_t> size = ParseMemBlockSize(ss.str());
      if (!size.ok()) {
        return absl::InternalError(absl::StrCat(path, ": ", size.status().message()));
      }
      response.set_mem_block_size_bytes(*size);
    }
  }
  if (request.mem_hotplug_probe()) {
    struct stat st;
    response.set_support_mem_hotplug_probe(
        stat(absl::StrCat(options_.memory_dir, "/probe").c_str(), &st) == 0);
  }
  grpc::AgentDetails* details = response.mutable_agent_details();
  details->set_version(kAgentVersion);
  details->set_init_daemon(options_.init_daemon);
  details->set_supports_seccomp(false);
  return response;
}

absl::Status AgentService::GetGuestDetails(ttrpc::ServerContext&,
                                           const grpc::GuestDetailsRequest& request,
                                           grpc::GuestDetailsResponse* response) {
  absl::StatusOr<grpc::GuestDetailsResponse> r = GuestDetails(request);
  if (!r.ok()) return r.status();
  *response = std::move(*r);
  return absl::OkStatus();
}

}  // namespace agent
}  // namespace kata
