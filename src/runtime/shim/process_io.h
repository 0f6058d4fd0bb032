// The stdio of one container process between containerd and the sandbox.
//
// containerd names the process's stdio in CreateTaskRequest / ExecProcessRequest: FIFO paths
// (what ctr and the CRI use), `file:///path` (output appended to a file), `binary:///path?...`
// (a logging binary, binary_log.h: what nerdctl uses for detached containers), or "" (none).
//
//   KATA_ASSIGN_OR_RETURN(auto io, ProcessIo::Open({.stdin = ..., .stdout = ..., .terminal = t}));
//   io->Start(&sandbox, "c1", "");   // once the process exists in the sandbox
//   io->WaitOutput(absl::Seconds(10));  // after the process exited: all output copied
//
// Promises:
// - Open never blocks: stdin is opened O_RDONLY|O_NONBLOCK (then made blocking), stdout and
//   stderr O_RDWR, so opening works whether or not containerd has its end open yet.
// - No thread per process: every process's stdio is copied from the shim's one event loop
//   (io_loop.h), driven by the sandbox's asynchronous stdio calls and epoll readiness.
// - Output: each stream reads (ReadOutputAsync) until EOF ("") or an error (OUT_OF_RANGE,
//   UNAVAILABLE after a VM death) and writes everything it read to the FIFO or file, without
//   blocking: a FIFO that is full defers the stream's next read until it takes the rest, and
//   never holds up another stream or process. WaitOutput returns once both streams are
//   finished, so an exit reported after it loses no output. With a terminal there is no
//   stderr stream.
// - A finished stream's FIFO or file is closed at once (before WaitOutput returns):
//   containerd's reader sees EOF while the process still exists (the CRI's ExecSync waits for
//   that EOF before it answers and deletes the exec).
// - Input: the stdin FIFO is read when epoll says it is readable and sent with
//   WriteStdinAsync, one chunk at a time; when containerd's writer closes (EOF) or CloseStdin()
//   is called (Task.CloseIO), the data already in the FIFO is sent and then the process's
//   stdin is closed (CloseStdin), so the process reads EOF. Without a stdin path the process's
//   stdin is closed at Start.
// - A reader that went away (EPIPE) does not stop the copying: the output is read and dropped
//   so the process never blocks on a full buffer.
// - binary://: the stdout URI names the logging binary (stderr is the same URI, or empty);
//   Open starts it (with the identity's container id and namespace) and returns once it is
//   ready; both streams go to its pipes; it is stopped (EOF, then SIGTERM, then SIGKILL) as
//   soon as both streams are finished, or by the destructor. A stderr binary:// URI without
//   a stdout one is INVALID_ARGUMENT.
// - The destructor closes stdin as CloseStdin does and waits until the calls in flight have
//   completed; output not yet written then is dropped (the reads go on to EOF). The sandbox
//   must be able to end the reads by then (the process exited or the container was deleted).
#ifndef KATA_SRC_RUNTIME_SHIM_PROCESS_IO_H_
#define KATA_SRC_RUNTIME_SHIM_PROCESS_IO_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/libs/base/unique_fd.h"
#include "src/runtime/sandbox/sandbox.h"
#include "src/runtime/shim/binary_log.h"

namespace kata {
namespace shim {

struct StdioPaths {
  std::string stdin;
  std::string stdout;
  std::string stderr;
  bool terminal = false;
};

// Who the process belongs to (a logging binary's CONTAINER_ID and CONTAINER_NAMESPACE).
struct ProcessIdentity {
  std::string container_id;
  std::string ns;
};

class ProcessIo {
 public:
  static absl::StatusOr<std::unique_ptr<ProcessIo>> Open(const StdioPaths& paths,
                                                         const ProcessIdentity& who = {});
  ~ProcessIo();
  ProcessIo(const ProcessIo&) = delete;
  ProcessIo& operator=(const ProcessIo&) = delete;

  // Starts copying for process (container_id, exec_id) of `sandbox`, which must
  // outlive this object. Once only.
  void Start(runtime::Sandbox* sandbox, const std::string& container_id,
             const std::string& exec_id);
  // True once stdout and stderr are finished (immediately when Start was never called).
  bool WaitOutput(absl::Duration timeout);
  // Ends the stdin copy: pending FIFO data is sent, then the process's stdin is closed.
  void CloseStdin();

  const StdioPaths& paths() const { return paths_; }

 private:
  struct State;  // process_io.cc: the descriptors and the copying, on the loop's thread
  ProcessIo() = default;
  void CloseStdinOf(const std::shared_ptr<State>& st);

  StdioPaths paths_;
  std::shared_ptr<State> state_;
  bool started_ = false;
};

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_PROCESS_IO_H_
