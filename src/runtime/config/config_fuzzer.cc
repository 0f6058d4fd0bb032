// libFuzzer target for what a pod's owner and the host's admin control: the configuration TOML
// (config::Parse) and the pod annotations that override it (ApplyAnnotations).
//
// Input: TOML text, optionally followed by a NUL byte and annotation lines `key=value`
// (newline separated; a key not starting with "io." gets kHypervisorAnnotationPrefix).
// The annotations are applied twice: to the parsed configuration (when it parses) and to a
// permissive one that enables every annotation and path, so they are fuzzed even when the TOML
// is garbage. Contracts checked (a broken one aborts):
//   - a configuration Parse returns passes Validate, and each of its warnings starts with the
//     path of a key kata_keys.h lists;
//   - ApplyAnnotations is all or nothing: on error the configuration is unchanged; on success
//     the result passes Validate.
// Built by `tools/fuzz/run.sh config`; :config_fuzzer_regression replays the corpus
// (testdata/fuzz/config) under `bazel test`.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "src/runtime/config/annotations.h"
#include "src/runtime/config/config.h"
#include "src/runtime/config/kata_keys.h"

namespace {

using kata::config::QemuConfig;
using kata::config::RuntimeConfig;

void Fail(const std::string& what) {
  std::fprintf(stderr, "config_fuzzer: %s\n", what.c_str());
  std::abort();
}

// Every [hypervisor.qemu] value an annotation can change, as one comparable string.
std::string Fingerprint(const QemuConfig& q) {
  const std::vector<std::string> strings = {q.path,
                                            q.kernel,
                                            q.initrd,
                                            q.image,
                                            q.firmware,
                                            q.machine_type,
                                            q.accelerator,
                                            q.machine_accelerators,
                                            q.cpu_features,
                                            q.kernel_params,
                                            q.shared_fs,
                                            q.virtio_fs_daemon,
                                            q.virtio_fs_cache,
                                            q.block_device_driver,
                                            q.block_device_aio,
                                            q.entropy_source,
                                            q.guest_hook_path};
  const std::vector<uint64_t> numbers = {q.default_vcpus,
                                         q.default_maxvcpus,
                                         q.default_memory,
                                         q.memory_slots,
                                         q.default_bridges,
                                         q.pcie_root_port,
                                         q.virtio_fs_cache_size,
                                         q.msize_9p,
                                         q.disable_block_device_use,
                                         q.block_device_cache_set,
                                         q.block_device_cache_direct,
                                         q.block_device_cache_noflush,
                                         q.enable_iothreads,
                                         q.enable_mem_prealloc,
                                         q.enable_hugepages,
                                         q.enable_virtio_mem,
                                         q.enable_iommu,
                                         q.disable_image_nvdimm,
                                         q.disable_vhost_net};
  return absl::StrCat(absl::StrJoin(strings, "\x1f"), "\x1e", absl::StrJoin(numbers, ","));
}

// A valid configuration that lets every annotation through to its value checks.
RuntimeConfig Permissive() {
  RuntimeConfig c;
  c.hypervisor.initrd = "/opt/kata/initrd.img";
  c.hypervisor.kernel_params = "console=ttyS0 quiet";
  c.hypervisor.enable_annotations = {".*"};
  c.hypervisor.valid_hypervisor_paths = {"/*", "/*/*", "/*/*/*", "/*/*/*/*"};
  c.hypervisor.valid_virtio_fs_daemon_paths = c.hypervisor.valid_hypervisor_paths;
  c.hypervisor.valid_entropy_sources = c.hypervisor.valid_hypervisor_paths;
  if (absl::Status s = kata::config::Validate(c); !s.ok()) Fail(s.ToString());
  return c;
}

void CheckApply(const std::map<std::string, std::string>& annotations, RuntimeConfig config) {
  const std::string before = Fingerprint(config.hypervisor);
  const absl::Status s = kata::config::ApplyAnnotations(annotations, &config);
  if (!s.ok()) {
    if (Fingerprint(config.hypervisor) != before) {
      Fail(absl::StrCat("ApplyAnnotations failed (", s.ToString(), ") but changed the config"));
    }
    return;
  }
  if (absl::Status v = kata::config::Validate(config); !v.ok()) {
    Fail(absl::StrCat("ApplyAnnotations accepted a config Validate refuses: ", v.ToString()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const RuntimeConfig* const permissive = new RuntimeConfig(Permissive());
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const absl::string_view toml = in.substr(0, nul);

  std::map<std::string, std::string> annotations;
  if (nul != absl::string_view::npos) {
    for (absl::string_view line : absl::StrSplit(in.substr(nul + 1), '\n')) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      if (!absl::StartsWith(kv.first, "io.")) {
        kv.first = absl::StrCat(kata::config::kHypervisorAnnotationPrefix, kv.first);
      }
      annotations[kv.first] = kv.second;
    }
  }

  absl::StatusOr<RuntimeConfig> config = kata::config::Parse(toml, "fuzz.toml");
  if (config.ok()) {
    if (absl::Status v = kata::config::Validate(*config); !v.ok()) {
      Fail(absl::StrCat("Parse accepted a config Validate refuses: ", v.ToString()));
    }
    for (const std::string& w : config->warnings) {
      const std::string path = w.substr(0, w.find(": "));
      const size_t dot = path.rfind('.');
      if (dot == std::string::npos ||
          kata::config::FindKey(path.substr(0, dot), path.substr(dot + 1)) == nullptr) {
        Fail(absl::StrCat("a warning about no listed key: ", w));
      }
    }
    if (!annotations.empty()) CheckApply(annotations, *config);
  }
  if (!annotations.empty()) CheckApply(annotations, *permissive);
  return 0;
}
