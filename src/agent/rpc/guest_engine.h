// The container engine behind AgentService (agent_service.h), as a seam: every operation of
// the container, storage, device and sandbox rpcs that acts on the guest (processes,
// namespaces, cgroups, mounts, device nodes) goes through a GuestEngine, so a fake
// (src/agent/rpc/testing/fake_engine.h) can stand in for it, e.g. in the agent's rpc fuzzer,
// which must never mount, spawn or create namespaces on the host. The guest-wide rpcs of
// guest_ops.h act through their injectable roots and clock instead.
//
//   std::unique_ptr<GuestEngine> engine = NewGuestEngine(containers, storage, sandbox);
//
// NewGuestEngine is the real engine: the calls below forward to Container::Create,
// StorageManager, device::ApplyDevices and Sandbox::Create with the promises of their
// headers (container/container.h, storage/storage.h, device/devices.h, sandbox/sandbox.h).
// An rpc that acts on the guest without going through this seam (or guest_ops' roots) must be
// excluded from the fuzzer (agent_service_fuzzer.cc) with the reason.
#ifndef KATA_SRC_AGENT_RPC_GUEST_ENGINE_H_
#define KATA_SRC_AGENT_RPC_GUEST_ENGINE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/agent/cgroups/cgroups.h"
#include "src/agent/container/container.h"
#include "src/agent/sandbox/sandbox.h"
#include "src/agent/storage/storage.h"
#include "src/libs/oci/spec.h"
#include "src/libs/protocols/agent.pb.h"

namespace kata {
namespace agent {

// A process of a container (process/process.h's Process).
class EngineProcess {
 public:
  virtual ~EngineProcess() = default;
  virtual int Wait() = 0;
  // Readiness callbacks as Process::NotifyExited/NotifyReadable (process.h): `ready` runs once
  // when Wait (a read of the stream) would not block; it must not block nor free the process.
  // The defaults (for engines whose processes never block): at once.
  virtual void NotifyExited(std::function<void()> ready) { ready(); }
  virtual void NotifyReadable(bool stderr_stream, std::function<void()> ready) {
    (void)stderr_stream;
    ready();
  }
  // A read that never blocks: nullopt when it would. The default: the (non-blocking) read.
  virtual absl::StatusOr<std::optional<std::string>> TryRead(bool stderr_stream, size_t max_len) {
    absl::StatusOr<std::string> data = stderr_stream ? ReadStderr(max_len) : ReadStdout(max_len);
    if (!data.ok()) return data.status();
    return std::optional<std::string>(std::move(*data));
  }
  virtual bool AwaitOutputEof(absl::Duration timeout) = 0;
  virtual absl::StatusOr<size_t> WriteStdin(absl::string_view data) = 0;
  virtual absl::StatusOr<std::string> ReadStdout(size_t max_len) = 0;
  virtual absl::StatusOr<std::string> ReadStderr(size_t max_len) = 0;
  virtual absl::Status CloseStdin() = 0;
  virtual absl::Status Resize(uint16_t rows, uint16_t cols) = 0;
};

// A container (container/container.h's Container).
class EngineContainer {
 public:
  virtual ~EngineContainer() = default;
  virtual absl::Status Start() = 0;
  virtual absl::Status Exec(const std::string& exec_id, const oci::Process& process) = 0;
  virtual absl::StatusOr<std::shared_ptr<EngineProcess>> GetProcess(const std::string& exec_id) = 0;
  // `p` came from GetProcess of this container.
  virtual bool FreeIfDone(const std::string& exec_id, const std::shared_ptr<EngineProcess>& p,
                          bool exit_collected) = 0;
  virtual absl::Status Signal(const std::string& exec_id, int sig) = 0;
  virtual absl::Status Remove(absl::Duration timeout) = 0;
  virtual absl::Status Pause(absl::Duration timeout) = 0;
  virtual absl::Status Resume(absl::Duration timeout) = 0;
  virtual absl::StatusOr<cgroups::CgroupStats> Stats() = 0;
  virtual absl::Status Update(const oci::LinuxResources& resources) = 0;
  virtual absl::StatusOr<uint64_t> OomKillCount() = 0;
};

// The pod's shared namespaces (sandbox/sandbox.h's Sandbox).
class EngineSandbox {
 public:
  virtual ~EngineSandbox() = default;
  virtual const std::string& id() const = 0;
  virtual absl::Status AdjustSpec(oci::Spec& spec, bool sandbox_pidns) = 0;
  // Sandbox::AdoptPidNamespace with the pid of `created`'s init process (`init_exec_id`);
  // `created` came from this engine's CreateContainer.
  virtual absl::Status AdoptPidNamespace(EngineContainer& created,
                                         const std::string& init_exec_id) = 0;
  virtual absl::Status Destroy() = 0;
};

class GuestEngine {
 public:
  virtual ~GuestEngine() = default;
  virtual absl::StatusOr<std::unique_ptr<EngineContainer>> CreateContainer(
      const std::string& id, const std::string& exec_id, const oci::Spec& spec) = 0;
  // StorageManager::Add / Release / Held.
  virtual absl::StatusOr<std::vector<std::string>> AddStorages(
      const google::protobuf::RepeatedPtrField<grpc::Storage>& storages) = 0;
  virtual absl::Status ReleaseStorages(const std::vector<std::string>& held) = 0;
  virtual std::map<std::string, int> HeldStorages() = 0;
  // device::ApplyDevices.
  virtual absl::Status ApplyDevices(const google::protobuf::RepeatedPtrField<grpc::Device>& devices,
                                    oci::Spec& spec) = 0;
  // Sandbox::Create (its storages through this engine's AddStorages).
  virtual absl::StatusOr<std::unique_ptr<EngineSandbox>> CreateSandbox(
      const grpc::CreateSandboxRequest& request) = 0;
};

std::unique_ptr<GuestEngine> NewGuestEngine(const ContainerOptions& containers,
                                            const StorageOptions& storage,
                                            const SandboxOptions& sandbox);

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_GUEST_ENGINE_H_
