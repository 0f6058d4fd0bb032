// One debug console session: the shell on a pty (process/process.h, so the orphan reaper
// leaves its exit code alone), a pump thread from the pty to the host, and this thread from
// the host to the pty, until one side ends.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/agent/debug_console/debug_console.h"
#include "src/agent/log/log.h"
#include "src/agent/process/process.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/file.h"

namespace kata {
namespace agent {
namespace {

// Writes all of `data` to the non-blocking `fd`, waiting for room while `keep_going` holds;
// false when it stopped holding or the fd failed (the host is gone).
bool WriteToHost(int fd, absl::string_view data, const std::function<bool()>& keep_going) {
  while (!data.empty()) {
    if (!keep_going()) return false;
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == ENOTSOCK) n = write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return false;
    // Full, or (a virtio-serial port) no host: its POLLHUP does not wait, so sleep a little.
    struct pollfd p = {fd, POLLOUT, 0};
    if (RetryEintr([&] { return poll(&p, 1, 50); }) > 0 && (p.revents & POLLOUT) == 0) {
      usleep(10000);
    }
  }
  return true;
}

// SIGKILL to every process of session `sid` (the shell is its leader; background jobs have
// process groups of their own but stay in the session), a few rounds for ones forked meanwhile.
void KillSession(pid_t sid) {
  for (int round = 0; round < 3; ++round) {
    DIR* d = opendir("/proc");
    if (d == nullptr) break;
    while (struct dirent* e = readdir(d)) {
      int pid = 0;
      if (!absl::SimpleAtoi(e->d_name, &pid) || pid <= 1) continue;
      absl::StatusOr<std::string> stat = ReadFileToString(absl::StrCat("/proc/", pid, "/stat"));
      if (!stat.ok()) continue;
      const size_t paren = stat->rfind(')');
      if (paren == std::string::npos) continue;
      // After "comm)": state ppid pgrp session ...
      std::vector<absl::string_view> f =
          absl::StrSplit(absl::string_view(*stat).substr(paren + 1), ' ', absl::SkipEmpty());
      int session = 0;
      if (f.size() > 3 && absl::SimpleAtoi(f[3], &session) && session == sid) kill(pid, SIGKILL);
    }
    closedir(d);
  }
}

}  // namespace

DebugConsole::End DebugConsole::RunSession(int fd, const std::string& first) {
  sessions_.fetch_add(1);
  ProcessOptions po;
  po.argv = options_.shell;
  po.env = options_.env;
  po.cwd = options_.cwd;
  po.terminal = true;
  absl::StatusOr<std::unique_ptr<Process>> started = Process::Start(std::move(po));
  if (!started.ok()) {
    Log(LogLevel::kWarn, "debug console: cannot start the shell",
        {{"shell", options_.shell[0]}, {"error", started.status().ToString()}});
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    WriteToHost(fd,
                absl::StrCat("kata-agent: debug console: ", started.status().ToString(), "\r\n",
                             kSessionEndPrefix, 127, kSessionEndSuffix),
                [&] { return !stopping_.load() && absl::Now() < deadline; });
    return End::kShellExited;
  }
  Log(LogLevel::kInfo, "debug console: session started",
      {{"endpoint", endpoint_}, {"pid", static_cast<int>((*started)->pid())}});
  std::unique_ptr<Process> shell = *std::move(started);
  UniqueFd done(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::atomic<bool> abort{false};
  auto keep_going = [&] { return !abort.load() && !stopping_.load(); };
  std::thread pump([&] {
    bool eof = false;
    for (;;) {
      absl::StatusOr<std::string> chunk = shell->ReadStdout(4096);
      if (!chunk.ok() || chunk->empty()) {
        eof = chunk.ok();
        break;
      }
      if (!WriteToHost(fd, *chunk, keep_going)) break;
    }
    if (eof && keep_going()) {
      WriteToHost(fd, absl::StrCat(kSessionEndPrefix, shell->Wait(), kSessionEndSuffix),
                  keep_going);
    }
    uint64_t one = 1;
    ssize_t ignored = write(done.get(), &one, sizeof(one));
    (void)ignored;
  });
  if (!first.empty()) (void)shell->WriteStdin(first);
  End end = End::kHostGone;
  char buf[4096];
  for (;;) {
    struct pollfd p[3] = {{fd, POLLIN, 0}, {done.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    RetryEintr([&] { return poll(p, 3, -1); });
    if (p[2].revents != 0) {
      end = End::kStopped;
      break;
    }
    if (p[1].revents != 0) {
      end = End::kShellExited;
      break;
    }
    if (p[0].revents == 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      (void)shell->WriteStdin(absl::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    break;  // EOF or an error: the host has gone
  }
  abort.store(true);
  if (end != End::kShellExited || !shell->TryWait().has_value()) KillSession(shell->pid());
  pump.join();
  Log(LogLevel::kInfo, "debug console: session ended",
      {{"endpoint", endpoint_},
       {"by", end == End::kShellExited ? "shell exit"
              : end == End::kStopped   ? "stop"
                                       : "host"}});
  return end;
}

}  // namespace agent
}  // namespace kata
