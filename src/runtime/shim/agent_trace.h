// AgentTraceReader: the shim's end of the agent's trace stream (issue 14). With `[agent.kata]
// enable_tracing` QEMU serves the virtio-serial port "agent.trace" on a unix socket in the VM's
// directory (hypervisor.h's kAgentTraceSocketName); the agent writes its finished spans there
// as length-prefixed OTLP ExportTraceServiceRequest frames (src/libs/trace/frame.h). The reader
// connects to it and reads it on the shim's IoLoop (no thread of its own), handing every
// decoded request to `sink` (on the loop's thread).
//
// Contracts: the guest is not trusted: frames over the size limit and frames that do not parse
// are dropped and counted (dropped(); logged once each kind), never buffered beyond one frame's
// limit; one callback reads at most a few buffers, so a flooding guest cannot starve the loop.
// The stream ends at EOF (QEMU closed it: the VM is gone) or a read error; WaitEnd waits for
// that. The destructor stops reading (on the loop) before it returns; `sink` is not called
// after.
#ifndef KATA_SRC_RUNTIME_SHIM_AGENT_TRACE_H_
#define KATA_SRC_RUNTIME_SHIM_AGENT_TRACE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/libs/trace/otlp.h"
#include "src/runtime/shim/io_loop.h"

namespace kata {
namespace shim {

class AgentTraceReader {
 public:
  using Sink = std::function<void(trace::ExportTraceServiceRequest)>;

  // Connects to the unix socket `path` and starts reading; an error names the path.
  static absl::StatusOr<std::unique_ptr<AgentTraceReader>> Start(const std::string& path, Sink sink,
                                                                 IoLoop& loop = IoLoop::Shared());
  ~AgentTraceReader();
  AgentTraceReader(const AgentTraceReader&) = delete;
  AgentTraceReader& operator=(const AgentTraceReader&) = delete;

  // True once the stream ended (within `timeout`).
  bool WaitEnd(absl::Duration timeout);
  uint64_t decoded() const;  // frames handed to the sink
  uint64_t dropped() const;  // frames dropped (over the limit, or not a request)

  struct State;

 private:
  explicit AgentTraceReader(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_AGENT_TRACE_H_
