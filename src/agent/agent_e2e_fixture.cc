#include "src/agent/agent_e2e_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "src/libs/base/file.h"
#include "src/libs/ttrpc/client.h"

namespace kata {
namespace agent {
namespace e2e {
namespace {

using ::kata::testing::ReadFileOrDie;
using ::testing::HasSubstr;

std::string* g_agent_binary = new std::string();

}  // namespace

const std::string& AgentBinary() { return *g_agent_binary; }

bool IsMounted(const std::string& p) {
  return absl::StrContains(ReadFileOrDie("/proc/self/mountinfo"), absl::StrCat(" ", p, " "));
}

int Shell(const std::string& cmd) { return system(cmd.c_str()); }

std::vector<Proc> ChildrenOf(pid_t parent) {
  std::vector<Proc> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    int pid;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    // (It may be gone already: then it is no child.)
    std::string stat = ReadFileToString(absl::StrCat("/proc/", pid, "/stat")).value_or("");
    size_t close = stat.rfind(')');
    size_t open = stat.find('(');
    if (close == std::string::npos || open == std::string::npos) continue;
    std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
    int ppid;
    if (f.size() < 2 || !absl::SimpleAtoi(f[1], &ppid) || ppid != parent) continue;
    out.push_back({pid, f[0][0], stat.substr(open + 1, close - open - 1)});
  }
  closedir(d);
  return out;
}

grpc::Storage Storage(const std::string& driver, const std::string& source,
                      const std::string& mount_point, std::vector<std::string> options) {
  grpc::Storage s;
  s.set_driver(driver);
  s.set_source(source);
  s.set_mount_point(mount_point);
  for (const std::string& o : options) s.add_options(o);
  return s;
}

void AgentE2eTest::SetUp() {
  ASSERT_FALSE(AgentBinary().empty()) << "pass the kata-agent binary as argv[1]";
  ASSERT_EQ(geteuid(), 0u) << "this test needs root (mounts, namespaces, cgroups)";
  dir_ = dir_holder_.path();
  cg_ = absl::StrCat("kata-agent-e2e-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
  absl::StatusOr<std::string> rootfs = testing::MakeBusyboxRootfs(dir_);
  ASSERT_TRUE(rootfs.ok()) << rootfs.status();
  rootfs_ = *rootfs;
  const std::string sock = dir_ + "/agent.sock";
  agent_ = fork();
  ASSERT_GE(agent_, 0);
  if (agent_ == 0) {
    int fd = open((dir_ + "/agent.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) dup2(fd, STDERR_FILENO);
    // The soft fd limit a guest's PID 1 starts with (the agent raises it).
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_max > 1024) {
      nofile.rlim_cur = 1024;
      setrlimit(RLIMIT_NOFILE, &nofile);
    }
    execl(AgentBinary().c_str(), AgentBinary().c_str(), "--server-addr", ("unix://" + sock).c_str(),
          "--log-level", "debug", static_cast<char*>(nullptr));
    _exit(127);
  }
  auto client = kata::ttrpc::Client::Dial("unix://" + sock, absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  api_ = std::make_unique<testing::AgentApi>(std::move(*client), absl::Seconds(30));
}

void AgentE2eTest::TearDown() {
  api_.reset();
  if (agent_ > 0) {
    kill(agent_, SIGTERM);
    EXPECT_EQ(WaitAgent(absl::Seconds(15)), 0) << AgentLog();
  }
  // (Only mounts under the test's directory: other work on this host mounts things too.)
  EXPECT_THAT(ReadFileOrDie("/proc/self/mountinfo"), ::testing::Not(HasSubstr(dir_)))
      << "mounts left behind";
  // The containers' cgroups are gone (the parent a second container found existing is
  // not the agent's to remove: the test removes it).
  EXPECT_EQ(Shell(absl::StrCat("for d in /sys/fs/cgroup/*/", cg_, " /sys/fs/cgroup/", cg_,
                               "; do [ -d $d ] || continue; ",
                               "[ -z \"$(find $d -mindepth 1 -type d)\" ] || exit 1; ",
                               "rmdir $d || exit 1; done")),
            0)
      << "container cgroups left behind";
  if (HasFailure()) std::cerr << "agent log:\n" << AgentLog();
}

int AgentE2eTest::WaitAgent(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(agent_, &status, WNOHANG) == agent_) {
      agent_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (absl::Now() > until) {
      kill(agent_, SIGKILL);
      waitpid(agent_, nullptr, 0);
      agent_ = -1;
      return -1;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

std::string AgentE2eTest::CgroupDir(const std::string& controller, const std::string& id) {
  for (const std::string& root :
       {absl::StrCat("/sys/fs/cgroup/", controller), std::string("/sys/fs/cgroup")}) {
    std::string d = absl::StrCat(root, "/", cg_, "/", id);
    struct stat st;
    if (stat(d.c_str(), &st) == 0) return d;
  }
  return "";
}

}  // namespace e2e
}  // namespace agent
}  // namespace kata

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) *kata::agent::e2e::g_agent_binary = argv[1];
  signal(SIGPIPE, SIG_IGN);
  return RUN_ALL_TESTS();
}
