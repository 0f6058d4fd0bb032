// agent-ctl: a command-line client for the Kata agent API (grpc.AgentService and
// grpc.Health over ttRPC), like Kata Containers' tools/agent-ctl. Any rpc can be called by
// name with its request written in protobuf's JSON mapping; the answer is printed as JSON.
//
//   agent-ctl --addr unix:///run/agent.sock call GetGuestDetails '{"mem_block_size": true}'
//   agent-ctl --addr vsock://3:1024 check
//   agent-ctl list
//
// Methods are found through the generated descriptor pool, so every rpc of agent.proto and
// health.proto is callable without code per method. The binary (main.cc) only forwards its
// argv to RunAgentCtl; UsageText() is the full manual (commands, flags, exit codes).
//
// Promises:
// - RunAgentCtl writes results to `out` only and diagnostics to `err` only, and returns one
//   of the ExitCode values; it never exits the process and never throws.
// - A usage error, an unknown method or a request that is not valid JSON for the method's
//   input type is reported before any connection is attempted.
// - JSON output uses the .proto field names (preserve_proto_field_names = true), omits
//   fields at their default value (always_print_primitive_fields = false) and is pretty
//   printed; 64-bit integers appear as JSON strings, as the JSON mapping says.
#ifndef KATA_TOOLS_AGENT_CTL_AGENT_CTL_H_
#define KATA_TOOLS_AGENT_CTL_AGENT_CTL_H_

#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace kata {
namespace agent_ctl {

// The version RunAgentCtl's `version` command prints.
inline constexpr char kAgentCtlVersion[] = "0.1.0";

// The process exit codes (also listed in UsageText()).
enum ExitCode : int {
  kExitOk = 0,
  kExitRpcError = 1,    // the rpc answered an error status, or `check` saw not SERVING
  kExitUsage = 2,       // bad flags/command, unknown method, request not valid JSON
  kExitConnection = 3,  // cannot connect to --addr
};

// The services agent-ctl knows, in lookup order.
inline constexpr const char* kServices[] = {"grpc.AgentService", "grpc.Health"};

// The usage text (commands, flags, method names, exit codes), ending with a newline.
std::string UsageText();

// Resolves a method name as the `call` command takes it:
//   "CreateContainer"                    grpc.AgentService first, then grpc.Health
//   "Health.Check", "grpc.Health.Check"  service (with or without "grpc.") and method
//   "grpc.AgentService/CreateContainer"  the wire form (the service may omit "grpc.")
// NOT_FOUND for an unknown name, with up to five close names in the message.
absl::StatusOr<const google::protobuf::MethodDescriptor*> FindMethod(absl::string_view name);

// Every method of kServices as "<service>/<method>  <request type> -> <response type>",
// in declaration order.
std::vector<std::string> ListMethods();

// Runs agent-ctl with `args` (argv without the program name). `in` is read only for a
// `call` whose JSON argument is "-".
int RunAgentCtl(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                std::ostream& err);

}  // namespace agent_ctl
}  // namespace kata

#endif  // KATA_TOOLS_AGENT_CTL_AGENT_CTL_H_
