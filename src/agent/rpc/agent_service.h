// grpc.AgentService as kata-agent serves it. Implemented: GetGuestDetails, the sandbox, guest
// and container rpcs below (src/agent/container); every other rpc keeps the generated answer,
// UNIMPLEMENTED "grpc.AgentService/<Method> is not implemented" (never a fake success).
//
//   AgentService agent({});            // real /sys, init_daemon = (getpid() == 1)
//   server.Register(&agent);
//
// GetGuestDetails promises:
// - mem_block_size_bytes: when requested, the hex number in <memory_dir>/block_size_bytes
//   ("8000000\n" -> 134217728); 0 when the file is absent; INTERNAL naming the file when it
//   does not parse.
// - support_mem_hotplug_probe: when requested, whether <memory_dir>/probe exists.
// - agent_details: version (kAgentVersion), init_daemon, the device handler types
//   (device::DeviceHandlers) and storage drivers (StorageManager::Drivers);
//   supports_seccomp when the kernel has seccomp.
//
// Sandbox rpcs:
// - CreateSandbox: a Sandbox (sandbox/sandbox.h: shared UTS/IPC(/PID) namespaces with the
//   hostname, DNS, its storages); a second one is ALREADY_EXISTS.
// - DestroySandbox: removes every container (SIGKILL, at most kDestroyTimeout each),
//   releases their storages, destroys the sandbox (holder, storages), answers OK, and then
//   calls options.on_exit(kSandboxDestroyed) so the agent's main loop can end (and power
//   the VM off when PID 1). Without a sandbox it still removes the containers and exits.
// - SetGuestDateTime, OnlineCPUMem, CopyFile: see guest_ops.h (fake roots/clock injectable).
// Containers, storages, devices and the sandbox are made through options.engine
// (guest_engine.h; the real one by default), so tests and the fuzzer can substitute a fake.
// Network rpcs (network_rpc.cc over src/agent/network): UpdateInterface, UpdateRoutes,
//   ListInterfaces, ListRoutes, AddARPNeighbors, with network/network.h's promises (a missing
//   `interface`/`routes`/`neighbors` message is INVALID_ARGUMENT naming it).
// Container rpcs: CreateContainer: with a sandbox, the spec's namespaces are adjusted
//   (Sandbox::AdjustSpec: ipc/uts joined, pid per sandbox_pidns; sandbox_pidns without a
//   sandbox is FAILED_PRECONDITION; in a sandbox created without sandbox_pidns the first
//   container's pid namespace becomes the pod's, Sandbox::AdoptPidNamespace); then the request's
//   devices rewrite the spec (device/devices.h), its storages are mounted (reference counted by
//   mount point, so containers share them; released by RemoveContainer/DestroySandbox), and the
//   container is created; a failure releases the storages again. root.path is the rootfs as the
//   guest sees it (e.g. /run/kata-containers/shared/containers/<id>/rootfs under the 9p share).
//   shared_mounts and string_user are ignored. StartContainer,
// RemoveContainer (timeout seconds, 0 = forever), ExecProcess, SignalProcess (exec_id ""
// = every process of the container), WaitProcess (exit code, 128 + n after signal n),
// WriteStdin, ReadStdout/ReadStderr (block until data; at EOF an error, OUT_OF_RANGE
// "<cid>/<eid> stdout: EOF", as Kata's agent also answers EOF with an error, which ends the
// shim's copy loop; len 0 means 64 KiB, at most 1 MiB per call), CloseStdin, TtyWinResize,
// StatsContainer (the cgroup's counters: cpu total/user/kernel ns, memory usage/max_usage/
// limit, pids current/limit; an unlimited pids limit is 0, an unlimited memory limit
// 2^64-1; percpu, throttling, blkio, hugetlb and network stats are left empty),
// PauseContainer/ResumeContainer (cgroup freezer, at most kFreezeTimeout; running <->
// paused, anything else FAILED_PRECONDITION; a paused container cannot Exec),
// UpdateContainer (resources applied to the cgroup, all or nothing; no resources = no-op),
// GetOOMEvent (blocks until the OOM-kill counter of some container's cgroup passed what was
// last reported for it, polled every kOomPollInterval, also read at each WaitProcess exit and
// at RemoveContainer, so a kill is reported even for a container removed since; each
// increase is reported to one caller once; CANCELLED / DEADLINE_EXCEEDED when the call is
// cancelled, times out, or the server shuts down). WaitProcess answers only once an OOM kill
// of the container counted by then was handed out and a next GetOOMEvent call came (the
// host published it), at most options.oom_ack_timeout (oom_tracker.h): so the host's
// /tasks/oom precedes its /tasks/exit.
// - GetMetrics: Prometheus text about the agent and the guest (guest_metrics.h), read from
//   options.proc_root; never fails.
// - Exec processes are freed (their pipes, pty and eventfd closed; Container::FreeIfDone)
//   once the host is done with them, as Kata's agent frees them in WaitProcess: when a
//   WaitProcess has returned the exit code AND nothing is left to read (every output stream
//   at EOF and all its output returned). Checked when WaitProcess returns and when a read
//   answers EOF (WaitProcess lets the streams settle for up to kOutputSettle first), so the
//   shim may read stdout/stderr before or after WaitProcess without losing output.
//   Afterwards every call on that exec id answers NOT_FOUND (a second WaitProcess too) and
//   ExecProcess may reuse the id. An exec whose output the host never reads to the end
//   stays until RemoveContainer. The container's init is never freed before
//   RemoveContainer.
// - An id that is not [A-Za-z0-9][A-Za-z0-9_.-]{0,63}: INVALID_ARGUMENT (exec ids too,
//   except SignalProcess's ""); an unknown container or exec id: NOT_FOUND; a second
//   container with a live id: ALREADY_EXISTS; a call illegal in the container's state
//   (Start twice, Exec before Start): FAILED_PRECONDITION.
#ifndef KATA_SRC_AGENT_RPC_AGENT_SERVICE_H_
#define KATA_SRC_AGENT_RPC_AGENT_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/agent/container/container.h"
#include "src/agent/network/network.h"
#include "src/agent/rpc/completions.h"
#include "src/agent/rpc/guest_engine.h"
#include "src/agent/rpc/guest_metrics.h"
#include "src/agent/rpc/guest_ops.h"
#include "src/agent/rpc/oom_tracker.h"
#include "src/agent/sandbox/sandbox.h"
#include "src/agent/storage/storage.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"

namespace kata {
namespace agent {

class AgentService final : public grpc::AgentServiceTtrpc::Service {
 public:
  struct Options {
    std::string memory_dir = "/sys/devices/system/memory";
    bool init_daemon;  // default: getpid() == 1
    ContainerOptions containers;
    // Storages and devices (sysfs root, /dev, agent.hotplug_timeout).
    StorageOptions storage;
    SandboxOptions sandbox;  // set_agent_hostname defaults to init_daemon
    // CopyFile writes only under this directory.
    std::string copy_file_base = "/run/kata-containers";
    // OnlineCPUMem's sysfs (cpu and memory blocks under <sysfs_root>/devices/system).
    std::string sysfs_root = "/sys";
    // Where GetMetrics reads the agent's and the guest's numbers.
    std::string proc_root = "/proc";
    // SetGuestDateTime's clock (settimeofday by default; tests inject a fake).
    SetTimeFn set_time = SystemSetTime;
    // Called by DestroySandbox once its work is done (just before it answers OK), with
    // kSandboxDestroyed: the agent then ends its main loop (see the header comment).
    std::function<void(const std::string& reason)> on_exit;
    // Whether the network rpcs change this process's network namespace (the guest's). false:
    // they answer FAILED_PRECONDITION and touch nothing (the fuzzer runs on a host).
    bool manage_network = true;
    // How long WaitProcess waits for the host to take an OOM kill behind the exit (see
    // GetOOMEvent in the header comment); the fuzzer sets it to zero.
    absl::Duration oom_ack_timeout = absl::Seconds(2);
    // What creates containers, storages, devices and the sandbox; unset: the real engine,
    // NewGuestEngine(containers, storage, sandbox).
    std::shared_ptr<GuestEngine> engine;
    Options();
  };

  explicit AgentService(Options options);
  // Removes the containers left (SIGKILL) and releases every storage they hold; the
  // sandbox, if any, is destroyed too.
  ~AgentService() override;

  // WaitProcess, and ReadStdout/ReadStderr with no output yet, defer their calls
  // (ttrpc/service.h): they wait in completions_ (completions.h), woken by the process, and
  // hold no thread, so a pod's many live processes cost none per blocked call. The calls that
  // still wait on a thread (room in a stdin pipe, an OOM): the ttRPC server runs each on a
  // thread of its own, so they never stop the connection (issue 11 item 12).
  bool IsBlocking(absl::string_view method) const override {
    return method == "WriteStdin" || method == "GetOOMEvent";
  }

  absl::Status GetGuestDetails(ttrpc::ServerContext& context,
                               const grpc::GuestDetailsRequest& request,
                               grpc::GuestDetailsResponse* response) override;

  absl::Status CreateContainer(ttrpc::ServerContext& context,
                               const grpc::CreateContainerRequest& request,
                               google::protobuf::Empty* response) override;
  absl::Status StartContainer(ttrpc::ServerContext& context,
                              const grpc::StartContainerRequest& request,
                              google::protobuf::Empty* response) override;
  absl::Status RemoveContainer(ttrpc::ServerContext& context,
                               const grpc::RemoveContainerRequest& request,
                               google::protobuf::Empty* response) override;
  absl::Status ExecProcess(ttrpc::ServerContext& context, const grpc::ExecProcessRequest& request,
                           google::protobuf::Empty* response) override;
  absl::Status SignalProcess(ttrpc::ServerContext& context,
                             const grpc::SignalProcessRequest& request,
                             google::protobuf::Empty* response) override;
  absl::Status WaitProcess(ttrpc::ServerContext& context, const grpc::WaitProcessRequest& request,
                           grpc::WaitProcessResponse* response) override;
  absl::Status WriteStdin(ttrpc::ServerContext& context, const grpc::WriteStreamRequest& request,
                          grpc::WriteStreamResponse* response) override;
  absl::Status ReadStdout(ttrpc::ServerContext& context, const grpc::ReadStreamRequest& request,
                          grpc::ReadStreamResponse* response) override;
  absl::Status ReadStderr(ttrpc::ServerContext& context, const grpc::ReadStreamRequest& request,
                          grpc::ReadStreamResponse* response) override;
  absl::Status CloseStdin(ttrpc::ServerContext& context, const grpc::CloseStdinRequest& request,
                          google::protobuf::Empty* response) override;
  absl::Status TtyWinResize(ttrpc::ServerContext& context, const grpc::TtyWinResizeRequest& request,
                            google::protobuf::Empty* response) override;
  absl::Status StatsContainer(ttrpc::ServerContext& context,
                              const grpc::StatsContainerRequest& request,
                              grpc::StatsContainerResponse* response) override;
  absl::Status PauseContainer(ttrpc::ServerContext& context,
                              const grpc::PauseContainerRequest& request,
                              google::protobuf::Empty* response) override;
  absl::Status ResumeContainer(ttrpc::ServerContext& context,
                               const grpc::ResumeContainerRequest& request,
                               google::protobuf::Empty* response) override;
  absl::Status UpdateContainer(ttrpc::ServerContext& context,
                               const grpc::UpdateContainerRequest& request,
                               google::protobuf::Empty* response) override;
  absl::Status GetOOMEvent(ttrpc::ServerContext& context, const grpc::GetOOMEventRequest& request,
                           grpc::OOMEvent* response) override;
  absl::Status GetMetrics(ttrpc::ServerContext& context, const grpc::GetMetricsRequest& request,
                          grpc::Metrics* response) override;
  absl::Status CreateSandbox(ttrpc::ServerContext& context,
                             const grpc::CreateSandboxRequest& request,
                             google::protobuf::Empty* response) override;
  absl::Status DestroySandbox(ttrpc::ServerContext& context,
                              const grpc::DestroySandboxRequest& request,
                              google::protobuf::Empty* response) override;
  absl::Status SetGuestDateTime(ttrpc::ServerContext& context,
                                const grpc::SetGuestDateTimeRequest& request,
                                google::protobuf::Empty* response) override;
  absl::Status OnlineCPUMem(ttrpc::ServerContext& context, const grpc::OnlineCPUMemRequest& request,
                            google::protobuf::Empty* response) override;
  absl::Status CopyFile(ttrpc::ServerContext& context, const grpc::CopyFileRequest& request,
                        google::protobuf::Empty* response) override;

  absl::Status UpdateInterface(ttrpc::ServerContext& context,
                               const grpc::UpdateInterfaceRequest& request,
                               types::Interface* response) override;
  absl::Status UpdateRoutes(ttrpc::ServerContext& context, const grpc::UpdateRoutesRequest& request,
                            grpc::Routes* response) override;
  absl::Status ListInterfaces(ttrpc::ServerContext& context,
                              const grpc::ListInterfacesRequest& request,
                              grpc::Interfaces* response) override;
  absl::Status ListRoutes(ttrpc::ServerContext& context, const grpc::ListRoutesRequest& request,
                          grpc::Routes* response) override;
  absl::Status AddARPNeighbors(ttrpc::ServerContext& context,
                               const grpc::AddARPNeighborsRequest& request,
                               google::protobuf::Empty* response) override;

  // The reason DestroySandbox gives on_exit.
  static constexpr char kSandboxDestroyed[] = "sandbox destroyed";
  // How long DestroySandbox waits for each container's processes to die.
  static constexpr absl::Duration kDestroyTimeout = absl::Seconds(10);

  // Mount points of storages held (by the sandbox and containers), with reference counts.
  std::map<std::string, int> HeldStorages() { return engine_->HeldStorages(); }

  static constexpr absl::Duration kFreezeTimeout = absl::Seconds(5);
  // How long WaitProcess, after the exit, waits for the output streams to reach EOF (they do
  // at once unless a descendant holds them) before deciding whether the exec can be freed.
  static constexpr absl::Duration kOutputSettle = absl::Milliseconds(50);
  static constexpr absl::Duration kOomPollInterval = absl::Milliseconds(100);

  // The logic of GetGuestDetails, callable without a server.
  absl::StatusOr<grpc::GuestDetailsResponse> GuestDetails(
      const grpc::GuestDetailsRequest& request) const;

 private:
  // The container `id`: INVALID_ARGUMENT for a bad id, NOT_FOUND for an unknown one.
  absl::StatusOr<std::shared_ptr<EngineContainer>> Find(const std::string& id);
  // Its process `exec_id` (validated the same way).
  absl::StatusOr<std::shared_ptr<EngineProcess>> FindProcess(const std::string& id,
                                                             const std::string& exec_id);
  absl::Status ReadStream(ttrpc::ServerContext& context, const grpc::ReadStreamRequest& request,
                          bool stderr_stream, grpc::ReadStreamResponse* response);
  // A read's answer: `data`, or OUT_OF_RANGE at EOF (the exec freed if it is done).
  absl::Status ReadAnswer(const grpc::ReadStreamRequest& request, bool stderr_stream,
                          std::string data, const std::shared_ptr<EngineContainer>& c,
                          const std::shared_ptr<EngineProcess>& p,
                          grpc::ReadStreamResponse* response);
  // A deferred read waiting for output (filed in completions_ under an id).
  struct ReadWait {
    grpc::ReadStreamRequest request;
    bool stderr_stream = false;
    std::shared_ptr<EngineContainer> c;
    std::shared_ptr<EngineProcess> p;
    ttrpc::DeferredResponse d;
  };
  void WatchRead(uint64_t id, ReadWait w);
  void CompleteRead(uint64_t id, ReadWait w);
  // WaitProcess once the process has exited: the code, the OOM hand-over, freeing the exec.
  absl::Status Waited(const grpc::WaitProcessRequest& request,
                      const std::shared_ptr<EngineContainer>& c,
                      const std::shared_ptr<EngineProcess>& p, grpc::WaitProcessResponse* response);

  // Removes container `id` (`c`) and releases its storages.
  absl::Status RemoveLocked(const std::string& id, const std::shared_ptr<EngineContainer>& c,
                            absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(create_mu_);

  const Options options_;
  const std::shared_ptr<GuestEngine> engine_;  // outlives everything it made
  network::Network network_;
  // Lock order: create_mu_ before mu_; oom_'s lock is never held with another.
  absl::Mutex create_mu_;  // serializes CreateContainer, RemoveContainer, the sandbox rpcs
  std::unique_ptr<EngineSandbox> sandbox_ ABSL_GUARDED_BY(create_mu_);
  absl::Mutex mu_ ABSL_ACQUIRED_AFTER(create_mu_);
  std::map<std::string, std::shared_ptr<EngineContainer>> containers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::string>> container_storages_ ABSL_GUARDED_BY(mu_);
  OomTracker oom_;
  GuestMetrics metrics_;
  // Deferred calls waiting for a process; stopped first by the destructor.
  const std::shared_ptr<Completions> completions_ = std::make_shared<Completions>();
};

// Parses the hex contents of block_size_bytes ("8000000\n"); INVALID_ARGUMENT otherwise.
absl::StatusOr<uint64_t> ParseMemBlockSize(absl::string_view text);

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_AGENT_SERVICE_H_
