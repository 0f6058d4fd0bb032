// grpc.AgentService as kata-agent serves it. This slice implements GetGuestDetails; every
// other rpc keeps the generated answer, UNIMPLEMENTED "grpc.AgentService/<Method> is not
// implemented" (never a fake success).
//
//   AgentService agent({});            // real /sys, init_daemon = (getpid() == 1)
//   server.Register(&agent);
//
// GetGuestDetails promises:
// - mem_block_size_bytes: when requested, the hex number in <memory_dir>/block_size_bytes
//   ("8000000\n" -> 134217728); 0 when the file is absent; INTERNAL naming the file when it
//   does not parse.
// - support_mem_hotplug_probe: when requested, whether <memory_dir>/probe exists.
// - agent_details: version (kAgentVersion), init_daemon, and the device/storage handler
//   lists, empty until the agent has handlers; supports_seccomp false.
#ifndef KATA_SRC_AGENT_RPC_AGENT_SERVICE_H_
#define KATA_SRC_AGENT_RPC_AGENT_SERVICE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"

namespace kata {
namespace agent {

class AgentService final : public grpc::AgentServiceTtrpc::Service {
 public:
  struct Options {
    std::string memory_dir = "/sys/devices/system/memory";
    bool init_daemon;  // default: getpid() == 1
    Options();
  };

  explicit AgentService(Options options);

  absl::Status GetGuestDetails(ttrpc::ServerContext& context,
                               const grpc::GuestDetailsRequest& request,
                               grpc::GuestDetailsResponse* response) override;

  // The logic of GetGuestDetails, callable without a server.
  absl::StatusOr<grpc::GuestDetailsResponse> GuestDetails(
      const grpc::GuestDetailsRequest& request) const;

 private:
  const Options options_;
};

// Parses the hex contents of block_size_bytes ("8000000\n"); INVALID_ARGUMENT otherwise.
absl::StatusOr<uint64_t> ParseMemBlockSize(absl::string_view text);

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_AGENT_SERVICE_H_
