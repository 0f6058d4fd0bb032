#include "src/runtime/cli/cli.h"

#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "src/runtime/cli/exec.h"
#include "src/runtime/cli/host_probe.h"
#include "src/runtime/cli/metrics_cmd.h"
#include "src/runtime/cli/trace_cmd.h"

namespace kata::runtime::cli {
namespace {

constexpr char kUsage[] =
    "usage: kata-runtime [--config PATH] check [--boot-probe] [--strict]\n"
    "       kata-runtime [--config PATH] env [--json]\n"
    "       kata-runtime metrics <sandbox-id>\n"
    "       kata-runtime exec SANDBOX-ID\n"
    "       kata-runtime trace FILE [--trace-id HEX]\n"
    "       kata-runtime version\n";

enum class Level { kOk, kWarn, kFail };

struct Checker {
  std::ostream& out;
  int warns = 0, fails = 0;
  void Item(Level l, absl::string_view what, absl::string_view detail) {
    const char* tag = l == Level::kOk ? "ok  " : l == Level::kWarn ? "warn" : "FAIL";
    out << "[" << tag << "] " << what << ": " << detail << "\n";
    warns += l == Level::kWarn;
    fails += l == Level::kFail;
  }
};

// "--config" for a path given on the command line (Resolve files it as the runtime options').
std::string SourceOf(const config::ResolvedConfig& rc, bool from_flag) {
  return from_flag ? "--config" : config::SourceName(rc.source);
}

// The "kvm" line of `check`: whether KVM works here. Existing is not working (this host's KVM
// hangs guests); only a boot proves it. Sets *works when a guest booted with KVM.
std::string KvmVerdict(const HostFacts& f, const config::ResolvedConfig& rc, bool boot_probe,
                       const CliContext& ctx, bool* works) {
  *works = false;
  if (!f.kvm_device) return "/dev/kvm absent: TCG only";
  if (f.kvm_api < 0) {
    return absl::StrCat("/dev/kvm present but unusable (", f.kvm_error, "): TCG only");
  }
  if (!boot_probe) {
    return absl::StrCat("/dev/kvm offered (API ", f.kvm_api,
                        "), not verified (run `kata-runtime check --boot-probe`)");
  }
  absl::StatusOr<BootProbe> b =
      ProbeBoot(rc.config, hypervisor::Accelerator::kKvm, ctx.boot_probe_timeout);
  if (!b.ok()) {
    return absl::StrCat("/dev/kvm offered (API ", f.kvm_api,
                        "), not verified: ", b.status().message());
  }
  if (!b->booted) return absl::StrCat("/dev/kvm offered but does NOT work: ", b->detail);
  *works = true;
  return absl::StrCat("works: a guest kernel booted in ",
                      absl::FormatDuration(absl::Trunc(b->elapsed, absl::Milliseconds(1))));
}

int Check(const config::ResolvedConfig& rc, bool from_flag, bool boot_probe, bool strict,
          std::ostream& out, const CliContext& ctx) {
  Checker c{out};
  const config::QemuConfig& q = rc.config.hypervisor;
  c.Item(Level::kOk, "configuration", absl::StrCat(rc.path, " (", SourceOf(rc, from_flag), ")"));
  for (const std::string& w : rc.config.warnings) c.Item(Level::kWarn, "configuration", w);
  HostFacts f = ProbeHost(rc.config);
  c.Item(f.qemu_found ? Level::kOk : Level::kFail, "qemu",
         f.qemu_found ? absl::StrCat(f.qemu_path, ": ", f.qemu_version) : f.qemu_version);
  if (f.qemu_found) {
    c.Item(f.qemu_9p ? Level::kOk : Level::kFail, "qemu 9p device",
           f.qemu_9p ? "virtio-9p-pci available (container rootfs sharing)"
                     : "virtio-9p-pci missing: container rootfs cannot be shared");
  }
  bool kvm_works = false;
  const std::string kvm = KvmVerdict(f, rc, boot_probe, ctx, &kvm_works);
  const bool want_kvm = q.accelerator == "kvm";
  Level kvm_level = Level::kOk;
  if (want_kvm && !kvm_works)
    kvm_level = f.kvm_api >= 0 && !boot_probe ? Level::kWarn : Level::kFail;
  c.Item(kvm_level, "kvm", kvm);
  c.Item(Level::kOk, "accelerator",
         absl::StrCat("configured \"", q.accelerator, "\"",
                      want_kvm ? "" : " (TCG: pure emulation, slower, works everywhere)"));
  if (boot_probe && !want_kvm) {
    absl::StatusOr<BootProbe> b =
        ProbeBoot(rc.config, hypervisor::Accelerator::kTcg, ctx.boot_probe_timeout);
    if (!b.ok()) {
      c.Item(Level::kFail, "tcg boot", b.status().message());
    } else {
      c.Item(b->booted ? Level::kOk : Level::kFail, "tcg boot",
             b->booted ? absl::StrCat(
                             "a guest kernel booted in ",
                             absl::FormatDuration(absl::Trunc(b->elapsed, absl::Milliseconds(1))))
                       : b->detail);
    }
  }
  c.Item(Level::kOk, "vsock",
         f.vhost_vsock ? "/dev/vhost-vsock available"
                       : "/dev/vhost-vsock absent: the agent channel is virtio-serial");
  c.Item(f.kernel_found ? Level::kOk : Level::kFail, "guest kernel",
         absl::StrCat(q.kernel, f.kernel_found ? "" : ": missing"));
  if (!q.initrd.empty()) {
    c.Item(f.initrd_found ? Level::kOk : Level::kFail, "guest initrd",
           absl::StrCat(q.initrd, f.initrd_found ? "" : ": missing"));
  } else if (!q.image.empty()) {
    c.Item(Level::kFail, "guest image",
           absl::StrCat(q.image, ": rootfs images are not supported; use an initrd"));
  }
  const bool virtio_fs_works = f.qemu_virtio_fs && f.virtiofsd_found;
  const std::string virtio_fs =
      virtio_fs_works ? absl::StrCat("vhost-user-fs-pci and ", q.virtio_fs_daemon, " available")
                      : absl::StrCat(f.qemu_virtio_fs ? "" : "QEMU has no vhost-user-fs-pci; ",
                                     f.virtiofsd_found ? "" : q.virtio_fs_daemon,
                                     f.virtiofsd_found ? "" : ": not executable");
  if (q.shared_fs == "virtio-fs") {
    c.Item(virtio_fs_works ? Level::kOk : Level::kFail, "shared_fs",
           absl::StrCat("virtio-fs: ", virtio_fs));
  } else if (q.shared_fs == "virtio-9p") {
    c.Item(
        Level::kOk, "shared_fs",
        absl::StrCat(
            "virtio-9p",
            virtio_fs_works ? absl::StrCat(" (virtio-fs would work here: ", virtio_fs, ")") : ""));
  } else {
    c.Item(
        Level::kFail, "shared_fs",
        absl::StrCat("\"", q.shared_fs, "\" is not supported; use \"virtio-fs\" or \"virtio-9p\""));
  }
  const bool ok = c.fails == 0 && (!strict || c.warns == 0);
  out << (ok ? "System is capable of running kata-cpp containers\n"
             : "System is NOT capable of running kata-cpp containers\n");
  return ok ? 0 : 1;
}

template <class W>
void Str(W& w, const char* k, const std::string& v) {
  w.Key(k);
  w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}

using JsonWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void EnvJsonRuntime(const config::ResolvedConfig& rc, bool from_flag, JsonWriter& w) {
  const config::RuntimeConfig& c = rc.config;
  w.Key("Runtime");
  w.StartObject();
  Str(w, "Config", rc.path);
  Str(w, "ConfigSource", SourceOf(rc, from_flag));
  w.Key("Debug");
  w.Bool(c.runtime.enable_debug);
  w.Key("DisableGuestSeccomp");
  w.Bool(c.runtime.disable_guest_seccomp);
  Str(w, "InterNetworkModel", c.runtime.internetworking_model);
  w.Key("DisableNewNetNs");
  w.Bool(c.runtime.disable_new_netns);
  w.Key("CreateContainerTimeout");
  w.Uint(c.runtime.create_container_timeout);
  w.EndObject();
}

void EnvJsonHypervisor(const config::QemuConfig& q, const HostFacts& f, JsonWriter& w) {
  w.Key("Hypervisor");
  w.StartObject();
  Str(w, "Path", q.path);
  Str(w, "Version", f.qemu_version);
  Str(w, "Kernel", q.kernel);
  Str(w, "Initrd", q.initrd);
  Str(w, "Image", q.image);
  Str(w, "MachineType", q.machine_type);
  Str(w, "Accelerator", q.accelerator);
  Str(w, "KernelParams", q.kernel_params);
  w.Key("MemoryMiB");
  w.Uint(q.default_memory);
  w.Key("VCPUs");
  w.Uint(q.default_vcpus);
  Str(w, "SharedFS", q.shared_fs);
  w.Key("Msize9p");
  w.Uint(q.msize_9p);
  w.Key("Debug");
  w.Bool(q.enable_debug);
  w.Key("EnableAnnotations");
  w.StartArray();
  for (const std::string& a : q.enable_annotations) w.String(a.c_str());
  w.EndArray();
  w.EndObject();
}

void EnvJsonAgentAndHost(const config::RuntimeConfig& c, const HostFacts& f, JsonWriter& w) {
  w.Key("Agent");
  w.StartObject();
  w.Key("Debug");
  w.Bool(c.agent.enable_debug);
  w.Key("DialTimeout");
  w.Uint(c.agent.dial_timeout);
  w.Key("KernelModules");
  w.StartArray();
  for (const std::string& m : c.agent.kernel_modules) w.String(m.c_str());
  w.EndArray();
  w.EndObject();
  w.Key("Host");
  w.StartObject();
  Str(w, "Kernel", f.host_kernel);
  w.Key("KVMDevice");
  w.Bool(f.kvm_device);
  w.Key("KVMAPIVersion");
  w.Int(f.kvm_api);
  w.Key("VhostVsock");
  w.Bool(f.vhost_vsock);
  w.Key("CPUs");
  w.Int64(sysconf(_SC_NPROCESSORS_ONLN));
  w.EndObject();
}

void EnvJson(const config::ResolvedConfig& rc, bool from_flag, const HostFacts& f,
             std::ostream& out) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("Meta");
  w.StartObject();
  Str(w, "Version", kVersion);
  w.EndObject();
  EnvJsonRuntime(rc, from_flag, w);
  EnvJsonHypervisor(rc.config.hypervisor, f, w);
  EnvJsonAgentAndHost(rc.config, f, w);
  w.EndObject();
  out << sb.GetString() << "\n";
}

void EnvToml(const config::ResolvedConfig& rc, bool from_flag, const HostFacts& f,
             std::ostream& out) {
  const config::RuntimeConfig& c = rc.config;
  const config::QemuConfig& q = c.hypervisor;
  auto s = [](const std::string& v) { return absl::StrCat("\"", v, "\""); };
  auto b = [](bool v) { return v ? "true" : "false"; };
  auto list = [&](const std::vector<std::string>& v) {
    return absl::StrJoin(v, ", ", [&](std::string* o, const std::string& a) { o->append(s(a)); });
  };
  out << "[Meta]\n  Version = " << s(kVersion) << "\n\n";
  out << "[Runtime]\n  Config = " << s(rc.path)
      << "\n  ConfigSource = " << s(SourceOf(rc, from_flag))
      << "\n  Debug = " << b(c.runtime.enable_debug)
      << "\n  DisableGuestSeccomp = " << b(c.runtime.disable_guest_seccomp)
      << "\n  InterNetworkModel = " << s(c.runtime.internetworking_model)
      << "\n  DisableNewNetNs = " << b(c.runtime.disable_new_netns)
      << "\n  CreateContainerTimeout = " << c.runtime.create_container_timeout << "\n\n";
  out << "[Hypervisor]\n  Path = " << s(q.path) << "\n  Version = " << s(f.qemu_version)
      << "\n  Kernel = " << s(q.kernel) << "\n  Initrd = " << s(q.initrd)
      << "\n  Image = " << s(q.image) << "\n  MachineType = " << s(q.machine_type)
      << "\n  Accelerator = " << s(q.accelerator) << "\n  KernelParams = " << s(q.kernel_params)
      << "\n  MemoryMiB = " << q.default_memory << "\n  VCPUs = " << q.default_vcpus
      << "\n  SharedFS = " << s(q.shared_fs) << "\n  Msize9p = " << q.msize_9p
      << "\n  Debug = " << b(q.enable_debug) << "\n  EnableAnnotations = ["
      << list(q.enable_annotations) << "]\n\n";
  out << "[Agent]\n  Debug = " << b(c.agent.enable_debug)
      << "\n  DialTimeout = " << c.agent.dial_timeout << "\n  KernelModules = ["
      << list(c.agent.kernel_modules) << "]\n\n";
  out << "[Host]\n  Kernel = " << s(f.host_kernel) << "\n  KVMDevice = " << b(f.kvm_device)
      << "\n  KVMAPIVersion = " << f.kvm_api << "\n  VhostVsock = " << b(f.vhost_vsock)
      << "\n  CPUs = " << sysconf(_SC_NPROCESSORS_ONLN) << "\n";
}

int Env(const config::ResolvedConfig& rc, bool from_flag, bool json, std::ostream& out) {
  HostFacts f = ProbeHost(rc.config);
  if (json) {
    EnvJson(rc, from_flag, f, out);
  } else {
    EnvToml(rc, from_flag, f, out);
  }
  return 0;
}

// `exec SANDBOX-ID` (exec.h): the shell's exit code, 1 when the console cannot be reached.
int Exec(const std::vector<std::string>& rest, std::ostream& err, const CliContext& ctx) {
  if (rest.size() != 1 || absl::StartsWith(rest[0], "-")) {
    err << "kata-runtime exec: needs exactly one sandbox id\n" << kUsage;
    return 2;
  }
  absl::StatusOr<std::string> where = DebugConsoleAddress(rest[0], ctx.vm_root);
  absl::StatusOr<int> code =
      where.ok() ? RunDebugConsole(*where, ctx.stdin_fd, ctx.stdout_fd) : where.status();
  if (!code.ok()) {
    err << "kata-runtime exec: " << code.status().message() << "\n";
    return 1;
  }
  return *code;
}

}  // namespace

int RunKataRuntime(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                   const CliContext& context) {
  std::string config_path;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    if (args[i] == "--config" || args[i] == "--kata-config") {
      if (i + 1 >= args.size()) {
        err << "kata-runtime: " << args[i] << " needs a path\n" << kUsage;
        return 2;
      }
      config_path = args[++i];
    } else if (args[i] == "-h" || args[i] == "--help" || args[i] == "help") {
      out << kUsage;
      return 0;
    } else {
      break;
    }
  }
  if (i >= args.size()) {
    err << kUsage;
    return 2;
  }
  const std::string cmd = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
  if (cmd == "version" || cmd == "--version") {
    if (!rest.empty()) {
      err << kUsage;
      return 2;
    }
    out << "kata-runtime (kata-cpp) : " << kVersion << "\n   OCI specs: " << kOciVersion << "\n";
    return 0;
  }
  if (cmd == "metrics") return RunMetrics(rest, out, err, context.shim_state_root);
  if (cmd == "exec") return Exec(rest, err, context);
  if (cmd == "trace") return RunTrace(rest, out, err);
  if (cmd != "check" && cmd != "env") {
    err << "kata-runtime: unknown command \"" << cmd << "\"\n" << kUsage;
    return 2;
  }
  bool json = false, boot_probe = false, strict = false;
  for (const std::string& a : rest) {
    if (cmd == "env" && a == "--json") {
      json = true;
    } else if (cmd == "check" && (a == "--boot-probe" || a == "--verify-kvm")) {
      boot_probe = true;
    } else if (cmd == "check" && a == "--strict") {
      strict = true;
    } else {
      err << "kata-runtime " << cmd << ": unknown option \"" << a << "\"\n" << kUsage;
      return 2;
    }
  }
  absl::StatusOr<config::ResolvedConfig> rc =
      config::Resolve(config_path, context.env, context.search);
  if (!rc.ok()) {
    if (cmd == "check") out << "[FAIL] configuration: " << rc.status().message() << "\n";
    err << "kata-runtime: " << rc.status().message() << "\n";
    return 1;
  }
  const bool from_flag = !config_path.empty();
  if (cmd == "check") return Check(*rc, from_flag, boot_probe, strict, out, context);
  return Env(*rc, from_flag, json, out);
}

}  // namespace kata::runtime::cli
