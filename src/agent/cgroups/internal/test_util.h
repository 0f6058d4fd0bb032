// Test helpers for the cgroup manager tests: random cgroup names, processes started inside a
// cgroup, and a cleanup that kills everything in a cgroup directory and removes it.
#ifndef KATA_SRC_AGENT_CGROUPS_INTERNAL_TEST_UTIL_H_
#define KATA_SRC_AGENT_CGROUPS_INTERNAL_TEST_UTIL_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "src/agent/cgroups/cgroups.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace testing {

// "kata-test-<16 hex digits>".
std::string RandomName();

// Makes this process the reaper of its orphaned descendants (so sleeps left behind by a
// killed shell are reaped here, not left as zombies).
void BecomeSubreaper();

// Forks a child that waits until it has been added to `mgr`'s cgroup, then runs `body`
// (which must not return: exec or _exit). Returns the pid, or -1 (with a gtest failure).
pid_t SpawnIn(CgroupManager& mgr, const std::function<void()>& body);
// SpawnIn running `/bin/sh -c script`.
pid_t SpawnShellIn(CgroupManager& mgr, const std::string& script);

// Kills (SIGKILL) every process in `dir` until it is empty (thawing it first), reaps
// children, then removes `dir`. Bounded (~5 s); missing dirs are fine. Returns false if
// the directory is still there.
bool KillAndRemove(const std::string& dir);

// Reads a file and strips trailing whitespace ("" if it cannot be read).
std::string ReadTrimmed(const std::string& path);

// waitpid with a deadline; returns the wait status or -1 on timeout.
int WaitWithTimeout(pid_t pid, int timeout_ms);

}  // namespace testing
}  // namespace cgroups
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CGROUPS_INTERNAL_TEST_UTIL_H_
