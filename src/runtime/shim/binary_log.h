// A containerd logging binary for one container process: what `ctr run --log-uri
// binary:///path?key=value` and nerdctl's detached containers ask for.
//
//   KATA_ASSIGN_OR_RETURN(auto logger, BinaryLogger::Start(uri, "c1", "default"));
//   UniqueFd out = logger->TakeStdout();  // write the process's stdout here, then close
//   ...
//   logger->Stop();                       // after both streams were closed
//
// containerd's contract (containerd 1.6 pkg/process/io.go NewBinaryIO, runtime/v2/logging):
// - the binary is the URI's path (absolute, percent-decoded); its arguments are the query's
//   keys, each followed by its first value when it has one (`?a=1&b` runs `path a 1 b`);
// - fd 3 and fd 4 are the read ends of the stdout and stderr pipes, fd 5 the write end of a
//   "ready" pipe, stdin/stdout/stderr are /dev/null, and the environment is exactly
//   CONTAINER_ID=<container id> and CONTAINER_NAMESPACE=<namespace>;
// - Start returns once the binary is ready: it wrote to or closed fd 5 (exiting closes it
//   too). A binary that does neither within `ready_timeout` is killed: DEADLINE_EXCEEDED.
// - Stop closes the shim's pipe ends still open, sends SIGTERM, waits up to `grace` (12 s
//   by default, as Kata), then SIGKILL, and reaps the binary. The destructor stops it.
// Errors name the URI: INVALID_ARGUMENT for a URI that is not binary:///absolute/path,
// FAILED_PRECONDITION when the path is not an executable file.
#ifndef KATA_SRC_RUNTIME_SHIM_BINARY_LOG_H_
#define KATA_SRC_RUNTIME_SHIM_BINARY_LOG_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace shim {

inline constexpr char kBinaryLogScheme[] = "binary://";

// What a binary:// URI runs.
struct BinaryLogCommand {
  std::string path;
  std::vector<std::string> args;  // without argv[0]
};

// INVALID_ARGUMENT naming the URI when it is not binary:///absolute/path[?query].
absl::StatusOr<BinaryLogCommand> ParseBinaryLogUri(absl::string_view uri);

class BinaryLogger {
 public:
  static absl::StatusOr<std::unique_ptr<BinaryLogger>> Start(
      absl::string_view uri, const std::string& container_id, const std::string& ns,
      absl::Duration ready_timeout = absl::Seconds(30));
  ~BinaryLogger();
  BinaryLogger(const BinaryLogger&) = delete;
  BinaryLogger& operator=(const BinaryLogger&) = delete;

  // The write ends of the stdout and stderr pipes (empty after the first call).
  UniqueFd TakeStdout() { return std::move(stdout_w_); }
  UniqueFd TakeStderr() { return std::move(stderr_w_); }

  // Once; later calls return at once.
  void Stop(absl::Duration grace = absl::Seconds(12));

  pid_t pid() const { return pid_; }

 private:
  BinaryLogger() = default;

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd stdout_w_, stderr_w_;
  std::string uri_;
};

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_BINARY_LOG_H_
