#include "src/agent/cgroups/internal/test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "src/agent/cgroups/internal/files.h"
#include "src/libs/base/file.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace testing {

std::string RandomName() {
  std::random_device rd;
  uint64_t v = (static_cast<uint64_t>(rd()) << 32) | rd();
  return absl::StrCat("kata-test-", absl::Hex(v, absl::kZeroPad16));
}

void BecomeSubreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

pid_t SpawnIn(CgroupManager& mgr, const std::function<void()>& body) {
  int go[2];
  if (::pipe2(go, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << strerror(errno);
    return -1;
  }
  UniqueFd go_read(go[0]);
  UniqueFd go_write(go[1]);
  pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    return -1;
  }
  if (pid == 0) {
    go_write.reset();
    char c;
    if (::read(go_read.get(), &c, 1) != 1) ::_exit(127);  // parent gave up
    body();
    ::_exit(127);
  }
  go_read.reset();
  absl::Status s = mgr.AddProcess(pid);
  if (!s.ok()) {
    ADD_FAILURE() << "AddProcess: " << s;
    go_write.reset();
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
  }
  (void)!::write(go_write.get(), "g", 1);
  return pid;
}

pid_t SpawnShellIn(CgroupManager& mgr, const std::string& script) {
  return SpawnIn(mgr, [&] { ::execl("/bin/sh", "sh", "-c", script.c_str(), nullptr); });
}

static void ReapAll() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

bool KillAndRemove(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return true;
  if (internal::FileExists(dir, "freezer.state")) {
    (void)internal::WriteFile(dir, "freezer.state", "THAWED");
  }
  if (internal::FileExists(dir, "cgroup.freeze")) {
    (void)internal::WriteFile(dir, "cgroup.freeze", "0");
  }
  for (int i = 0; i < 500; ++i) {
    absl::StatusOr<std::vector<pid_t>> pids = internal::ReadProcs(dir);
    if (!pids.ok() || pids->empty()) break;
    for (pid_t p : *pids) ::kill(p, SIGKILL);
    ReapAll();
    ::usleep(10 * 1000);
  }
  ReapAll();
  for (int i = 0; i < 200; ++i) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    ReapAll();
    ::usleep(10 * 1000);
  }
  return false;
}

std::string ReadTrimmed(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return "";
  return std::string(absl::StripTrailingAsciiWhitespace(*text));
}

int WaitWithTimeout(pid_t pid, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    int status;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    ::usleep(10 * 1000);
  }
  return -1;
}

}  // namespace testing
}  // namespace cgroups
}  // namespace agent
}  // namespace kata
