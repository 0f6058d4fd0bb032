#include "src/runtime/hypervisor/qemu/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::HasSubstr;

// The fd numbers open in process `pid` (its /proc/<pid>/fd).
std::set<int> OpenFds(pid_t pid) {
  std::set<int> fds;
  DIR* d = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (d == nullptr) return fds;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') fds.insert(std::stoi(e->d_name));
  }
  closedir(d);
  return fds;
}

// A fresh log path in a directory removed at exit.
std::string TempLog() {
  static kata::testing::TempDir* dir = new kata::testing::TempDir();
  static int n = 0;
  return dir->Join(absl::StrCat("log", n++));
}

TEST(ChildProcessTest, OutputGoesToTheLogAndExitIsReported) {
  const std::string log = TempLog();
  auto p = ChildProcess::Spawn({"sh", "-c", "echo out; echo err >&2; exit 3"}, {.log_path = log});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->WaitFor(absl::Seconds(10)));
  EXPECT_EQ((*p)->exit_description(), "exited with status 3");
  EXPECT_EQ(ReadFileTail(log, 100), "out\nerr");
  EXPECT_EQ(ReadFileTail(log, 4), "err");  // the tail, trailing newlines trimmed
}

TEST(ChildProcessTest, MissingBinaryFailsSynchronously) {
  auto p = ChildProcess::Spawn({"/nonexistent/qemu"}, {.log_path = TempLog()});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound) << p.status();
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("/nonexistent/qemu"));
}

TEST(ChildProcessTest, TerminateKillsTheWholeGroup) {
  const std::string log = TempLog();
  // The shell ignores SIGTERM and has a grandchild: both must be gone after Terminate.
  auto p = ChildProcess::Spawn({"sh", "-c", "trap '' TERM; sleep 100 & echo $!; wait"},
                               {.log_path = log, .die_with_parent = true});
  ASSERT_TRUE(p.ok()) << p.status();
  std::string grandchild;
  for (int i = 0; i < 200 && grandchild.empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    grandchild = ReadFileTail(log, 100);
  }
  ASSERT_FALSE(grandchild.empty());
  EXPECT_EQ(getpgid((*p)->pid()), (*p)->pid());
  (*p)->Terminate(absl::Milliseconds(200));
  EXPECT_TRUE((*p)->exited());
  // The grandchild (reparented) got SIGKILL with the group.
  const pid_t gc = static_cast<pid_t>(std::stol(grandchild));
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = kill(gc, 0) != 0;
    if (!gone) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(gone) << "grandchild " << gc << " survived";
}

TEST(ChildProcessTest, EveryWaiterSeesTheOneExitAndTheChildIsReaped) {
  auto p = ChildProcess::Spawn({"sh", "-c", "sleep 0.2; exit 5"}, {.log_path = TempLog()});
  ASSERT_TRUE(p.ok()) << p.status();
  ChildProcess* child = p->get();
  std::vector<std::thread> waiters;
  std::atomic<int> saw_exit{0};
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([child, &saw_exit] {
      if (child->WaitFor(absl::InfiniteDuration())) ++saw_exit;
    });
  }
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(saw_exit.load(), 3);
  ASSERT_TRUE(WIFEXITED(child->wait_status()));
  EXPECT_EQ(WEXITSTATUS(child->wait_status()), 5);
  EXPECT_EQ(child->exit_description(), "exited with status 5");
  // Reaped, not a zombie: the pid no longer exists.
  EXPECT_EQ(kill(child->pid(), 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ChildProcessTest, AStoppedChildHasNotExitedAndKillEndsIt) {
  auto p = ChildProcess::Spawn({"sleep", "100"}, {.log_path = TempLog(), .die_with_parent = true});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(kill((*p)->pid(), SIGSTOP), 0);
  EXPECT_FALSE((*p)->WaitFor(absl::Milliseconds(200)));
  EXPECT_FALSE((*p)->TryWait());
  EXPECT_EQ((*p)->exit_description(), "");
  (*p)->Kill();
  EXPECT_TRUE((*p)->exited());
  EXPECT_EQ((*p)->exit_description(), "killed by signal 9 (SIGKILL)");
}

// The "THP_enabled:" line of /proc/PID/status ("1", "0"); empty if absent.
std::string ThpEnabled(pid_t pid) {
  const std::string status = ReadFileTail(absl::StrCat("/proc/", pid, "/status"), 1 << 16);
  const size_t at = status.find("THP_enabled:");
  if (at == std::string::npos) return "";
  const size_t value = status.find_first_not_of(" \t", at + strlen("THP_enabled:"));
  return status.substr(value, status.find('\n', value) - value);
}

// The child (and what it execs) runs without transparent huge pages when asked; otherwise it
// keeps the parent's setting.
TEST(ChildProcessTest, TransparentHugePagesAreDisabledForTheChildWhenAsked) {
  ASSERT_EQ(ThpEnabled(getpid()), "1") << "this test's own process must have THP enabled";
  auto off = ChildProcess::Spawn(
      {"sleep", "100"},
      {.log_path = TempLog(), .die_with_parent = true, .disable_transparent_hugepages = true});
  ASSERT_TRUE(off.ok()) << off.status();
  auto on = ChildProcess::Spawn({"sleep", "100"}, {.log_path = TempLog(), .die_with_parent = true});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_EQ(ThpEnabled((*off)->pid()), "0");
  EXPECT_EQ(ThpEnabled((*on)->pid()), "1");
  EXPECT_EQ(ThpEnabled(getpid()), "1");  // the parent is untouched
  (*off)->Kill();
  (*on)->Kill();
}

// The attack of issue 11 item 6: the shim's listening socket (fd 3, not close-on-exec) leaked
// into QEMU, so containerd could still connect after the shim died. The child gets 0-2 only.
TEST(ChildProcessTest, InheritedFdsOfTheParentAreNotOpenInTheChild) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);  // no SOCK_CLOEXEC, like fd 3
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  auto p = ChildProcess::Spawn({"sleep", "100"}, {.log_path = TempLog(), .die_with_parent = true});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(OpenFds((*p)->pid()), (std::set<int>{0, 1, 2}));
  (*p)->Kill();
  for (int fd : {sv[0], sv[1], pipe_fds[0], pipe_fds[1]}) close(fd);
}

TEST(ChildProcessTest, InheritFdsArePassedAtTheirNumbersAndNothingElse) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  const int leak = dup(pipe_fds[1]);  // not close-on-exec: must not reach the child
  ASSERT_GE(leak, 0);
  const int r = pipe_fds[0], w = pipe_fds[1];
  // sh's `[` is a builtin: /proc/self is the child itself.
  const std::string script =
      absl::StrCat("[ -e /proc/self/fd/", leak, " ] && echo leaked; [ -e /proc/self/fd/", r,
                   " ] && echo read-end; echo passed >&", w, "; exit 0");
  const std::string log = TempLog();
  auto p = ChildProcess::Spawn({"sh", "-c", script}, {.log_path = log, .inherit_fds = {w}});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->WaitFor(absl::Seconds(10)));
  close(w);
  close(leak);
  char buf[64] = {};
  const ssize_t n = read(r, buf, sizeof(buf) - 1);
  close(r);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "passed\n");
  EXPECT_EQ(ReadFileTail(log, 100), "");  // neither "leaked" nor "read-end"
}

TEST(ChildProcessTest, InheritFdsBelowThreeAreRefused) {
  auto p = ChildProcess::Spawn({"true"}, {.log_path = TempLog(), .inherit_fds = {1}});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << p.status();
}

}  // namespace
}  // namespace kata::hypervisor::qemu
