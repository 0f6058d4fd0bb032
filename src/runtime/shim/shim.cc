#include "src/runtime/shim/shim.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/any.pb.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/file.h"
#include "src/libs/base/io.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/oci/spec_json.h"
#include "src/libs/protocols/runtimeoptions.pb.h"
#include "src/libs/protocols/task.pb.h"
#include "src/libs/ttrpc/address.h"
#include "src/libs/ttrpc/server.h"
#include "src/runtime/hypervisor/hypervisor.h"
#include "src/runtime/sandbox/host_cgroup.h"
#include "src/runtime/sandbox/layout.h"
#include "src/runtime/sandbox/vm_sandbox.h"
#include "src/runtime/shim/event_forwarder.h"
#include "src/runtime/shim/log.h"
#include "src/runtime/shim/monitor.h"
#include "src/runtime/shim/socket_address.h"
#include "src/runtime/shim/tracing.h"
#include "src/runtime/shim/vm_factory.h"

extern char** environ;

namespace kata {
namespace shim {
namespace {

constexpr int kDaemonSocketFd = 3;

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// Best effort: a bundle file that cannot be written does not fail the command.
void WriteBundleFile(const std::string& path, absl::string_view data) {
  WriteStringToFile(path, data).IgnoreError();
}

std::string BundleDir(const ShimArgs& args) {
  if (!args.bundle.empty()) return args.bundle;
  char buf[4096];
  return getcwd(buf, sizeof(buf)) != nullptr ? std::string(buf) : ".";
}

// The config_path of the runtime options on stdin ("" when there are none).
absl::StatusOr<std::string> ConfigPathFromStdin() {
  if (isatty(0)) return std::string();
  absl::StatusOr<std::string> data = ReadAll(0);
  if (!data.ok() || data->empty()) return std::string();  // no stdin: no options
  google::protobuf::Any any;
  if (!any.ParseFromString(*data)) {
    return absl::InvalidArgumentError("start: runtime options on stdin are not a protobuf Any");
  }
  if (!absl::EndsWith(any.type_url(), "runtimeoptions.v1.Options")) {
    return std::string();  // some other runtime's options: nothing for us
  }
  ::runtimeoptions::v1::Options options;
  if (!options.ParseFromString(any.value())) {
    return absl::InvalidArgumentError("start: runtimeoptions.v1.Options on stdin do not parse");
  }
  return options.config_path();
}

std::string SelfExe(const ShimEnv& env) {
  if (!env.self_exe.empty()) return env.self_exe;
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<size_t>(n));
}

int Fail(absl::string_view action, const absl::Status& status) {
  std::cerr << "containerd-shim-kata-v2 " << action << ": " << status << std::endl;
  return 1;
}

// Starts the daemon with `listen_fd` as its fd 3; returns its pid.
absl::StatusOr<pid_t> SpawnDaemon(const ShimArgs& args, const ShimEnv& env, int listen_fd,
                                  const std::string& config_path, int64_t start_unix_nanos) {
  ShimArgs daemon_args = args;
  daemon_args.action = Action::kServe;
  daemon_args.socket_fd = kDaemonSocketFd;
  std::vector<std::string> argv_s = {SelfExe(env)};
  for (auto& a : FormatArgs(daemon_args)) argv_s.push_back(a);
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!config_path.empty() && absl::StartsWith(*e, "KATA_CONF_FILE=")) continue;
    if (absl::StartsWith(*e, absl::StrCat(kShimStartEnv, "="))) continue;
    env_s.push_back(*e);
  }
  // When `shim start` began: the daemon's trace starts there (tracing.h).
  env_s.push_back(absl::StrCat(kShimStartEnv, "=", start_unix_nanos));
  if (!config_path.empty()) env_s.push_back("KATA_CONF_FILE=" + config_path);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  UniqueFd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull) return ErrnoStatus(errno, "open /dev/null");
  // The daemon starts with its stop signals blocked (the mask crosses fork and execve): a
  // SIGTERM/SIGINT sent before it waits on its signalfd stays pending and stops it cleanly
  // (socket removed) instead of killing it half started.
  sigset_t stop_signals, old_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  const pid_t pid = fork();
  const int fork_errno = errno;
  if (pid != 0) pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (pid < 0) return ErrnoStatus(fork_errno, "fork the shim daemon");
  if (pid == 0) {
    setsid();
    dup2(devnull.get(), 0);
    dup2(devnull.get(), 1);
    dup2(devnull.get(), 2);
    if (listen_fd != kDaemonSocketFd) {
      dup2(listen_fd, kDaemonSocketFd);  // dup2 clears FD_CLOEXEC on the copy
    } else {
      fcntl(kDaemonSocketFd, F_SETFD, 0);
    }
    // The daemon gets stdio and its socket, nothing else `start` may have been handed.
    syscall(SYS_close_range, kDaemonSocketFd + 1U, ~0U, CLOSE_RANGE_CLOEXEC);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

// Kills the daemon still recorded in the bundle's shim.pid, if it is this task's (containerd
// runs `delete` as soon as the daemon's connection closes, often while it is still tearing
// down), and waits up to a second for it to end. Through a pidfd: the daemon is not our child
// and may stay a zombie for a while (kill(pid, 0) would keep succeeding until it is reaped).
void KillRecordedDaemon(const std::string& bundle, const std::string& id) {
  absl::StatusOr<std::string> pid_text = ReadFileToString(bundle + "/shim.pid");
  int pid = 0;
  if (!pid_text.ok() || !absl::SimpleAtoi(*pid_text, &pid) || pid <= 1) return;
  const UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return;  // gone already
  absl::StatusOr<std::string> cmd = ReadFileToString(absl::StrCat("/proc/", pid, "/cmdline"));
  if (!cmd.ok() || !absl::StrContains(*cmd, std::string("-id") + '\0' + id + '\0')) return;
  if (syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0) != 0) return;
  struct pollfd ended = {pidfd.get(), POLLIN, 0};
  RetryEintr([&] { return poll(&ended, 1, 1000); });
}

// The pod cgroup a dead daemon left (host_cgroup.h); OK for a spec that names none it could
// have made (Start rejects a bad cgroupsPath before making anything).
absl::Status RemoveDeadPodCgroup(const oci::Spec& spec) {
  if (!spec.linux.has_value() || !spec.linux->cgroups_path.has_value() ||
      !runtime::CgroupPathComponents(*spec.linux->cgroups_path).ok()) {
    return absl::OkStatus();
  }
  KATA_ASSIGN_OR_RETURN(std::vector<runtime::CgroupHierarchy> hierarchies,
                        runtime::HostCgroupHierarchies());
  return runtime::RemoveLeftPodCgroup(*spec.linux->cgroups_path, hierarchies);
}

}  // namespace

bool SocketAlive(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return false;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

int RunStart(const ShimArgs& args, const ShimEnv& env) {
  const int64_t start_unix_nanos = absl::GetCurrentTimeNanos();
  absl::StatusOr<std::string> config_path = ConfigPathFromStdin();
  if (!config_path.ok()) return Fail("start", config_path.status());
  const std::string bundle = BundleDir(args);
  absl::StatusOr<oci::Spec> spec = oci::LoadSpecFile(bundle + "/config.json");
  if (!spec.ok()) return Fail("start", spec.status());
  const std::string sid = SandboxIdFor(args.id, *spec);
  const std::string address = SocketAddress(args.address, args.namespace_, sid, env.socket_root);
  const std::string path = SocketPath(address);
  if (SocketAlive(path)) {
    // The pod's shim (or this container's, started before) is serving: join it.
    WriteBundleFile(bundle + "/address", address);
    std::cout << address << std::flush;
    return 0;
  }
  if (sid != args.id) {
    return Fail("start", absl::FailedPreconditionError(
                             absl::StrCat("container ", args.id, ": the shim of its sandbox ", sid,
                                          " is not running (", address, ")")));
  }
  if (mkdir(env.socket_root.c_str(), 0711) != 0 && errno != EEXIST) {
    return Fail("start", ErrnoStatus(errno, "mkdir " + env.socket_root));
  }
  absl::StatusOr<ttrpc::Address> parsed = ttrpc::ParseAddress(address);
  if (!parsed.ok()) return Fail("start", parsed.status());
  absl::StatusOr<int> listened = ttrpc::Listen(*parsed);
  if (!listened.ok()) return Fail("start", listened.status());
  UniqueFd listen_fd(*listened);
  absl::StatusOr<pid_t> pid =
      SpawnDaemon(args, env, listen_fd.get(), *config_path, start_unix_nanos);
  listen_fd.reset();  // the daemon has its copy
  if (!pid.ok()) {
    unlink(path.c_str());
    return Fail("start", pid.status());
  }
  WriteBundleFile(bundle + "/address", address);
  WriteBundleFile(bundle + "/shim.pid", std::to_string(*pid));
  std::cout << address << std::flush;
  return 0;
}

int RunDelete(const ShimArgs& args, const ShimEnv& env) {
  const std::string bundle = BundleDir(args);
  absl::StatusOr<oci::Spec> spec = oci::LoadSpecFile(bundle + "/config.json");
  const std::string sid = spec.ok() ? SandboxIdFor(args.id, *spec) : args.id;
  absl::Status result;
  if (sid == args.id) {
    KillRecordedDaemon(bundle, args.id);
    result = env.cleanup ? env.cleanup(args.id) : runtime::CleanupSandbox(args.id);
    if (spec.ok()) result.Update(RemoveDeadPodCgroup(*spec));  // its VMM is gone now
    const std::string path =
        SocketPath(SocketAddress(args.address, args.namespace_, args.id, env.socket_root));
    if (!SocketAlive(path)) unlink(path.c_str());
    const std::string monitor_dir = absl::StrCat(
        env.monitor_root.empty() ? runtime::kShimStateRoot : env.monitor_root, "/", args.id);
    const std::string monitor = absl::StrCat(monitor_dir, "/", runtime::kShimMonitorSocket);
    if (!SocketAlive(monitor)) {
      unlink(monitor.c_str());
      rmdir(monitor_dir.c_str());
    }
  }
  ::containerd::task::v2::DeleteResponse response;
  response.set_exit_status(128 + SIGKILL);
  *response.mutable_exited_at() = ToTimestamp(absl::Now());
  if (!result.ok()) return Fail("delete", result);
  std::string out = response.SerializeAsString();
  std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
  std::cout.flush();
  return 0;
}

namespace {

// Blocks until `signal_fd` (a signalfd of SIGTERM/SIGINT) reads a signal or `stop_fd` (an
// eventfd) is written.
void WaitForStop(int signal_fd, int stop_fd) {
  pollfd fds[2] = {{signal_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
  for (;;) {
    if (RetryEintr([&] { return poll(fds, 2, -1); }) < 0) {
      SHIM_LOG(Error) << "serve: " << ErrnoStatus(errno, "poll for the stop signals");
      return;
    }
    if (fds[1].revents != 0) return;
    signalfd_siginfo info{};
    if ((fds[0].revents & POLLIN) != 0 &&
        RetryEintr([&] { return read(signal_fd, &info, sizeof(info)); }) == sizeof(info)) {
      SHIM_LOG(Info) << "signal " << info.ssi_signo << ": shutting down";
      return;
    }
  }
}

}  // namespace

int RunServe(const ShimArgs& args, const ShimEnv& env) {
  const int64_t daemon_start = absl::GetCurrentTimeNanos();
  // The listening socket came without close-on-exec (it crossed the re-exec): no child (QEMU)
  // may inherit it, or containerd could still connect to a dead shim and hang.
  if (args.socket_fd >= 0 && fcntl(args.socket_fd, F_SETFD, FD_CLOEXEC) != 0) {
    std::cerr << "containerd-shim-kata-v2: socket fd " << args.socket_fd << ": "
              << ErrnoStatus(errno, "F_SETFD") << std::endl;
    return 1;
  }
  // Logs go to the bundle's log FIFO (containerd holds its read end); never block on it.
  UniqueFd log_fd(open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (log_fd) Log::Get().SetFd(std::move(log_fd), args.debug);
  Log::Get().SetId(args.id);
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::string ttrpc_address;
  if (const char* a = getenv("TTRPC_ADDRESS"); a != nullptr && *a != '\0') {
    ttrpc_address = a;
  } else {
    ttrpc_address = args.address + ".ttrpc";
  }
  auto forwarder = EventForwarder::Start({.address = ttrpc_address, .ns = args.namespace_});
  std::unique_ptr<ShimTracing> tracing = ShimTracing::Start(args.id, daemon_start);
  // The main thread waits for a stop signal (on a signalfd) or Task.Shutdown (which writes
  // the eventfd): no thread of its own for signals.
  UniqueFd signal_fd(signalfd(-1, &stop_signals, SFD_CLOEXEC));
  UniqueFd stop_fd(eventfd(0, EFD_CLOEXEC));
  if (!signal_fd || !stop_fd) {
    SHIM_LOG(Error) << "serve: " << ErrnoStatus(errno, "signalfd/eventfd for the stop signals");
    return 1;
  }
  TaskService service({
      .ns = args.namespace_,
      .factory = env.factory ? env.factory : VmSandboxFactory(),
      .events = forwarder.get(),
      // Runs before Task.Shutdown is answered: the trace is written while containerd waits
      // (once answered, containerd may run `shim delete`, which kills this daemon).
      .on_shutdown =
          [&stop_fd, &tracing] {
            tracing->Finish();
            const uint64_t one = 1;
            if (write(stop_fd.get(), &one, sizeof(one)) != sizeof(one)) {
              SHIM_LOG(Error) << "shutdown: " << ErrnoStatus(errno, "wake the main thread");
            }
          },
      .tracer = tracing->tracer(),
      .trace_parent = tracing->root(),
      // The agent's spans, when it traces ([agent.kata] enable_tracing), from its VM's port.
      .on_sandbox_started =
          [&tracing](const std::string& sandbox_id) {
            tracing->WatchAgent(absl::StrCat(runtime::kVmRoot, "/", sandbox_id, "/",
                                             hypervisor::kAgentTraceSocketName));
          },
  });
  ttrpc::Server server;
  absl::Status s = server.Register(&service);
  const std::string address =
      SocketAddress(args.address, args.namespace_, args.id, env.socket_root);
  if (s.ok()) s = args.socket_fd >= 0 ? server.ListenFd(args.socket_fd) : server.Listen(address);
  if (!s.ok()) {
    SHIM_LOG(Error) << "serve: " << s;
    return 1;
  }
  SHIM_LOG(Info) << "shim serving on " << address << " (pid " << getpid() << ")";
  // The management socket: metrics for kata-runtime metrics, kata-monitor, Prometheus. A
  // shim without it still runs its containers.
  absl::StatusOr<std::unique_ptr<ShimMonitor>> monitor = ShimMonitor::Start(
      args.id, [&service] { return service.View(); },
      env.monitor_root.empty() ? runtime::kShimStateRoot : env.monitor_root);
  if (!monitor.ok()) SHIM_LOG(Error) << "management socket: " << monitor.status();
  WaitForStop(signal_fd.get(), stop_fd.get());
  server.Shutdown(absl::Seconds(2));
  if (monitor.ok()) monitor->reset();
  absl::Status down = service.ShutdownSandbox();
  if (!down.ok()) SHIM_LOG(Error) << "shutdown: " << down;
  tracing->Finish();
  forwarder->Flush(absl::Seconds(5));
  const std::string path = SocketPath(address);
  unlink(path.c_str());
  SHIM_LOG(Info) << "shim exits";
  return 0;
}

int ShimMain(int argc, char** argv, ShimEnv env) {
  std::vector<std::string> args_v(argv, argv + argc);
  absl::StatusOr<ShimArgs> args = ParseArgs(args_v);
  if (!args.ok()) {
    std::cerr << "containerd-shim-kata-v2: " << args.status().message() << "\n"
              << "usage: containerd-shim-kata-v2 -namespace NS -address ADDR -id ID "
                 "[-publish-binary BIN] [-bundle DIR] [-debug] [start|delete]"
              << std::endl;
    return 2;
  }
  switch (args->action) {
    case Action::kVersion:
      std::cout << "containerd-shim-kata-v2 (kata-cpp) version " << kShimVersion << std::endl;
      return 0;
    case Action::kStart:
      return RunStart(*args, env);
    case Action::kDelete:
      return RunDelete(*args, env);
    case Action::kServe:
      return RunServe(*args, env);
  }
  return 2;
}

}  // namespace shim
}  // namespace kata
