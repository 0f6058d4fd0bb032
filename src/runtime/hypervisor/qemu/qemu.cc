#include "src/runtime/hypervisor/qemu/qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/trace/scoped_span.h"
#include "src/runtime/hypervisor/qemu/page_out.h"
#include "src/runtime/hypervisor/qemu/process.h"
#include "src/runtime/hypervisor/qemu/qmp.h"
#include "src/runtime/hypervisor/qemu/vm_exit.h"

namespace kata::hypervisor::qemu {
namespace {

constexpr size_t kLogQuote = 2000;

absl::Status CheckReadable(const std::string& path, absl::string_view what) {
  if (access(path.c_str(), R_OK) != 0) return ErrnoStatus(errno, absl::StrCat(what, " ", path));
  return absl::OkStatus();
}

// QEMU's logs hold the guest's console: root only. Created 0600 before QEMU opens them (QEMU
// keeps an existing file's mode); a file left by an earlier run is set to 0600 too.
absl::Status CreatePrivateLog(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("create log ", path));
  const int err = fchmod(fd, 0600) == 0 ? 0 : errno;
  close(fd);
  if (err != 0) return ErrnoStatus(err, absl::StrCat("chmod log ", path));
  return absl::OkStatus();
}

// A JSON string literal (quoted, escaped).
std::string JsonString(const std::string& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(buf.GetString(), buf.GetSize());
}

// Transparent huge pages pay under KVM (guest RAM mapped by 2 MiB stage-2 entries); under
// TCG the softmmu TLB maps 4 KiB guest pages whatever backs them, and QEMU's MADV_HUGEPAGE on
// guest RAM makes every page the guest touches cost 2 MiB of RSS.
bool UsesHugePages(const VmConfig& c) { return c.accelerator == Accelerator::kKvm; }

bool ValidDeviceId(const std::string& id) {
  if (id.empty() || id.size() > 24) return false;  // node-name "drive-<id>" <= 31 chars
  for (char c : id) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return isalpha(static_cast<unsigned char>(id[0]));
}

}  // namespace

QemuDriver::QemuDriver(QemuDriverOptions options) : options_(std::move(options)) {}

QemuDriver::~QemuDriver() {
  absl::MutexLock lock(&mu_);
  if (process_ != nullptr) Shutdown(/*orderly=*/false);
}

VmState QemuDriver::State() const {
  absl::MutexLock lock(&mu_);
  const bool up = state_ == VmState::kRunning || state_ == VmState::kPaused;
  if (up && process_ != nullptr && process_->exited()) return VmState::kStopped;
  return state_;
}

std::vector<std::string> QemuDriver::argv() const {
  absl::MutexLock lock(&mu_);
  return argv_;
}

QemuFeatures QemuDriver::features() const {
  absl::MutexLock lock(&mu_);
  return features_;
}

ConsoleReader::Stats QemuDriver::console_stats() const {
  absl::MutexLock lock(&mu_);
  return console_ != nullptr ? console_->stats() : console_stats_;
}

absl::Status QemuDriver::Check(VmOp op) {
  if (state_ == VmState::kStopped && !unreported_death_.ok() && op != VmOp::kCreate &&
      op != VmOp::kStart) {
    absl::Status died = std::exchange(unreported_death_, absl::OkStatus());
    return op == VmOp::kStop ? absl::OkStatus() : died;
  }
  KATA_RETURN_IF_ERROR(CheckVmOp(state_, op));
  if ((state_ == VmState::kRunning || state_ == VmState::kPaused) && process_ != nullptr &&
      process_->TryWait()) {
    absl::Status died = Ended();
    return op == VmOp::kStop ? absl::OkStatus() : died;
  }
  return absl::OkStatus();
}

absl::Status QemuDriver::Ended() {
  std::string how = "is gone";
  if (process_ != nullptr) {
    const bool by_itself = process_->WaitFor(absl::Seconds(2));
    if (!by_itself) process_->Kill();  // QMP is gone but QEMU hangs on
    RecordExit(/*by_host=*/!by_itself);
    how = process_->exit_description();
  }
  const std::string why =
      absl::StrCat("qemu ", how, ": ", ReadFileTail(paths_.qemu_log, kLogQuote));
  Teardown();
  return absl::UnavailableError(why);
}

void QemuDriver::RecordExit(bool by_host) {
  if (exit_.has_value() || process_ == nullptr || !process_->exited()) return;
  QemuEnd end{.wait_status = process_->wait_status(),
              .log = ReadFileTail(paths_.qemu_log, kLogQuote),
              .by_host = by_host};
  if (!by_host && qmp_ != nullptr) {
    // QEMU sends SHUTDOWN before it exits; the event is read from what is left on the socket
    // (EOF follows at once, so this does not wait when there is none).
    absl::StatusOr<QmpEvent> shutdown = qmp_->WaitEvent("SHUTDOWN", absl::Milliseconds(500));
    if (shutdown.ok()) end.shutdown_event = shutdown->data_json;
  }
  exit_ = QemuVmExit(end);
}

absl::StatusOr<std::string> QemuDriver::Qmp(absl::string_view command, absl::string_view args) {
  absl::StatusOr<std::string> r = qmp_->Execute(command, args, options_.qmp_timeout);
  if (absl::IsUnavailable(r.status())) return Ended();
  return r;
}

absl::Status QemuDriver::CreateVm(const VmConfig& config) {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(CheckVmOp(state_, VmOp::kCreate));
  // Validated before the probe runs QEMU.
  KATA_RETURN_IF_ERROR(ValidateConfig(
      config, {.binary = options_.binary, .require_kernel = options_.require_kernel}));
  features_ = options_.features.has_value()
                  ? *options_.features
                  : CachedQemuFeatures(options_.binary, options_.seccomp_sandbox,
                                       options_.features_cache_file);
  KATA_ASSIGN_OR_RETURN(std::vector<std::string> argv,
                        BuildCommandLine(config, CommandLine(/*console_fd=*/-1)));
  if (!config.kernel_path.empty())
    KATA_RETURN_IF_ERROR(CheckReadable(config.kernel_path, "kernel"));
  if (!config.initrd_path.empty())
    KATA_RETURN_IF_ERROR(CheckReadable(config.initrd_path, "initrd"));
  if (!config.entropy_source.empty())
    KATA_RETURN_IF_ERROR(CheckReadable(config.entropy_source, "entropy_source"));
  if (!config.shared_dir.empty()) {
    struct stat st;
    if (stat(config.shared_dir.c_str(), &st) != 0) {
      return ErrnoStatus(errno, absl::StrCat("shared_dir ", config.shared_dir));
    }
    if (!S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("shared_dir ", config.shared_dir, " is not a directory"));
    }
  }
  if (mkdir(config.work_dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("work_dir ", config.work_dir));
  }
  config_ = config;
  paths_ = PathsFor(config);
  argv_ = std::move(argv);
  slot_used_.assign(config.hotplug_slots, false);
  state_ = StateAfter(state_, VmOp::kCreate);
  return absl::OkStatus();
}

CommandLineOptions QemuDriver::CommandLine(int console_fd) const {
  return CommandLineOptions{.binary = options_.binary,
                            .start_paused = options_.start_paused,
                            .require_kernel = options_.require_kernel,
                            .vhost_vsock_fd = vsock_fd_.get(),
                            .console_fd = console_fd,
                            .sandbox = features_.sandbox ? options_.seccomp_sandbox : "",
                            .fsdev_multidevs_remap = features_.multidevs_remap};
}

absl::Status QemuDriver::ClaimVsockCid() {
  if (config_.agent_channel != AgentChannelKind::kVsock || !options_.allocate_vsock_cid) {
    return absl::OkStatus();
  }
  absl::StatusOr<VsockCid> v = AllocateVsockCid(options_.vsock_cid);
  if (!v.ok()) return AnnotateStatus(v.status(), "start qemu: vsock guest CID");
  config_.vsock_guest_cid = v->cid;
  vsock_fd_ = std::move(v->fd);
  return absl::OkStatus();
}

void QemuDriver::UnlinkSockets() {
  for (const std::string* p : {&paths_.qmp_socket, &paths_.agent_socket,
                               &paths_.debug_console_socket, &paths_.agent_trace_socket}) {
    unlink(p->c_str());
  }
}

absl::Status QemuDriver::StartVm(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(Check(VmOp::kStart));
  // Stale sockets from an earlier run would be "connected" to nobody.
  UnlinkSockets();
  KATA_RETURN_IF_ERROR(CreatePrivateLog(paths_.qemu_log));
  KATA_ASSIGN_OR_RETURN(std::unique_ptr<ConsoleReader> console,
                        ConsoleReader::Start(paths_.console_log, options_.console_log_max_bytes));
  KATA_RETURN_IF_ERROR(ClaimVsockCid());
  absl::Cleanup release_cid = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { vsock_fd_.reset(); };
  std::unique_ptr<Virtiofsd> virtiofsd;  // ended on any failure below
  if (config_.shared_fs == SharedFsKind::kVirtioFs && !config_.shared_dir.empty()) {
    trace::ScopedSpan span("virtiofsd.start");
    KATA_ASSIGN_OR_RETURN(virtiofsd,
                          Virtiofsd::Start(config_, {.die_with_parent = options_.die_with_parent}));
  }
  KATA_ASSIGN_OR_RETURN(argv_, BuildCommandLine(config_, CommandLine(console->qemu_fd())));
  std::vector<int> inherit = {console->qemu_fd()};
  if (vsock_fd_) inherit.push_back(vsock_fd_.get());
  // The NICs' tap (and vhost-net) fds are the caller's; QEMU inherits them at their numbers.
  for (const NetDevice& n : config_.net_devices) {
    inherit.push_back(n.tap_fd);
    if (n.vhost_fd >= 0 && config_.accelerator == Accelerator::kKvm) inherit.push_back(n.vhost_fd);
  }
  std::optional<trace::ScopedSpan> step(std::in_place, "qemu.spawn");
  absl::StatusOr<std::unique_ptr<ChildProcess>> spawned =
      ChildProcess::Spawn(argv_, {.log_path = paths_.qemu_log,
                                  .die_with_parent = options_.die_with_parent,
                                  .inherit_fds = std::move(inherit),
                                  .disable_transparent_hugepages = !UsesHugePages(config_)});
  console->ReleaseQemuFd();  // QEMU holds its end alone: its exit is the reader's EOF
  if (!spawned.ok()) return spawned.status();
  process_ = *std::move(spawned);
  ChildProcess* child = process_.get();
  const std::string log = paths_.qemu_log;
  step.emplace("qmp.ready");  // QEMU's QMP socket answers the handshake
  absl::StatusOr<std::unique_ptr<QmpClient>> qmp =
      QmpClient::Connect(paths_.qmp_socket, timeout, [child, log] {
        if (!child->TryWait()) return absl::OkStatus();
        return absl::FailedPreconditionError(absl::StrCat(
            "qemu ", child->exit_description(), " during start: ", ReadFileTail(log, kLogQuote)));
      });
  if (!qmp.ok()) {
    // QEMU creates the QMP socket before it loads the kernel, so it can die mid-handshake:
    // then its own error is the useful one.
    absl::Status status = qmp.status();
    if (!absl::IsFailedPrecondition(status) && process_->WaitFor(absl::Milliseconds(500))) {
      status = absl::FailedPreconditionError(
          absl::StrCat("qemu ", process_->exit_description(),
                       " during start: ", ReadFileTail(paths_.qemu_log, kLogQuote)));
    }
    process_->Kill();
    process_.reset();
    return AnnotateStatus(status, "start qemu");
  }
  std::move(release_cid).Cancel();
  // QEMU made its sockets (before QMP answered) with its umask: the debug console, a root
  // shell in the guest, is the owner's alone (the directory is 0700 as well).
  if (config_.agent_channel == AgentChannelKind::kVirtioSerial) {
    for (const auto& [wanted, path] :
         {std::pair{config_.debug_console, &paths_.debug_console_socket},
          std::pair{config_.agent_trace, &paths_.agent_trace_socket}}) {
      if (wanted && chmod(path->c_str(), 0600) != 0) {
        const int err = errno;
        process_->Kill();
        process_.reset();
        return ErrnoStatus(err, absl::StrCat("start qemu: chmod ", *path));
      }
    }
  }
  step.reset();
  qmp_ = std::move(*qmp);
  console_ = std::move(console);
  virtiofsd_ = std::move(virtiofsd);
  state_ = options_.start_paused ? VmState::kPaused : VmState::kRunning;
  return absl::OkStatus();
}

void QemuDriver::Shutdown(bool orderly) {
  if (process_ != nullptr) {
    if (orderly && qmp_ != nullptr && !process_->TryWait()) {
      // QEMU answers "quit" and then exits; if it does not, SIGKILL below. A QEMU that does not
      // answer at all (stopped, hung) is killed at once: the stop takes at most stop_grace.
      const absl::Time deadline = absl::Now() + options_.stop_grace;
      absl::Status quit =
          qmp_->Execute("quit", "", std::min(options_.qmp_timeout, options_.stop_grace)).status();
      if (!absl::IsDeadlineExceeded(quit)) process_->WaitFor(deadline - absl::Now());
    }
    process_->Kill();  // no-op when already reaped
    RecordExit(/*by_host=*/true);
  }
  Teardown();
}

void QemuDriver::Teardown() {
  qmp_.reset();
  process_.reset();
  virtiofsd_.reset();  // QEMU is gone: its file server goes too
  if (console_ != nullptr) {
    console_->Stop();  // QEMU is gone: the reader drains what is left and ends
    console_stats_ = console_->stats();
    console_.reset();
  }
  vsock_fd_.reset();  // QEMU is gone: its CID is free again
  devices_.clear();
  slot_used_.assign(slot_used_.size(), false);
  UnlinkSockets();
  state_ = VmState::kStopped;
}

absl::Status QemuDriver::StopVm() {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(Check(VmOp::kStop));
  if (state_ != VmState::kStopped) Shutdown(/*orderly=*/true);
  return absl::OkStatus();
}

absl::StatusOr<VmExit> QemuDriver::WaitVm(absl::Duration timeout) {
  std::shared_ptr<ChildProcess> child;
  {
    absl::MutexLock lock(&mu_);
    if (exit_.has_value()) return *exit_;
    if (process_ == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "WaitVm is not allowed in VM state ", VmStateName(state_), ": the VM was not started"));
    }
    child = process_;
  }
  // Only the reaper waits for QEMU; this blocks on its record, with mu_ free for other calls.
  if (!child->WaitFor(timeout)) {
    return absl::DeadlineExceededError(absl::StrCat("WaitVm: the VM (qemu pid ", child->pid(),
                                                    ") is still up after ",
                                                    absl::FormatDuration(timeout)));
  }
  absl::MutexLock lock(&mu_);
  if (!exit_.has_value() && process_ == child) unreported_death_ = Ended();
  if (!exit_.has_value()) return absl::InternalError("WaitVm: qemu ended but no exit was recorded");
  return *exit_;
}

absl::Status QemuDriver::PauseVm() {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(Check(VmOp::kPause));
  KATA_RETURN_IF_ERROR(Qmp("stop").status());
  state_ = StateAfter(state_, VmOp::kPause);
  return absl::OkStatus();
}

absl::Status QemuDriver::ResumeVm() {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(Check(VmOp::kResume));
  KATA_RETURN_IF_ERROR(Qmp("cont").status());
  state_ = StateAfter(state_, VmOp::kResume);
  return absl::OkStatus();
}

absl::StatusOr<DeviceInfo> QemuDriver::HotplugBlockDevice(const BlockDevice& device) {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(Check(VmOp::kHotplug));
  if (config_.machine != MachineType::kQ35) {
    return absl::FailedPreconditionError("block hotplug: machine microvm cannot hotplug");
  }
  if (!ValidDeviceId(device.id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("block hotplug: device id \"", device.id,
                     "\" must be 1..24 characters [A-Za-z0-9_-], starting with a letter"));
  }
  if (devices_.count(device.id) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("block hotplug: device ", device.id, " exists"));
  }
  if (device.format != "raw" && device.format != "qcow2") {
    return absl::InvalidArgumentError(
        absl::StrCat("block hotplug: format must be raw or qcow2, got ", device.format));
  }
  uint32_t slot = 0;
  while (slot < slot_used_.size() && slot_used_[slot]) ++slot;
  if (slot == slot_used_.size()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("block hotplug: all ", slot_used_.size(),
                     " hotplug slots are in use (VmConfig.hotplug_slots)"));
  }
  const std::string node = absl::StrCat("drive-", device.id);
  const char* ro = device.read_only ? "true" : "false";
  // QEMU's "file" protocol refuses block devices: a host block device is a "host_device".
  struct stat st;
  const bool host_device = stat(device.path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
  KATA_RETURN_IF_ERROR(AnnotateStatus(
      Qmp("blockdev-add", absl::StrCat(R"({"driver":")", device.format, R"(","node-name":")", node,
                                       R"(","read-only":)", ro, R"(,"file":{"driver":")",
                                       host_device ? "host_device" : "file", R"(","filename":)",
                                       JsonString(device.path), R"(,"read-only":)", ro, "}}"))
          .status(),
      absl::StrCat("block hotplug ", device.id)));
  absl::Status added =
      Qmp("device_add",
          absl::StrCat(R"({"driver":"virtio-blk-pci","id":")", device.id, R"(","drive":")", node,
                       R"(","bus":")", RootPortId(slot), R"(","addr":"0"})"))
          .status();
  if (!added.ok()) {
    if (state_ == VmState::kStopped) return added;  // QEMU died
    (void)qmp_->Execute("blockdev-del", absl::StrCat(R"({"node-name":")", node, R"("})"),
                        options_.qmp_timeout);
    return AnnotateStatus(added, absl::StrCat("block hotplug ", device.id));
  }
  slot_used_[slot] = true;
  devices_[device.id] = PluggedDevice{slot, node};
  return DeviceInfo{device.id, absl::StrFormat("%02x/00", RootPortSlot(slot))};
}

absl::Status QemuDriver::UnplugDevice(const std::string& id) {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(Check(VmOp::kHotplug));
  auto it = devices_.find(id);
  if (it == devices_.end()) {
    return absl::NotFoundError(absl::StrCat("unplug: no hot-plugged device ", id));
  }
  const std::string what = absl::StrCat("unplug ", id);
  KATA_RETURN_IF_ERROR(
      AnnotateStatus(Qmp("device_del", absl::StrCat(R"({"id":")", id, R"("})")).status(), what));
  absl::Status deleted =
      qmp_->WaitEvent("DEVICE_DELETED", options_.unplug_timeout, DeviceDeletedMatcher(id)).status();
  if (absl::IsUnavailable(deleted)) return AnnotateStatus(Ended(), what);
  KATA_RETURN_IF_ERROR(
      AnnotateStatus(deleted, absl::StrCat(what, " (the guest did not release it)")));
  // The device is gone: free its slot even if the backend cannot be deleted.
  slot_used_[it->second.slot] = false;
  const std::string node = it->second.node_name;
  devices_.erase(it);
  return AnnotateStatus(
      Qmp("blockdev-del", absl::StrCat(R"({"node-name":")", node, R"("})")).status(), what);
}

absl::StatusOr<AgentChannel> QemuDriver::GetAgentChannel() const {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(CheckVmOp(state_, VmOp::kQuery));
  AgentChannel ch;
  ch.kind = config_.agent_channel;
  if (ch.kind == AgentChannelKind::kVirtioSerial) {
    ch.socket_path = paths_.agent_socket;
  } else {
    ch.vsock_cid = config_.vsock_guest_cid;
    ch.vsock_port = config_.vsock_port;
  }
  return ch;
}

absl::Status QemuDriver::ReleaseBootMemory() {
  absl::MutexLock lock(&mu_);
  KATA_RETURN_IF_ERROR(CheckVmOp(state_, VmOp::kQuery));
  if (process_ == nullptr || process_->exited()) return absl::OkStatus();
  // The child is unreaped while process_ holds it, so its pid is not reused meanwhile.
  return PageOutFileMappings(process_->pid(), {config_.kernel_path, config_.initrd_path}).status();
}

std::vector<pid_t> QemuDriver::Pids() const {
  absl::MutexLock lock(&mu_);
  if (process_ == nullptr || process_->exited()) return {};
  std::vector<pid_t> pids = {process_->pid()};
  if (virtiofsd_ != nullptr && virtiofsd_->running()) pids.push_back(virtiofsd_->pid());
  return pids;
}

Capabilities QemuDriver::GetCapabilities() const {
  absl::MutexLock lock(&mu_);
  const bool q35 = config_.machine == MachineType::kQ35;
  return Capabilities{
      .block_hotplug = q35 && config_.hotplug_slots > 0,
      .fs_sharing = true,
      .vsock = true,
      .pause = true,
  };
}

}  // namespace kata::hypervisor::qemu
