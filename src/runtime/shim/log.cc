#include "src/runtime/shim/log.h"

#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "src/libs/base/eintr.h"

namespace kata {
namespace shim {

Log& Log::Get() {
  static Log* log = new Log();
  return *log;
}

void Log::SetFd(UniqueFd fd, bool debug) {
  absl::MutexLock lock(&mu_);
  fd_ = std::move(fd);
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
  std::string quoted =
      absl::StrReplaceAll(message, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
  std::string line = absl::StrCat(
      "time=\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()),
      "\" level=", kNames[static_cast<int>(level)], " msg=\"", quoted, "\"",
      id_.empty() ? "" : absl::StrCat(" id=", id_), " runtime=kata-cpp\n");
  const int fd = fd_ ? fd_.get() : 2;
  RetryEintr([&] { return write(fd, line.data(), line.size()); });
}

}  // namespace shim
}  // namespace kata
