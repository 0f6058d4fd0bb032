// A QMP (QEMU Machine Protocol) client over a unix socket.
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<QmpClient> qmp,
//                         QmpClient::Connect("/run/kata/sb1/qmp.sock", absl::Seconds(5)));
//   KATA_ASSIGN_OR_RETURN(std::string status, qmp->Execute("query-status"));
//   // status == R"({"status":"prelaunch","singlestep":false,"running":false})"
//   KATA_RETURN_IF_ERROR(qmp->Execute("device_del", R"({"id":"blk0"})").status());
//   KATA_RETURN_IF_ERROR(qmp->WaitEvent("DEVICE_DELETED", absl::Seconds(5),
//                                        DeviceDeletedMatcher("blk0")).status());
//
// Contracts:
//   - Connect retries until the socket accepts (QEMU creates it a little after exec), reads
//     the greeting and negotiates capabilities ("qmp_capabilities"): a returned client is
//     in command mode.
//   - Every command carries a unique "id"; a reply that arrives after its command timed out
//     is recognized by its id and dropped, so it never answers a later command.
//   - Execute returns the "return" value as compact JSON. A QMP "error" becomes a status
//     whose message is "qmp <command>: <class>: <desc>"; the code follows the class
//     (CommandNotFound -> UNIMPLEMENTED, DeviceNotFound -> NOT_FOUND, others -> INTERNAL).
//     No reply in time: DEADLINE_EXCEEDED. QEMU gone: UNAVAILABLE (and every later call).
//   - Asynchronous events read while waiting for replies are queued (in order) until a
//     WaitEvent takes them; the queue keeps at most kMaxQueuedEvents (oldest dropped).
//   - Calls are serialized (one mutex); a client may be shared between threads, but a
//     blocking WaitEvent delays other calls until it returns.
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_QMP_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_QMP_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/base/unique_fd.h"

namespace kata::hypervisor::qemu {

struct QmpEvent {
  std::string name;       // "SHUTDOWN", "DEVICE_DELETED", ...
  std::string data_json;  // the "data" member as compact JSON ("{}" when absent)
  absl::Time timestamp;   // QEMU's timestamp
};

// Matches DEVICE_DELETED for the device `id` (QEMU also sends one per child object, with a
// path but no "device" member; those do not match).
std::function<bool(const QmpEvent&)> DeviceDeletedMatcher(const std::string& id);

class QmpClient {
 public:
  static constexpr size_t kMaxQueuedEvents = 1024;

  // Connects to `socket_path`, retrying while the socket is missing or refuses, until
  // `timeout` (DEADLINE_EXCEEDED, with the last error). `give_up`, when set, is polled
  // between attempts; a non-OK status from it is returned at once (e.g. "QEMU exited").
  static absl::StatusOr<std::unique_ptr<QmpClient>> Connect(
      const std::string& socket_path, absl::Duration timeout,
      std::function<absl::Status()> give_up = nullptr);

  ~QmpClient();
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;

  // Runs `command` with `args_json` (a JSON object, or empty for none; INVALID_ARGUMENT if
  // it is not an object) and waits up to `timeout` for its reply.
  absl::StatusOr<std::string> Execute(absl::string_view command, absl::string_view args_json = "",
                                      absl::Duration timeout = absl::Seconds(10));

  // Returns (and removes from the queue) the first event named `name` that `match` accepts
  // (any, when null), waiting up to `timeout` (DEADLINE_EXCEEDED). Events it skips stay
  // queued.
  absl::StatusOr<QmpEvent> WaitEvent(absl::string_view name, absl::Duration timeout,
                                     std::function<bool(const QmpEvent&)> match = nullptr);

  // The greeting's QEMU version, "7.2.22".
  const std::string& qemu_version() const { return qemu_version_; }

  // Closes the connection; later calls fail with UNAVAILABLE.
  void Close();

 private:
  explicit QmpClient(UniqueFd fd) : fd_(std::move(fd)) {}
  // The next complete message line, reading as needed until `deadline`.
  absl::StatusOr<std::string> ReadLine(absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads one message; queues it if it is an event (*is_event = true), else returns it.
  absl::Status ReadMessage(absl::Time deadline, std::string* line, bool* is_event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReadGreeting(absl::Time deadline);

  absl::Mutex mu_;
  UniqueFd fd_ ABSL_GUARDED_BY(mu_);
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  std::deque<QmpEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  std::string qemu_version_;
};

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_QMP_H_
