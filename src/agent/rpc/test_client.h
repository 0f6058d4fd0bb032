// Test helper (testonly): AgentApi, a client of grpc.AgentService for the agent's API tests
// (agent_e2e_test against the real binary, container_rpc_test against an in-process server):
// every rpc those tests repeat, one call each, with one timeout.
//
//   AgentApi api(std::move(*kata::ttrpc::Client::Dial("unix://@agent")), absl::Seconds(30));
//   ASSERT_TRUE(api.Create(BusyboxContainerRequest("c1", rootfs, "kata-test/c1", {"sh"})).ok());
//   ASSERT_TRUE(api.Start("c1").ok());
//   EXPECT_EQ(*api.ReadAll("c1", "c1"), "...");
//   EXPECT_EQ(*api.Wait("c1", "c1"), 0);
//   ASSERT_TRUE(api.Remove("c1").ok());
//
// Contract: each method is one rpc (ReadAll and RunToEnd: several) with the client's status
// unchanged; other rpcs go through service() with opts(). Owns the ttRPC client; thread-safe as
// the generated client is.
#ifndef KATA_SRC_AGENT_RPC_TEST_CLIENT_H_
#define KATA_SRC_AGENT_RPC_TEST_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"

namespace kata {
namespace agent {
namespace testing {

class AgentApi {
 public:
  // Calls go over `client` and fail DEADLINE_EXCEEDED after `timeout` each.
  AgentApi(std::unique_ptr<ttrpc::Client> client, absl::Duration timeout);

  // CreateContainer / StartContainer / RemoveContainer (giving the processes 10 s to go).
  absl::Status Create(const grpc::CreateContainerRequest& request);
  absl::Status Start(const std::string& id);
  absl::Status Remove(const std::string& id);

  // An ExecProcessRequest of `args` with PATH=/bin, cwd "/" and `terminal`, to adjust before
  // Exec(request); Exec(id, exec, args) sends it as is.
  static grpc::ExecProcessRequest ExecRequest(const std::string& id, const std::string& exec,
                                              std::vector<std::string> args, bool terminal = false);
  absl::Status Exec(const grpc::ExecProcessRequest& request);
  absl::Status Exec(const std::string& id, const std::string& exec, std::vector<std::string> args,
                    bool terminal = false);

  // SignalProcess (exec "" = every process of the container) and WaitProcess (the exit status:
  // 128 + n for signal n).
  absl::Status Signal(const std::string& id, const std::string& exec, int sig);
  absl::StatusOr<int> Wait(const std::string& id, const std::string& exec);

  // One ReadStdout of up to `len` bytes (OUT_OF_RANGE at EOF), and everything up to EOF (an
  // empty read before EOF is an error).
  absl::StatusOr<std::string> ReadSome(const std::string& id, const std::string& exec,
                                       uint32_t len = 4096);
  absl::StatusOr<std::string> ReadAll(const std::string& id, const std::string& exec);
  // WriteStdin (the count the agent wrote), CloseStdin, TtyWinResize.
  absl::StatusOr<uint32_t> WriteStdin(const std::string& id, const std::string& exec,
                                      absl::string_view data);
  absl::Status CloseStdin(const std::string& id, const std::string& exec);
  absl::Status Resize(const std::string& id, const std::string& exec, uint32_t rows, uint32_t cols);

  // CreateSandbox / DestroySandbox; PauseContainer / ResumeContainer; StatsContainer.
  absl::Status CreateSandbox(const grpc::CreateSandboxRequest& request);
  absl::Status DestroySandbox();
  absl::Status Pause(const std::string& id);
  absl::Status Resume(const std::string& id);
  absl::StatusOr<grpc::StatsContainerResponse> Stats(const std::string& id);

  // Create + Start + all of stdout + Wait, then Remove: "<stdout>rc=<exit code>", or the status
  // of the first step that failed (Remove is attempted anyway).
  absl::StatusOr<std::string> RunToEnd(const grpc::CreateContainerRequest& request);

  // The generated client and the call options, for the other rpcs.
  grpc::AgentServiceTtrpc::Client& service() { return service_; }
  const ttrpc::CallOptions& opts() const { return opts_; }

 private:
  std::unique_ptr<ttrpc::Client> client_;
  grpc::AgentServiceTtrpc::Client service_;
  ttrpc::CallOptions opts_;
};

}  // namespace testing
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_TEST_CLIENT_H_
