#include "src/agent/rpc/agent_service.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/agent/device/devices.h"
#include "src/agent/log/log.h"
#include "src/agent/version.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/oci/spec_proto.h"
#include "src/libs/trace/scoped_span.h"

namespace kata {
namespace agent {

AgentService::Options::Options() : init_daemon(getpid() == 1) {
  sandbox.set_agent_hostname = init_daemon;
}

AgentService::AgentService(Options options)
    : options_(std::move(options)),
      engine_(options_.engine != nullptr
                  ? options_.engine
                  : std::shared_ptr<GuestEngine>(
                        NewGuestEngine(options_.containers, options_.storage, options_.sandbox))),
      metrics_(options_.proc_root) {}

AgentService::~AgentService() {
  // Deferred calls still waiting are dropped (answered CANCELLED) before their processes go.
  completions_->Stop();
  std::map<std::string, std::shared_ptr<EngineContainer>> containers;
  std::map<std::string, std::vector<std::string>> held;
  {
    absl::MutexLock l(&mu_);
    containers.swap(containers_);
    held.swap(container_storages_);
  }
  for (auto& [id, c] : containers) c->Remove(kDestroyTimeout).IgnoreError();
  containers.clear();
  for (auto& [id, mps] : held) engine_->ReleaseStorages(mps).IgnoreError();
  sandbox_.reset();
}

absl::StatusOr<uint64_t> ParseMemBlockSize(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  uint64_t v = 0;
  if (t.empty() || !absl::SimpleHexAtoi(t, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a hex number, got \"", absl::CHexEscape(t), "\""));
  }
  return v;
}

absl::StatusOr<grpc::GuestDetailsResponse> AgentService::GuestDetails(
    const grpc::GuestDetailsRequest& request) const {
  grpc::GuestDetailsResponse response;
  if (request.mem_block_size()) {
    const std::string path = absl::StrCat(options_.memory_dir, "/block_size_bytes");
    absl::StatusOr<std::string> text = ReadFileToString(path);
    if (text.ok()) {  // no such file: no memory hotplug, nothing to report
      absl::StatusOr<uint64_t> size = ParseMemBlockSize(*text);
      if (!size.ok()) {
        return absl::InternalError(absl::StrCat(path, ": ", size.status().message()));
      }
      response.set_mem_block_size_bytes(*size);
    }
  }
  if (request.mem_hotplug_probe()) {
    struct stat st;
    response.set_support_mem_hotplug_probe(
        stat(absl::StrCat(options_.memory_dir, "/probe").c_str(), &st) == 0);
  }
  grpc::AgentDetails* details = response.mutable_agent_details();
  details->set_version(kAgentVersion);
  details->set_init_daemon(options_.init_daemon);
  for (const std::string& h : device::DeviceHandlers()) details->add_device_handlers(h);
  for (const std::string& h : StorageManager::Drivers()) details->add_storage_handlers(h);
  // Containers get the spec's seccomp filter (src/agent/security) when the kernel has seccomp.
  details->set_supports_seccomp(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0);
  return response;
}

absl::Status AgentService::GetMetrics(ttrpc::ServerContext&, const grpc::GetMetricsRequest&,
                                      grpc::Metrics* response) {
  response->set_metrics(metrics_.Collect());
  return absl::OkStatus();
}

absl::Status AgentService::GetGuestDetails(ttrpc::ServerContext&,
                                           const grpc::GuestDetailsRequest& request,
                                           grpc::GuestDetailsResponse* response) {
  absl::StatusOr<grpc::GuestDetailsResponse> r = GuestDetails(request);
  if (!r.ok()) return r.status();
  *response = std::move(*r);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<EngineContainer>> AgentService::Find(const std::string& id) {
  KATA_RETURN_IF_ERROR(ValidateId(id, "container id"));
  absl::MutexLock l(&mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) {
    return absl::NotFoundError(absl::StrCat("container ", id, " not found"));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<EngineProcess>> AgentService::FindProcess(
    const std::string& id, const std::string& exec_id) {
  KATA_RETURN_IF_ERROR(ValidateId(exec_id, "exec id"));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(id));
  return c->GetProcess(exec_id);
}

absl::Status AgentService::CreateContainer(ttrpc::ServerContext&,
                                           const grpc::CreateContainerRequest& request,
                                           google::protobuf::Empty*) {
  const std::string& id = request.container_id();
  KATA_RETURN_IF_ERROR(ValidateId(id, "container id"));
  std::string exec_id = request.exec_id().empty() ? id : request.exec_id();
  KATA_RETURN_IF_ERROR(ValidateId(exec_id, "exec id"));
  if (!request.has_oci()) return absl::InvalidArgumentError("CreateContainer: no OCI spec");
  KATA_ASSIGN_OR_RETURN(oci::Spec spec, oci::SpecFromProto(request.oci()));
  absl::MutexLock create(&create_mu_);
  {
    absl::MutexLock l(&mu_);
    if (containers_.count(id) != 0) {
      return absl::AlreadyExistsError(absl::StrCat("container ", id, " exists"));
    }
  }
  if (sandbox_ != nullptr) {
    KATA_RETURN_IF_ERROR(AnnotateStatus(sandbox_->AdjustSpec(spec, request.sandbox_pidns()),
                                        absl::StrCat("container ", id)));
  } else if (request.sandbox_pidns()) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", id, ": sandbox_pidns without a sandbox (CreateSandbox)"));
  }
  // Spans of the steps (children of the rpc's span when the agent traces; else no-ops).
  std::optional<trace::ScopedSpan> step(std::in_place, "container.devices");
  KATA_RETURN_IF_ERROR(AnnotateStatus(engine_->ApplyDevices(request.devices(), spec),
                                      absl::StrCat("container ", id)));
  step.reset();
  step.emplace("container.storages");  // the rootfs and volumes mounted
  absl::StatusOr<std::vector<std::string>> held = engine_->AddStorages(request.storages());
  if (!held.ok()) return AnnotateStatus(held.status(), absl::StrCat("container ", id));
  step.reset();
  absl::Cleanup release = [&] { engine_->ReleaseStorages(*held).IgnoreError(); };
  step.emplace("container.create");
  KATA_ASSIGN_OR_RETURN(std::unique_ptr<EngineContainer> c,
                        engine_->CreateContainer(id, exec_id, spec));
  step.reset();
  if (sandbox_ != nullptr) {  // the first container's pid namespace may become the pod's
    absl::Status adopted = sandbox_->AdoptPidNamespace(*c, exec_id);
    if (!adopted.ok()) {
      c->Remove(kDestroyTimeout).IgnoreError();
      return AnnotateStatus(adopted, absl::StrCat("container ", id));
    }
  }
  absl::StatusOr<uint64_t> ooms = c->OomKillCount();  // a reused cgroup may have some
  oom_.Track(id, ooms.ok() ? *ooms : 0);
  std::move(release).Cancel();
  absl::MutexLock l(&mu_);
  containers_[id] = std::move(c);
  Log(LogLevel::kInfo, "container created",
      {{"container", id}, {"storages", held->size()}, {"devices", request.devices_size()}});
  container_storages_[id] = std::move(*held);
  return absl::OkStatus();
}

absl::Status AgentService::StartContainer(ttrpc::ServerContext&,
                                          const grpc::StartContainerRequest& request,
                                          google::protobuf::Empty*) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(request.container_id()));
  return c->Start();
}

absl::Status AgentService::RemoveContainer(ttrpc::ServerContext&,
                                           const grpc::RemoveContainerRequest& request,
                                           google::protobuf::Empty*) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(request.container_id()));
  absl::MutexLock create(&create_mu_);
  return RemoveLocked(request.container_id(), c, absl::Seconds(request.timeout()));
}

absl::Status AgentService::RemoveLocked(const std::string& id,
                                        const std::shared_ptr<EngineContainer>& c,
                                        absl::Duration timeout) {
  // Its last OOM kills (the counter goes with the cgroup): reported even once it is gone.
  absl::StatusOr<uint64_t> ooms = c->OomKillCount();
  KATA_RETURN_IF_ERROR(c->Remove(timeout));
  oom_.Forget(id, ooms.ok() ? std::optional<uint64_t>(*ooms) : std::nullopt);
  Log(LogLevel::kInfo, "container removed", {{"container", id}});
  std::vector<std::string> held;
  {
    absl::MutexLock l(&mu_);
    auto it = containers_.find(id);
    if (it != containers_.end() && it->second == c) {
      containers_.erase(it);
      auto s = container_storages_.find(id);
      if (s != container_storages_.end()) {
        held = std::move(s->second);
        container_storages_.erase(s);
      }
    }
  }
  return AnnotateStatus(engine_->ReleaseStorages(held), absl::StrCat("container ", id));
}

absl::Status AgentService::CreateSandbox(ttrpc::ServerContext&,
                                         const grpc::CreateSandboxRequest& request,
                                         google::protobuf::Empty*) {
  absl::MutexLock create(&create_mu_);
  if (sandbox_ != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("sandbox ", sandbox_->id(), " exists: one sandbox per agent"));
  }
  absl::StatusOr<std::unique_ptr<EngineSandbox>> sb = engine_->CreateSandbox(request);
  if (!sb.ok()) {
    Log(LogLevel::kError, "CreateSandbox failed",
        {{"sandbox", request.sandbox_id()}, {"error", sb.status().ToString()}});
    return sb.status();
  }
  sandbox_ = std::move(*sb);
  Log(LogLevel::kInfo, "sandbox created",
      {{"sandbox", request.sandbox_id()},
       {"hostname", request.hostname()},
       {"storages", request.storages_size()},
       {"pidns", request.sandbox_pidns() ? "yes" : "no"}});
  return absl::OkStatus();
}

absl::Status AgentService::DestroySandbox(ttrpc::ServerContext&, const grpc::DestroySandboxRequest&,
                                          google::protobuf::Empty*) {
  absl::Status first;
  {
    absl::MutexLock create(&create_mu_);
    std::vector<std::pair<std::string, std::shared_ptr<EngineContainer>>> all;
    {
      absl::MutexLock l(&mu_);
      all.assign(containers_.begin(), containers_.end());
    }
    for (auto& [id, c] : all) {
      absl::Status st = RemoveLocked(id, c, kDestroyTimeout);
      if (first.ok() && !st.ok()) first = st;
    }
    if (sandbox_ != nullptr) {
      absl::Status st = sandbox_->Destroy();
      if (first.ok() && !st.ok()) first = st;
      sandbox_.reset();
    }
  }
  if (!first.ok()) {
    Log(LogLevel::kError, "DestroySandbox failed", {{"error", first.ToString()}});
    return AnnotateStatus(first, "DestroySandbox");
  }
  Log(LogLevel::kInfo, "sandbox destroyed");
  if (options_.on_exit) options_.on_exit(kSandboxDestroyed);
  return absl::OkStatus();
}

absl::Status AgentService::SetGuestDateTime(ttrpc::ServerContext&,
                                            const grpc::SetGuestDateTimeRequest& request,
                                            google::protobuf::Empty*) {
  return ::kata::agent::SetGuestDateTime(options_.set_time, request);
}

absl::Status AgentService::OnlineCPUMem(ttrpc::ServerContext&,
                                        const grpc::OnlineCPUMemRequest& request,
                                        google::protobuf::Empty*) {
  return OnlineCpuMem(options_.sysfs_root, request);
}

absl::Status AgentService::CopyFile(ttrpc::ServerContext&, const grpc::CopyFileRequest& request,
                                    google::protobuf::Empty*) {
  return CopyFileUnder(options_.copy_file_base, request);
}

absl::Status AgentService::ExecProcess(ttrpc::ServerContext&,
                                       const grpc::ExecProcessRequest& request,
                                       google::protobuf::Empty*) {
  KATA_RETURN_IF_ERROR(ValidateId(request.exec_id(), "exec id"));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(request.container_id()));
  if (!request.has_process()) return absl::InvalidArgumentError("ExecProcess: no process");
  grpc::Spec wrapper;
  *wrapper.mutable_process() = request.process();
  KATA_ASSIGN_OR_RETURN(oci::Spec spec, oci::SpecFromProto(wrapper));
  return c->Exec(request.exec_id(), *spec.process);
}

absl::Status AgentService::SignalProcess(ttrpc::ServerContext&,
                                         const grpc::SignalProcessRequest& request,
                                         google::protobuf::Empty*) {
  if (!request.exec_id().empty()) KATA_RETURN_IF_ERROR(ValidateId(request.exec_id(), "exec id"));
  if (request.signal() == 0 || request.signal() >= static_cast<uint32_t>(NSIG)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid signal ", request.signal()));
  }
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(request.container_id()));
  return c->Signal(request.exec_id(), static_cast<int>(request.signal()));
}

absl::Status AgentService::WaitProcess(ttrpc::ServerContext& context,
                                       const grpc::WaitProcessRequest& request,
                                       grpc::WaitProcessResponse*) {
  KATA_RETURN_IF_ERROR(ValidateId(request.exec_id(), "exec id"));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(request.container_id()));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineProcess> p, c->GetProcess(request.exec_id()));
  // The call waits for the exit without a thread (completions.h).
  const uint64_t id = completions_->NewId();
  ttrpc::DeferredResponse d = context.Defer(completions_->Forgetter(id));
  if (d.done()) return absl::CancelledError("WaitProcess: the call was cancelled");
  completions_->Add(id, [this, request, c, p, d = std::move(d)]() mutable {
    grpc::WaitProcessResponse response;
    const absl::Status status = Waited(request, c, p, &response);
    // Let go of them before answering: the host may destroy the sandbox right after the answer,
    // and must find no reference left to the container it removes.
    c.reset();
    p.reset();
    d.Finish(status, response);
  });
  p->NotifyExited(completions_->Waker(id));
  return absl::OkStatus();
}

absl::Status AgentService::Waited(const grpc::WaitProcessRequest& request,
                                  const std::shared_ptr<EngineContainer>& c,
                                  const std::shared_ptr<EngineProcess>& p,
                                  grpc::WaitProcessResponse* response) {
  response->set_status(p->Wait());  // it has exited: at once
  // An OOM kill behind this exit reaches the host first (oom_tracker.h).
  absl::StatusOr<uint64_t> ooms = c->OomKillCount();
  if (ooms.ok()) {
    oom_.Update(request.container_id(), *ooms);
    oom_.AwaitAcked(request.container_id(), options_.oom_ack_timeout);
  }
  // The drain threads see the end of the streams a moment after the exit: let them, so an
  // exec whose output is all read is freed now (its reads may all have come before).
  p->AwaitOutputEof(kOutputSettle);
  if (c->FreeIfDone(request.exec_id(), p, /*exit_collected=*/true)) {
    Log(LogLevel::kDebug, "exec freed",
        {{"container", request.container_id()}, {"exec", request.exec_id()}});
  }
  return absl::OkStatus();
}

absl::Status AgentService::WriteStdin(ttrpc::ServerContext&,
                                      const grpc::WriteStreamRequest& request,
                                      grpc::WriteStreamResponse* response) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineProcess> p,
                        FindProcess(request.container_id(), request.exec_id()));
  KATA_ASSIGN_OR_RETURN(size_t n, p->WriteStdin(request.data()));
  response->set_len(static_cast<uint32_t>(n));
  return absl::OkStatus();
}

namespace {
size_t ReadLen(const grpc::ReadStreamRequest& request) {
  return request.len() == 0 ? 64 * 1024 : std::min<size_t>(request.len(), 1024 * 1024);
}
}  // namespace

absl::Status AgentService::ReadStream(ttrpc::ServerContext& context,
                                      const grpc::ReadStreamRequest& request, bool stderr_stream,
                                      grpc::ReadStreamResponse* response) {
  KATA_RETURN_IF_ERROR(ValidateId(request.exec_id(), "exec id"));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(request.container_id()));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineProcess> p, c->GetProcess(request.exec_id()));
  KATA_ASSIGN_OR_RETURN(std::optional<std::string> data,
                        p->TryRead(stderr_stream, ReadLen(request)));
  if (data.has_value()) return ReadAnswer(request, stderr_stream, std::move(*data), c, p, response);
  // No output yet: the call waits for it without a thread (completions.h).
  const uint64_t id = completions_->NewId();
  ttrpc::DeferredResponse d = context.Defer(completions_->Forgetter(id));
  if (d.done()) return absl::CancelledError("ReadStream: the call was cancelled");
  WatchRead(id, ReadWait{request, stderr_stream, std::move(c), std::move(p), std::move(d)});
  return absl::OkStatus();
}

void AgentService::WatchRead(uint64_t id, ReadWait w) {
  const std::shared_ptr<EngineProcess> p = w.p;
  const bool stderr_stream = w.stderr_stream;
  completions_->Add(id, [this, id, w = std::move(w)]() mutable { CompleteRead(id, std::move(w)); });
  p->NotifyReadable(stderr_stream, completions_->Waker(id));
}

void AgentService::CompleteRead(uint64_t id, ReadWait w) {
  absl::StatusOr<std::optional<std::string>> data =
      w.p->TryRead(w.stderr_stream, ReadLen(w.request));
  // Another reader took the output first: wait again.
  if (data.ok() && !data->has_value()) return WatchRead(id, std::move(w));
  grpc::ReadStreamResponse response;
  const absl::Status status =
      data.ok() ? ReadAnswer(w.request, w.stderr_stream, std::move(**data), w.c, w.p, &response)
                : data.status();
  w.d.Finish(status, response);
}

absl::Status AgentService::ReadAnswer(const grpc::ReadStreamRequest& request, bool stderr_stream,
                                      std::string data, const std::shared_ptr<EngineContainer>& c,
                                      const std::shared_ptr<EngineProcess>& p,
                                      grpc::ReadStreamResponse* response) {
  if (data.empty()) {
    if (c->FreeIfDone(request.exec_id(), p, /*exit_collected=*/false)) {
      Log(LogLevel::kDebug, "exec freed",
          {{"container", request.container_id()}, {"exec", request.exec_id()}});
    }
    return absl::OutOfRangeError(absl::StrCat(request.container_id(), "/", request.exec_id(),
                                              stderr_stream ? " stderr" : " stdout", ": EOF"));
  }
  response->set_data(std::move(data));
  return absl::OkStatus();
}

absl::Status AgentService::ReadStdout(ttrpc::ServerContext& context,
                                      const grpc::ReadStreamRequest& request,
                                      grpc::ReadStreamResponse* response) {
  return ReadStream(context, request, false, response);
}

absl::Status AgentService::ReadStderr(ttrpc::ServerContext& context,
                                      const grpc::ReadStreamRequest& request,
                                      grpc::ReadStreamResponse* response) {
  return ReadStream(context, request, true, response);
}

absl::Status AgentService::CloseStdin(ttrpc::ServerContext&, const grpc::CloseStdinRequest& request,
                                      google::protobuf::Empty*) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineProcess> p,
                        FindProcess(request.container_id(), request.exec_id()));
  return p->CloseStdin();
}

absl::Status AgentService::TtyWinResize(ttrpc::ServerContext&,
                                        const grpc::TtyWinResizeRequest& request,
                                        google::protobuf::Empty*) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineProcess> p,
                        FindProcess(request.container_id(), request.exec_id()));
  if (request.row() > 65535 || request.column() > 65535) {
    return absl::InvalidArgumentError("TtyWinResize: size above 65535");
  }
  return p->Resize(static_cast<uint16_t>(request.row()), static_cast<uint16_t>(request.column()));
}

absl::Status AgentService::StatsContainer(ttrpc::ServerContext&,
                                          const grpc::StatsContainerRequest& request,
                                          grpc::StatsContainerResponse* response) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(request.container_id()));
  KATA_ASSIGN_OR_RETURN(cgroups::CgroupStats st, c->Stats());
  grpc::CgroupStats* cg = response->mutable_cgroup_stats();
  grpc::CpuUsage* cpu = cg->mutable_cpu_stats()->mutable_cpu_usage();
  cpu->set_total_usage(st.cpu_usage_ns);
  cpu->set_usage_in_usermode(st.cpu_user_ns);
  cpu->set_usage_in_kernelmode(st.cpu_system_ns);
  grpc::MemoryData* mem = cg->mutable_memory_stats()->mutable_usage();
  mem->set_usage(st.memory_usage);
  mem->set_max_usage(st.memory_max_usage);
  mem->set_limit(st.memory_limit);
  grpc::PidsStats* pids = cg->mutable_pids_stats();
  pids->set_current(st.pids_current);
  pids->set_limit(st.pids_limit == cgroups::kUnlimited ? 0 : st.pids_limit);
  return absl::OkStatus();
}

absl::Status AgentService::PauseContainer(ttrpc::ServerContext&,
                                          const grpc::PauseContainerRequest& request,
                                          google::protobuf::Empty*) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(request.container_id()));
  return c->Pause(kFreezeTimeout);
}

absl::Status AgentService::ResumeContainer(ttrpc::ServerContext&,
                                           const grpc::ResumeContainerRequest& request,
                                           google::protobuf::Empty*) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(request.container_id()));
  return c->Resume(kFreezeTimeout);
}

absl::Status AgentService::UpdateContainer(ttrpc::ServerContext&,
                                           const grpc::UpdateContainerRequest& request,
                                           google::protobuf::Empty*) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<EngineContainer> c, Find(request.container_id()));
  if (!request.has_resources()) return absl::OkStatus();  // as Kata's agent: nothing to do
  grpc::Spec wrapper;
  *wrapper.mutable_linux()->mutable_resources() = request.resources();
  KATA_ASSIGN_OR_RETURN(oci::Spec spec, oci::SpecFromProto(wrapper));
  if (!spec.linux || !spec.linux->resources) {
    return absl::InternalError("UpdateContainer: resources lost in conversion");
  }
  return c->Update(*spec.linux->resources);
}

absl::Status AgentService::GetOOMEvent(ttrpc::ServerContext& context,
                                       const grpc::GetOOMEventRequest&, grpc::OOMEvent* response) {
  oom_.CallStarted();
  for (;;) {
    std::optional<std::string> id = oom_.Take();
    if (!id.has_value()) {
      std::vector<std::pair<std::string, std::shared_ptr<EngineContainer>>> live;
      {
        absl::MutexLock l(&mu_);
        live.assign(containers_.begin(), containers_.end());
      }
      for (auto& [cid, c] : live) {
        absl::StatusOr<uint64_t> n = c->OomKillCount();
        if (n.ok()) oom_.Update(cid, *n);  // not ok: removed meanwhile, or no memory controller
      }
      id = oom_.Take();
    }
    if (id.has_value()) {
      response->set_container_id(*id);
      return absl::OkStatus();
    }
    KATA_RETURN_IF_ERROR(context.SleepFor(kOomPollInterval));
  }
}

}  // namespace agent
}  // namespace kata
