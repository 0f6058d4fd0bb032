// Parse and serialize of config.json: a typical containerd config (~5 KB) and a large one
// (1,000 devices, 1,000 device rules, 200 mounts, 200 env vars).
//
//   bazel run -c opt //src/libs/oci:oci_benchmark
//
// By default both documents are built here (the typical one mirrors containerd 1.6's
// default Linux spec for a busybox container). tools/bench/oci_json.sh sets
// OCI_BENCH_TYPICAL and OCI_BENCH_LARGE to JSON files so that this benchmark and the Go
// runtime-spec one measure the very same bytes.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "src/libs/base/file.h"
#include "src/libs/oci/spec.h"
#include "src/libs/oci/spec_json.h"

namespace kata {
namespace oci {
namespace {

Spec TypicalSpec() {
  Spec s;
  s.oci_version = "1.0.2-dev";
  Process& p = s.process.emplace();
  p.user = User{};
  p.user.additional_gids = std::vector<uint32_t>{0, 10};
  p.args = Strings{"sh", "-c", "echo hello"};
  p.env = Strings{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  p.cwd = "/";
  Strings caps = {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
                  "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
                  "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                  "CAP_KILL",    "CAP_AUDIT_WRITE"};
  p.capabilities.emplace();
  p.capabilities->bounding = caps;
  p.capabilities->effective = caps;
  p.capabilities->permitted = caps;
  p.rlimits = std::vector<PosixRlimit>{{"RLIMIT_NOFILE", 1024, 1024, {}}};
  p.no_new_privileges = true;
  s.root = Root{"rootfs", std::nullopt, {}};
  s.hostname = "busybox";
  auto mount = [](std::string dst, std::string type, std::string src, Strings opts) {
    Mount m;
    m.destination = std::move(dst);
    m.type = std::move(type);
    m.source = std::move(src);
    m.options = std::move(opts);
    return m;
  };
  s.mounts = std::vector<Mount>{
      mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
      mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
      mount("/run", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      mount("/etc/resolv.conf", "bind", "/var/lib/containerd/resolv.conf", {"rbind", "ro"}),
  };
  Linux& l = s.linux.emplace();
  LinuxResources& r = l.resources.emplace();
  r.devices = std::vector<LinuxDeviceCgroup>{};
  r.devices->push_back(
      LinuxDeviceCgroup{false, std::nullopt, std::nullopt, std::nullopt, std::string("rwm"), {}});
  for (auto [type, major, minor] : {std::tuple{"c", 1, 3},
                                    {"c", 1, 8},
                                    {"c", 1, 7},
                                    {"c", 5, 0},
                                    {"c", 1, 5},
                                    {"c", 1, 9},
                                    {"c", 5, 1},
                                    {"c", 136, -1},
                                    {"c", 5, 2},
                                    {"c", 10, 200}}) {
    LinuxDeviceCgroup rule;
    rule.allow = true;
    rule.type = type;
    rule.major = major;
    if (minor >= 0) rule.minor = minor;
    rule.access = "rwm";
    r.devices->push_back(rule);
  }
  r.memory.emplace().limit = 268435456;
  r.cpu.emplace().shares = 1024;
  r.pids.emplace().limit = 1024;
  l.cgroups_path = "/default/busybox";
  l.namespaces = std::vector<LinuxNamespace>{};
  for (const char* ns : {"pid", "ipc", "uts", "mount", "network"}) {
    l.namespaces->push_back(LinuxNamespace{ns, std::nullopt, {}});
  }
  l.masked_paths =
      Strings{"/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
              "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
              "/sys/firmware",       "/proc/scsi"};
  l.readonly_paths =
      Strings{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
  s.annotations = StringMap{{"io.kubernetes.cri.container-type", "container"},
                            {"io.kubernetes.cri.sandbox-id", std::string(64, 'a')}};
  return s;
}

Spec LargeSpec() {
  Spec s = TypicalSpec();
  for (int i = 0; i < 200; ++i) {
    s.process->env->push_back(absl::StrCat("VARIABLE_", i, "=value-of-variable-", i));
    Mount m;
    m.destination = absl::StrCat("/mnt/volume-", i);
    m.type = "bind";
    m.source = absl::StrCat("/var/lib/kubelet/pods/volumes/volume-", i);
    m.options = Strings{"rbind", "rprivate", "rw"};
    s.mounts->push_back(m);
  }
  s.linux->devices = std::vector<LinuxDevice>{};
  for (int i = 0; i < 1000; ++i) {
    LinuxDevice d;
    d.path = absl::StrCat("/dev/disk", i);
    d.type = "b";
    d.major = 8 + i / 256;
    d.minor = i % 256;
    d.file_mode = 0660;
    d.uid = 0;
    d.gid = 6;
    s.linux->devices->push_back(d);
    LinuxDeviceCgroup rule;
    rule.allow = true;
    rule.type = "b";
    rule.major = d.major;
    rule.minor = d.minor;
    rule.access = "rw";
    s.linux->resources->devices->push_back(rule);
  }
  return s;
}

std::string Document(const char* env, const Spec& fallback) {
  if (const char* path = std::getenv(env)) {
    absl::StatusOr<std::string> text = ReadFileToString(path);
    if (!text.ok()) {
      std::fprintf(stderr, "oci_benchmark: %s: %s\n", env, text.status().ToString().c_str());
      std::exit(2);
    }
    return *std::move(text);
  }
  return SerializeSpec(fallback);
}

const std::string& Typical() {
  static const std::string* doc = new std::string(Document("OCI_BENCH_TYPICAL", TypicalSpec()));
  return *doc;
}
const std::string& Large() {
  static const std::string* doc = new std::string(Document("OCI_BENCH_LARGE", LargeSpec()));
  return *doc;
}

void Parse(benchmark::State& state, const std::string& doc) {
  for (auto _ : state) {
    absl::StatusOr<Spec> spec = ParseSpec(doc);
    if (!spec.ok()) {
      state.SkipWithError(std::string(spec.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(spec);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * doc.size()));
  state.counters["bytes"] = static_cast<double>(doc.size());
}

void Serialize(benchmark::State& state, const std::string& doc) {
  absl::StatusOr<Spec> spec = ParseSpec(doc);
  if (!spec.ok()) {
    state.SkipWithError(std::string(spec.status().message()).c_str());
    return;
  }
  size_t bytes = 0;
  for (auto _ : state) {
    std::string out = SerializeSpec(*spec, {/*pretty=*/false});
    bytes = out.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void BM_ParseTypical(benchmark::State& state) { Parse(state, Typical()); }
void BM_SerializeTypical(benchmark::State& state) { Serialize(state, Typical()); }
void BM_ParseLarge(benchmark::State& state) { Parse(state, Large()); }
void BM_SerializeLarge(benchmark::State& state) { Serialize(state, Large()); }

BENCHMARK(BM_ParseTypical);
BENCHMARK(BM_SerializeTypical);
BENCHMARK(BM_ParseLarge);
BENCHMARK(BM_SerializeLarge);

}  // namespace
}  // namespace oci
}  // namespace kata
