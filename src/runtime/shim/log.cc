#include "src/runtime/shim/log.h"

#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kata {
namespace shim {

Log& Log::Get() {
  static Log* log = new Log();
  return *log;
}

void Log::SetFd(int fd, bool debug) {
  absl::MutexLock lock(&mu_);
  if (fd_ != 2 && fd_ != fd) close(fd_);
  fd_ = fd;
  debug_ = debug;
}

void Log::SetId(std::string id) {
  absl::MutexLock lock(&mu_);
  id_ = std::move(id);
}

bool Log::debug() const {
  absl::MutexLock lock(&mu_);
  return debug_;
}

void Log::Write(LogLevel level, absl::string_view message) {
  static const char* kNames[] = {"debug", "info", "warning", "error"};
  absl::MutexLock lock(&mu_);
  if (level == LogLevel::kDebug && !debug_) return;
  std::string quoted = absl::StrReplaceAll(message, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
  std::string line = absl::StrCat(
      "time=\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()),
      "\" level=", kNames[static_cast<int>(level)], " msg=\"", quoted, "\"",
      id_.empty() ? "" : absl::StrCat(" id=", id_), " runtime=kata-cpp\n");
  ssize_t n;
  do {
    n = write(fd_, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
}

}  // namespace shim
}  // namespace kata
