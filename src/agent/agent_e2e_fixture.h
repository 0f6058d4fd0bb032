// The fixture of agent_e2e_test: the real kata-agent binary (the test's argv[1]) on a unix
// socket in a fresh directory under /tmp, driven through AgentApi (src/agent/rpc/test_client.h)
// the way the host runtime and the shim drive it, with busybox containers
// (src/agent/container/test_util.h) in a test-unique cgroup parent. TearDown checks that
// nothing is left behind (the agent exits 0 on SIGTERM; no mount, no container cgroup).
// Needs root, outside Bazel's sandbox. main() (agent_e2e_fixture.cc) takes the binary's path.
#ifndef KATA_SRC_AGENT_AGENT_E2E_FIXTURE_H_
#define KATA_SRC_AGENT_AGENT_E2E_FIXTURE_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/agent/container/test_util.h"
#include "src/agent/rpc/test_client.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/protocols/agent.pb.h"

namespace kata {
namespace agent {
namespace e2e {

// The kata-agent binary under test (argv[1]).
const std::string& AgentBinary();

// Whether `path` is a mount point (in /proc/self/mountinfo).
bool IsMounted(const std::string& path);
// system(cmd): the shell's exit status.
int Shell(const std::string& cmd);

// A child of a process: pid, state (R, S, Z, ...) and comm.
struct Proc {
  pid_t pid;
  char state;
  std::string comm;
};
std::vector<Proc> ChildrenOf(pid_t parent);

// A grpc.Storage of `driver` mounting `source` on `mount_point` with `options`.
grpc::Storage Storage(const std::string& driver, const std::string& source,
                      const std::string& mount_point, std::vector<std::string> options = {});

class AgentE2eTest : public ::testing::Test {
 protected:
  // Starts the agent on a unix socket in the test's directory and connects api_ to it.
  void SetUp() override;
  // Stops the agent (SIGTERM; it must exit 0) and checks that no mount under the test's
  // directory and no container cgroup is left.
  void TearDown() override;

  // Waits for the agent to exit; its exit status (0..255), or -1 after killing it.
  int WaitAgent(absl::Duration timeout);
  // The agent's log ("" when there is none).
  std::string AgentLog() { return kata::ReadFileToString(dir_ + "/agent.log").value_or(""); }

  // A busybox container `id` running `args` (kata::agent::testing::BusyboxContainerRequest) on
  // the test's rootfs (or `rootfs`), in the cgroup <cg_>/<id>.
  grpc::CreateContainerRequest Request(const std::string& id, std::vector<std::string> args,
                                       bool terminal = false, const std::string& rootfs = "") {
    return testing::BusyboxContainerRequest(id, rootfs.empty() ? rootfs_ : rootfs, cg_ + "/" + id,
                                            std::move(args), terminal);
  }
  // The directory of container `id`'s cgroup under `controller` (v1), else under the v2 root;
  // "" when there is none.
  std::string CgroupDir(const std::string& controller, const std::string& id);

  // In /tmp, not $TEST_TMPDIR (under /root, mode 0700): the mapped root of a user-namespace
  // container must reach its rootfs, and the agent's unix socket path must stay short.
  kata::testing::TempDir dir_holder_{"/tmp"};
  pid_t agent_ = -1;
  std::string dir_, rootfs_, cg_;
  std::unique_ptr<testing::AgentApi> api_;
};

}  // namespace e2e
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_AGENT_E2E_FIXTURE_H_
