#include "src/runtime/shim/binary_log.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/runtime/shim/log.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace kata {
namespace shim {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding (and '+' as a space in a query, as Go's url.QueryUnescape); nullopt for a
// malformed escape.
std::optional<std::string> Unescape(absl::string_view s, bool query) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(query && s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

absl::Status BadUri(absl::string_view uri, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("log URI ", uri, ": ", why));
}

// Waits up to `timeout` for the child behind `pidfd` to exit; true when it did.
bool WaitExit(int pidfd, absl::Duration timeout) {
  pollfd p = {pidfd, POLLIN, 0};
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  return RetryEintr([&] { return poll(&p, 1, ms); }) > 0;
}

}  // namespace

absl::StatusOr<BinaryLogCommand> ParseBinaryLogUri(absl::string_view uri) {
  absl::string_view rest = uri;
  if (!absl::ConsumePrefix(&rest, kBinaryLogScheme)) return BadUri(uri, "not binary://");
  absl::string_view query;
  if (size_t q = rest.find('?'); q != absl::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (size_t f = query.find('#'); f != absl::string_view::npos) query = query.substr(0, f);
  if (!absl::StartsWith(rest, "/")) {
    return BadUri(uri, "the binary must be an absolute path (binary:///path)");
  }
  BinaryLogCommand cmd;
  std::optional<std::string> path = Unescape(rest, false);
  if (!path) return BadUri(uri, "bad %-escape in the path");
  cmd.path = *path;
  std::vector<std::string> seen;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    std::optional<std::string> key = Unescape(kv.first, true);
    std::optional<std::string> value = Unescape(kv.second, true);
    if (!key || !value) return BadUri(uri, "bad %-escape in the query");
    // Go's url.Values keeps every value of a key; containerd passes the first one.
    if (std::find(seen.begin(), seen.end(), *key) != seen.end()) continue;
    seen.push_back(*key);
    cmd.args.push_back(*key);
    if (pair.find('=') != absl::string_view::npos) cmd.args.push_back(*value);
  }
  return cmd;
}

absl::StatusOr<std::unique_ptr<BinaryLogger>> BinaryLogger::Start(absl::string_view uri,
                                                                  const std::string& container_id,
                                                                  const std::string& ns,
                                                                  absl::Duration ready_timeout) {
  KATA_ASSIGN_OR_RETURN(BinaryLogCommand cmd, ParseBinaryLogUri(uri));
  struct stat st {};
  if (stat(cmd.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      access(cmd.path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("log URI ", uri, ": ", cmd.path, " is not an executable file"));
  }
  int out[2], err[2], ready[2];
  if (pipe2(out, O_CLOEXEC) != 0) return ErrnoStatus(errno, "logging binary stdout pipe");
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (pipe2(err, O_CLOEXEC) != 0) return ErrnoStatus(errno, "logging binary stderr pipe");
  UniqueFd err_r(err[0]), err_w(err[1]);
  if (pipe2(ready, O_CLOEXEC) != 0) return ErrnoStatus(errno, "logging binary ready pipe");
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  UniqueFd null_fd(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) return ErrnoStatus(errno, "open /dev/null");

  // Everything the child needs, made before fork (it may only make async-signal-safe calls).
  std::vector<std::string> strings = {cmd.path};
  strings.insert(strings.end(), cmd.args.begin(), cmd.args.end());
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string env_id = "CONTAINER_ID=" + container_id, env_ns = "CONTAINER_NAMESPACE=" + ns;
  char* envp[] = {env_id.data(), env_ns.data(), nullptr};
  const int from[3] = {out_r.get(), err_r.get(), ready_w.get()};

  const pid_t pid = fork();
  if (pid < 0) return ErrnoStatus(errno, "fork the logging binary");
  if (pid == 0) {
    int high[3];
    for (int i = 0; i < 3; ++i) high[i] = fcntl(from[i], F_DUPFD, 10);  // clear of 3..5
    dup2(null_fd.get(), 0);
    dup2(null_fd.get(), 1);
    dup2(null_fd.get(), 2);
    for (int i = 0; i < 3; ++i) dup2(high[i], 3 + i);  // dup2 clears FD_CLOEXEC on the copy
    syscall(SYS_close_range, 6U, ~0U, CLOSE_RANGE_CLOEXEC);
    execve(argv[0], argv.data(), envp);
    _exit(127);
  }
  std::unique_ptr<BinaryLogger> logger(new BinaryLogger());
  logger->pid_ = pid;
  logger->uri_ = std::string(uri);
  logger->pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  out_r.reset();
  err_r.reset();
  ready_w.reset();
  logger->stdout_w_ = std::move(out_w);
  logger->stderr_w_ = std::move(err_w);

  // Ready: a byte on fd 5, or its close (by the binary, or by its exit).
  pollfd p = {ready_r.get(), POLLIN, 0};
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(ready_timeout));
  if (RetryEintr([&] { return poll(&p, 1, ms); }) <= 0) {
    logger->Stop(absl::ZeroDuration());
    return absl::DeadlineExceededError(absl::StrCat("log URI ", uri, ": ", cmd.path,
                                                    " not ready within ",
                                                    absl::FormatDuration(ready_timeout)));
  }
  SHIM_LOG(Debug) << "logging binary " << cmd.path << " (pid " << pid << ") ready for "
                  << container_id;
  return logger;
}

void BinaryLogger::Stop(absl::Duration grace) {
  stdout_w_.reset();
  stderr_w_.reset();
  if (pid_ <= 0) return;
  // The binary has its EOF: give it a moment to finish on its own, then SIGTERM (as
  // containerd and Kata do), then SIGKILL.
  bool exited = pidfd_ && WaitExit(pidfd_.get(), std::min(grace, absl::Seconds(1)));
  if (!exited) {
    kill(pid_, SIGTERM);  // our unreaped child: the pid cannot have been reused
    exited = pidfd_ && WaitExit(pidfd_.get(), grace);
    if (!exited) {
      SHIM_LOG(Warning) << "logging binary of " << uri_ << " (pid " << pid_
                        << ") ignored SIGTERM: killing it";
      kill(pid_, SIGKILL);
    }
  }
  int status = 0;
  RetryEintr([&] { return waitpid(pid_, &status, 0); });
  pid_ = -1;
}

BinaryLogger::~BinaryLogger() { Stop(); }

}  // namespace shim
}  // namespace kata
