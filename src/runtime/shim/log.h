// The shim's log. containerd reads a shim's log from the `log` FIFO in the bundle and copies
// each line into its own log; the shim writes logrus-style logfmt lines
// (`time="..." level=info msg="..." id=ID`) so they read like the runc shim's.
//
//   shim::Log::Get().SetFd(std::move(fd), /*debug=*/true);   // once, at start-up
//   SHIM_LOG(Info) << "task " << id << " started";
//
// Before SetFd lines go to stderr. Thread-safe; a line is written with one write(2) (a line the
// FIFO cannot take is dropped: the log never blocks). Debug lines are dropped unless debug is on.
#ifndef KATA_SRC_RUNTIME_SHIM_LOG_H_
#define KATA_SRC_RUNTIME_SHIM_LOG_H_

#include <sstream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace shim {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

class Log {
 public:
  static Log& Get();
  // Lines go to `fd` from now on (the previous one is closed; an empty `fd`: stderr again).
  void SetFd(UniqueFd fd, bool debug);
  void SetId(std::string id);
  bool debug() const;
  void Write(LogLevel level, absl::string_view message);

 private:
  mutable absl::Mutex mu_;
  UniqueFd fd_ ABSL_GUARDED_BY(mu_);  // none: stderr
  bool debug_ ABSL_GUARDED_BY(mu_) = false;
  std::string id_ ABSL_GUARDED_BY(mu_);
};

// One log line, written when the statement ends.
class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  ~LogLine() { Log::Get().Write(level_, stream_.str()); }
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace shim
}  // namespace kata

#define SHIM_LOG(level) ::kata::shim::LogLine(::kata::shim::LogLevel::k##level).stream()

#endif  // KATA_SRC_RUNTIME_SHIM_LOG_H_
