// AgentClient over ttRPC: the generated `grpc::AgentServiceTtrpc::Client` and
// `grpc::HealthTtrpc::Client` on one connection to the guest's agent.
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<AgentClient> agent,
//                         DialAgent("unix:///run/vc/vm/s1/agent.sock", {}));
//
// Connecting: a VMM makes the host end of the agent channel exist as soon as it starts, but
// the guest answers only after it has booted (seconds under TCG). DialAgent therefore dials
// (retrying a missing or refused socket) and then calls Health.Check until it answers
// SERVING, all within `options.dial_timeout`; a broken connection in between is dialled
// again. On a virtio-serial port the host's bytes wait in the VMM until the guest opens the
// port, so one Check call is simply answered once the agent is up.
// DEADLINE_EXCEEDED "agent <address>: not ready after <t>: <last error>" when it never answers.
//
// Per-call timeouts: every call but the blocking ones (WaitProcess, ReadStdout/ReadStderr,
// GetOOMEvent) is bounded by options.call_timeout, CreateContainer by
// options.create_container_timeout.
#ifndef KATA_SRC_RUNTIME_AGENT_TTRPC_AGENT_CLIENT_H_
#define KATA_SRC_RUNTIME_AGENT_TTRPC_AGENT_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/libs/ttrpc/client.h"
#include "src/runtime/agent/agent_client.h"
#include "src/runtime/hypervisor/hypervisor.h"

namespace kata::runtime {

struct AgentClientOptions {
  absl::Duration dial_timeout = absl::Seconds(45);
  absl::Duration call_timeout = absl::Seconds(30);
  absl::Duration create_container_timeout = absl::Seconds(60);
};

// Dials `address` (ttrpc/address.h forms) and waits for Health.Check as described above.
absl::StatusOr<std::unique_ptr<AgentClient>> DialAgent(absl::string_view address,
                                                       const AgentClientOptions& options);

// The ttRPC address of a hypervisor's agent channel: unix://<socket> for virtio-serial,
// vsock://<cid>:<port> for vsock.
std::string AgentAddress(const hypervisor::AgentChannel& channel);

// An AgentClient over an already connected ttRPC client (no health wait). For tests.
std::unique_ptr<AgentClient> NewTtrpcAgentClient(std::unique_ptr<ttrpc::Client> client,
                                                 const AgentClientOptions& options);

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_AGENT_TTRPC_AGENT_CLIENT_H_
