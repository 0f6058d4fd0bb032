// A GuestEngine (../guest_engine.h) that acts on nothing: containers, processes, storages
// and the sandbox are records in memory, so AgentService can be driven by any request (the
// agent's rpc fuzzer) without mounting, spawning, making namespaces or cgroups on the host.
// Devices go through the real device::ApplyDevices over the given (temporary) sysfs and /dev
// roots, which only reads them.
//
// Behaviour, enough for the rpcs' paths to be taken and nothing ever to block:
// - A container is kCreated until Start (then running; its init runs until a signal that
//   is not 0 / SIGCONT / SIGSTOP, or Remove); Exec only while running, at most
//   kMaxProcesses processes (RESOURCE_EXHAUSTED), ALREADY_EXISTS for a live exec id. Pause
//   and Resume follow container.h's state rules (FAILED_PRECONDITION otherwise).
// - An exec'd process exits at once with code args.size() % 256, its stdout is its args
//   joined by ' ' and its stderr "<args[0]>: done"; the init echoes its stdin to its stdout
//   (at most kMaxBuffered bytes pending, RESOURCE_EXHAUSTED beyond). Wait never blocks: a
//   process still running is reported killed (128 + SIGKILL) and is then exited. Reads
//   return what is buffered, "" (EOF) once it exited and is drained. Resize needs a terminal.
// - FreeIfDone frees an exited, drained, exit-collected exec (never the init), as Container.
// - OomKillCount counts the SIGKILLs the container's processes were sent.
// - Storages are reference counts by mount point (an empty or relative mount point is
//   INVALID_ARGUMENT, all or nothing); the sandbox holds its storages until Destroy.
// Thread-safe.
#ifndef KATA_SRC_AGENT_RPC_TESTING_FAKE_ENGINE_H_
#define KATA_SRC_AGENT_RPC_TESTING_FAKE_ENGINE_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "src/agent/device/devices.h"
#include "src/agent/rpc/guest_engine.h"

namespace kata {
namespace agent {
namespace testing {

class FakeEngine final : public GuestEngine {
 public:
  static constexpr size_t kMaxProcesses = 64;
  static constexpr size_t kMaxBuffered = 1 << 20;

  explicit FakeEngine(device::DeviceOptions devices) : devices_(std::move(devices)) {}

  absl::StatusOr<std::unique_ptr<EngineContainer>> CreateContainer(const std::string& id,
                                                                   const std::string& exec_id,
                                                                   const oci::Spec& spec) override;
  absl::StatusOr<std::vector<std::string>> AddStorages(
      const google::protobuf::RepeatedPtrField<grpc::Storage>& storages) override;
  absl::Status ReleaseStorages(const std::vector<std::string>& held) override;
  std::map<std::string, int> HeldStorages() override;
  absl::Status ApplyDevices(const google::protobuf::RepeatedPtrField<grpc::Device>& devices,
                            oci::Spec& spec) override;
  absl::StatusOr<std::unique_ptr<EngineSandbox>> CreateSandbox(
      const grpc::CreateSandboxRequest& request) override;

  // Containers made and not yet destroyed (the fuzzer checks none outlives its rpcs).
  int live_containers() const { return live_->load(); }

 private:
  const device::DeviceOptions devices_;
  const std::shared_ptr<std::atomic<int>> live_ = std::make_shared<std::atomic<int>>(0);
  absl::Mutex mu_;
  std::map<std::string, int> storages_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_TESTING_FAKE_ENGINE_H_
