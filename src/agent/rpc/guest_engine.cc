// The real GuestEngine (guest_engine.h): thin adapters over Container, Process,
// StorageManager, device::ApplyDevices and Sandbox.
#include "src/agent/rpc/guest_engine.h"

#include <utility>

#include "src/agent/device/devices.h"
#include "src/libs/base/status_macros.h"

namespace kata {
namespace agent {
namespace {

class RealProcess final : public EngineProcess {
 public:
  explicit RealProcess(std::shared_ptr<Process> p) : p_(std::move(p)) {}
  const std::shared_ptr<Process>& process() const { return p_; }

  int Wait() override { return p_->Wait(); }
  void NotifyExited(std::function<void()> ready) override { p_->NotifyExited(std::move(ready)); }
  void NotifyReadable(bool stderr_stream, std::function<void()> ready) override {
    p_->NotifyReadable(stderr_stream, std::move(ready));
  }
  absl::StatusOr<std::optional<std::string>> TryRead(bool stderr_stream, size_t max_len) override {
    return p_->TryRead(stderr_stream, max_len);
  }
  bool AwaitOutputEof(absl::Duration timeout) override { return p_->AwaitOutputEof(timeout); }
  absl::StatusOr<size_t> WriteStdin(absl::string_view data) override {
    return p_->WriteStdin(data);
  }
  absl::StatusOr<std::string> ReadStdout(size_t max_len) override {
    return p_->ReadStdout(max_len);
  }
  absl::StatusOr<std::string> ReadStderr(size_t max_len) override {
    return p_->ReadStderr(max_len);
  }
  absl::Status CloseStdin() override { return p_->CloseStdin(); }
  absl::Status Resize(uint16_t rows, uint16_t cols) override { return p_->Resize(rows, cols); }

 private:
  const std::shared_ptr<Process> p_;
};

class RealContainer final : public EngineContainer {
 public:
  explicit RealContainer(std::unique_ptr<Container> c) : c_(std::move(c)) {}
  Container& container() const { return *c_; }

  absl::Status Start() override { return c_->Start(); }
  absl::Status Exec(const std::string& exec_id, const oci::Process& process) override {
    return c_->Exec(exec_id, process);
  }
  absl::StatusOr<std::shared_ptr<EngineProcess>> GetProcess(const std::string& exec_id) override {
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Process> p, c_->GetProcess(exec_id));
    return std::make_shared<RealProcess>(std::move(p));
  }
  bool FreeIfDone(const std::string& exec_id, const std::shared_ptr<EngineProcess>& p,
                  bool exit_collected) override {
    return c_->FreeIfDone(exec_id, static_cast<const RealProcess&>(*p).process(), exit_collected);
  }
  absl::Status Signal(const std::string& exec_id, int sig) override {
    return c_->Signal(exec_id, sig);
  }
  absl::Status Remove(absl::Duration timeout) override { return c_->Remove(timeout); }
  absl::Status Pause(absl::Duration timeout) override { return c_->Pause(timeout); }
  absl::Status Resume(absl::Duration timeout) override { return c_->Resume(timeout); }
  absl::StatusOr<cgroups::CgroupStats> Stats() override { return c_->Stats(); }
  absl::Status Update(const oci::LinuxResources& resources) override {
    return c_->Update(resources);
  }
  absl::StatusOr<uint64_t> OomKillCount() override { return c_->OomKillCount(); }

 private:
  const std::unique_ptr<Container> c_;
};

class RealSandbox final : public EngineSandbox {
 public:
  explicit RealSandbox(std::unique_ptr<Sandbox> s) : s_(std::move(s)) {}
  const std::string& id() const override { return s_->id(); }
  absl::Status AdjustSpec(oci::Spec& spec, bool sandbox_pidns) override {
    return s_->AdjustSpec(spec, sandbox_pidns);
  }
  absl::Status AdoptPidNamespace(EngineContainer& created,
                                 const std::string& init_exec_id) override {
    KATA_ASSIGN_OR_RETURN(
        std::shared_ptr<Process> init,
        static_cast<RealContainer&>(created).container().GetProcess(init_exec_id));
    return s_->AdoptPidNamespace(init->pid());
  }
  absl::Status Destroy() override { return s_->Destroy(); }

 private:
  const std::unique_ptr<Sandbox> s_;
};

class RealEngine final : public GuestEngine {
 public:
  RealEngine(const ContainerOptions& containers, const StorageOptions& storage,
             const SandboxOptions& sandbox)
      : containers_(containers), storage_(storage), sandbox_(sandbox), storages_(storage) {}

  absl::StatusOr<std::unique_ptr<EngineContainer>> CreateContainer(const std::string& id,
                                                                   const std::string& exec_id,
                                                                   const oci::Spec& spec) override {
    KATA_ASSIGN_OR_RETURN(std::unique_ptr<Container> c,
                          Container::Create(id, exec_id, spec, containers_));
    return std::make_unique<RealContainer>(std::move(c));
  }
  absl::StatusOr<std::vector<std::string>> AddStorages(
      const google::protobuf::RepeatedPtrField<grpc::Storage>& storages) override {
    return storages_.Add(storages);
  }
  absl::Status ReleaseStorages(const std::vector<std::string>& held) override {
    return storages_.Release(held);
  }
  std::map<std::string, int> HeldStorages() override { return storages_.Held(); }
  absl::Status ApplyDevices(const google::protobuf::RepeatedPtrField<grpc::Device>& devices,
                            oci::Spec& spec) override {
    return device::ApplyDevices(devices, spec, storage_.devices);
  }
  absl::StatusOr<std::unique_ptr<EngineSandbox>> CreateSandbox(
      const grpc::CreateSandboxRequest& request) override {
    KATA_ASSIGN_OR_RETURN(std::unique_ptr<Sandbox> s,
                          Sandbox::Create(request, &storages_, sandbox_));
    return std::make_unique<RealSandbox>(std::move(s));
  }

 private:
  const ContainerOptions containers_;
  const StorageOptions storage_;
  const SandboxOptions sandbox_;
  StorageManager storages_;
};

}  // namespace

std::unique_ptr<GuestEngine> NewGuestEngine(const ContainerOptions& containers,
                                            const StorageOptions& storage,
                                            const SandboxOptions& sandbox) {
  return std::make_unique<RealEngine>(containers, storage, sandbox);
}

}  // namespace agent
}  // namespace kata
