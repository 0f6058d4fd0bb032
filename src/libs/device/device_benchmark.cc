// Cost of the batch device update: N devices in linux.devices, N matching cgroup rules and
// N updates. UpdateSpecDevices must grow linearly (the fitted complexity is printed as the
// "_BigO" row). The spec is built once per size; each iteration works on a fresh copy.
//
//   bazel run -c opt //src/libs/device:device_benchmark
//
// BM_UpdateSpecDevices    the update alone (the copy is made with the timer paused)
// BM_CopySpec             the copy alone
// BM_CopyAndUpdate        both, timed together (minus BM_CopySpec: the update without the
//                         PauseTiming overhead, which dominates at N = 10)
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "src/libs/device/spec_update.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace device {
namespace {

oci::Spec MakeSpec(int n) {
  oci::Spec spec;
  spec.oci_version = "1.1.0";
  oci::Linux& linux_section = spec.linux.emplace();
  std::vector<oci::LinuxDevice>& devices = linux_section.devices.emplace();
  std::vector<oci::LinuxDeviceCgroup>& rules = linux_section.resources.emplace().devices.emplace();
  oci::LinuxDeviceCgroup deny_all;  // as runtimes write it: deny everything first
  deny_all.access = "rwm";
  rules.push_back(deny_all);
  for (int i = 0; i < n; ++i) {
    oci::LinuxDevice d;
    d.path = absl::StrCat("/dev/disk", i);
    d.type = i % 2 == 0 ? "b" : "c";
    d.major = 8 + i / 256;
    d.minor = i % 256;
    d.file_mode = 0660;
    oci::LinuxDeviceCgroup r;
    r.allow = true;
    r.type = d.type;
    r.major = d.major;
    r.minor = d.minor;
    r.access = "rwm";
    devices.push_back(std::move(d));
    rules.push_back(std::move(r));
  }
  return spec;
}

// Guest numbers overlap the host numbers of other devices (shifted by 16), the hard case.
SpecUpdates MakeUpdates(int n) {
  SpecUpdates updates;
  updates.reserve(n);
  for (int i = 0; i < n; ++i) {
    const int g = i + 16;
    DevUpdate u{{i % 2 == 0 ? 'b' : 'c', 8 + g / 256, g % 256}, std::nullopt};
    if (i % 4 == 0) u.final_path = absl::StrCat("/dev/vd", i);
    if (!AddUpdate(updates, absl::StrCat("/dev/disk", i), std::move(u)).ok()) abort();
  }
  return updates;
}

void BM_UpdateSpecDevices(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const oci::Spec base = MakeSpec(n);
  const SpecUpdates updates = MakeUpdates(n);
  oci::Spec spec;
  for (auto _ : state) {
    state.PauseTiming();
    spec = base;
    state.ResumeTiming();
    absl::Status status = UpdateSpecDevices(spec, updates);
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    benchmark::DoNotOptimize(spec);
  }
  state.SetComplexityN(n);
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_CopySpec(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const oci::Spec base = MakeSpec(n);
  for (auto _ : state) {
    oci::Spec spec = base;
    benchmark::DoNotOptimize(spec);
  }
  state.SetComplexityN(n);
}

void BM_CopyAndUpdate(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const oci::Spec base = MakeSpec(n);
  const SpecUpdates updates = MakeUpdates(n);
  for (auto _ : state) {
    oci::Spec spec = base;
    absl::Status status = UpdateSpecDevices(spec, updates);
    if (!status.ok()) state.SkipWithError(std::string(status.message()).c_str());
    benchmark::DoNotOptimize(spec);
  }
  state.SetComplexityN(n);
}

BENCHMARK(BM_UpdateSpecDevices)->Arg(10)->Arg(1000)->Arg(10000)->Complexity(benchmark::oN);
BENCHMARK(BM_CopySpec)->Arg(10)->Arg(1000)->Arg(10000)->Complexity(benchmark::oN);
BENCHMARK(BM_CopyAndUpdate)->Arg(10)->Arg(1000)->Arg(10000)->Complexity(benchmark::oN);

}  // namespace
}  // namespace device
}  // namespace kata
