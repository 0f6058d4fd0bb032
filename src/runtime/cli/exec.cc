#include "src/runtime/cli/exec.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/file.h"
#include "src/libs/base/io.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/ttrpc/address.h"
#include "src/runtime/hypervisor/hypervisor.h"
#include "src/runtime/sandbox/ids.h"

namespace kata::runtime::cli {
namespace {

// The console's output with the end marker taken out, across reads.
class MarkerScanner {
 public:
  // Appends `data`; returns what may be printed now (a possible start of the marker is held).
  std::string Feed(absl::string_view data) {
    buf_.append(data.data(), data.size());
    const size_t plen = strlen(kConsoleEndPrefix);
    const size_t at = buf_.find(kConsoleEndPrefix);
    if (at != std::string::npos) {
      const size_t end = buf_.find(kConsoleEndSuffix, at + plen);
      if (end != std::string::npos &&
          absl::SimpleAtoi(absl::string_view(buf_).substr(at + plen, end - at - plen), &code_)) {
        done_ = true;
        return buf_.substr(0, at);
      }
      if (end == std::string::npos && buf_.size() - at <= plen + 12) return Take(at);
      // Not a marker after all: print through its first byte and look again.
      std::string out = Take(at + 1);
      return out + Feed("");
    }
    size_t keep = std::min(buf_.size(), plen - 1);
    while (keep > 0 && buf_.compare(buf_.size() - keep, keep, kConsoleEndPrefix, keep) != 0) --keep;
    return Take(buf_.size() - keep);
  }
  std::string Rest() { return Take(buf_.size()); }
  bool done() const { return done_; }
  int code() const { return code_; }

 private:
  std::string Take(size_t n) {
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }
  std::string buf_;
  bool done_ = false;
  int code_ = 0;
};

// vhost-vsock hosts: vsock://CID:1026 when the VMM's command line gives the guest a CID and
// the kernel `agent.debug_console`; "" otherwise.
std::string VsockAddress(const std::string& vm_dir) {
  absl::StatusOr<std::string> pid = ReadFileToString(absl::StrCat(vm_dir, "/vmm.pid"));
  if (!pid.ok()) return "";
  absl::StatusOr<std::string> cmdline =
      ReadFileToString(absl::StrCat("/proc/", absl::StripAsciiWhitespace(*pid), "/cmdline"));
  if (!cmdline.ok() || !absl::StrContains(*cmdline, vm_dir)) return "";  // not that VMM
  bool enabled = false;
  std::string cid;
  for (absl::string_view arg : absl::StrSplit(*cmdline, '\0')) {
    for (absl::string_view word : absl::StrSplit(arg, absl::ByAnyChar(" ,"))) {
      if (word == "agent.debug_console") enabled = true;
      if (absl::ConsumePrefix(&word, "guest-cid=")) cid = std::string(word);
    }
  }
  if (!enabled || cid.empty()) return "";
  return absl::StrCat("vsock://", cid, ":", hypervisor::kDebugConsoleVsockPort);
}

}  // namespace

absl::StatusOr<std::string> DebugConsoleAddress(const std::string& sandbox_id,
                                                const std::string& vm_root) {
  KATA_RETURN_IF_ERROR(CheckId("sandbox", sandbox_id));
  const std::string vm_dir = absl::StrCat(vm_root, "/", sandbox_id);
  struct stat st;
  if (stat(vm_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("sandbox ", sandbox_id, ": not found (no VM directory ", vm_dir, ")"));
  }
  const std::string socket = absl::StrCat(vm_dir, "/", hypervisor::kDebugConsoleSocketName);
  if (lstat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    return absl::StrCat("unix://", socket);
  }
  if (std::string vsock = VsockAddress(vm_dir); !vsock.empty()) return vsock;
  return absl::FailedPreconditionError(
      absl::StrCat("sandbox ", sandbox_id,
                   ": debug console is not enabled (agent.kata.debug_console_enabled = false)"));
}

absl::StatusOr<int> RunDebugConsole(const std::string& address, int stdin_fd, int stdout_fd) {
  KATA_ASSIGN_OR_RETURN(ttrpc::Address a, ttrpc::ParseAddress(address));
  absl::StatusOr<int> dialed = ttrpc::Dial(a, absl::Seconds(5));
  if (!dialed.ok()) return AnnotateStatus(dialed.status(), "debug console");
  UniqueFd sock(*dialed);
  struct termios saved;
  const bool raw = isatty(stdin_fd) && tcgetattr(stdin_fd, &saved) == 0;
  if (raw) {
    struct termios t = saved;
    cfmakeraw(&t);
    tcsetattr(stdin_fd, TCSANOW, &t);
  }
  absl::Cleanup restore = [&] {
    if (raw) tcsetattr(stdin_fd, TCSANOW, &saved);
  };
  // The socket is never written blocking: input waits in `pending` while the console does not
  // take it, and its output is read all the while (a shell that does not read its input must
  // not stop us reading what it prints).
  const int flags = fcntl(sock.get(), F_GETFL);
  if (flags < 0 || fcntl(sock.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
    return ErrnoStatus(errno, "debug console: O_NONBLOCK");
  }
  MarkerScanner scan;
  bool stdin_open = true;
  std::string pending;
  char last = '\n';  // the last byte of input queued
  char buf[16384];
  for (;;) {
    const bool want_stdin = stdin_open && pending.size() < sizeof(buf);
    struct pollfd p[2] = {
        {sock.get(), static_cast<short>(POLLIN | (pending.empty() ? 0 : POLLOUT)), 0},
        {want_stdin ? stdin_fd : -1, POLLIN, 0}};
    if (RetryEintr([&] { return poll(p, 2, -1); }) < 0) return ErrnoStatus(errno, "poll");
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = RetryEintr([&] { return read(sock.get(), buf, sizeof(buf)); });
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      const std::string out =
          n > 0 ? scan.Feed(absl::string_view(buf, static_cast<size_t>(n))) : scan.Rest();
      KATA_RETURN_IF_ERROR(WriteAll(stdout_fd, out));
      if (n <= 0) return 0;  // the connection closed (vsock): the session is over
      if (scan.done()) return scan.code();
    }
    if ((p[0].revents & POLLOUT) && !pending.empty()) {
      const ssize_t n = send(sock.get(), pending.data(), pending.size(), MSG_NOSIGNAL);
      if (n > 0) {
        pending.erase(0, static_cast<size_t>(n));
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        pending.clear();  // the console went away: its output (if any) still ends the session
        stdin_open = false;
      }
    }
    if (want_stdin && p[1].revents != 0) {
      const ssize_t n = RetryEintr([&] { return read(stdin_fd, buf, sizeof(buf)); });
      if (n > 0) {
        pending.append(buf, static_cast<size_t>(n));
        last = buf[n - 1];
      } else {
        stdin_open = false;
        // ^D is the shell's EOF only at the start of a line: end a last line first.
        if (!raw) pending += last == '\n' ? "\x04" : "\n\x04";
      }
    }
  }
}

}  // namespace kata::runtime::cli
