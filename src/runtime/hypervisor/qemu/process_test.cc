#include "src/runtime/hypervisor/qemu/process.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::HasSubstr;

// A log path in a fresh directory, removed at exit.
std::string TempLog() {
  static std::string* dir = [] {
    char tmpl[] = "/tmp/proc-test-XXXXXX";
    EXPECT_NE(mkdtemp(tmpl), nullptr);
    auto* d = new std::string(tmpl);
    atexit([] {
      std::string cmd = absl::StrCat("rm -rf '", *dir, "'");
      (void)!system(cmd.c_str());
    });
    return d;
  }();
  static int n = 0;
  return absl::StrCat(*dir, "/log", n++);
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

}  // namespace
}  // namespace kata::hypervisor::qemu
