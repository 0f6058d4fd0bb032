#include "src/runtime/config/annotations.h"

#include <fnmatch.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "re2/re2.h"
#include "src/libs/base/status_macros.h"

namespace kata::config {
namespace {

using Setter = std::function<absl::Status(const std::string& value, QemuConfig* q)>;

absl::Status BadValue(absl::string_view want, const std::string& value) {
  return absl::InvalidArgumentError(absl::StrCat("expected ", want, ", got \"", value, "\""));
}

Setter String(std::string QemuConfig::*member) {
  return [member](const std::string& value, QemuConfig* q) {
    q->*member = value;
    return absl::OkStatus();
  };
}

Setter Uint32(uint32_t QemuConfig::*member) {
  return [member](const std::string& value, QemuConfig* q) {
    uint64_t v = 0;
    bool digits = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || !absl::SimpleAtoi(value, &v) || v > std::numeric_limits<uint32_t>::max()) {
      return BadValue("an unsigned 32-bit integer", value);
    }
    q->*member = static_cast<uint32_t>(v);
    return absl::OkStatus();
  };
}

Setter Bool(bool QemuConfig::*member) {
  return [member](const std::string& value, QemuConfig* q) {
    for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
      if (value == t) {
        q->*member = true;
        return absl::OkStatus();
      }
    }
    for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
      if (value == f) {
        q->*member = false;
        return absl::OkStatus();
      }
    }
    return BadValue("a boolean", value);
  };
}

// A path that must match one of the globs in `guard`.
Setter GuardedPath(std::string QemuConfig::*member, std::vector<std::string> QemuConfig::*guard,
                   const char* guard_name) {
  return [member, guard, guard_name](const std::string& value, QemuConfig* q) {
    for (const std::string& glob : q->*guard) {
      if (::fnmatch(glob.c_str(), value.c_str(), FNM_PATHNAME) == 0) {
        q->*member = value;
        return absl::OkStatus();
      }
    }
    return absl::PermissionDeniedError(
        absl::StrCat("\"", value, "\" matches no pattern of ", "hypervisor.qemu.", guard_name));
  };
}

std::string ParamName(absl::string_view param) {
  return std::string(param.substr(0, param.find('=')));
}

absl::Status MergeKernelParams(const std::string& value, QemuConfig* q) {
  std::vector<std::string> params =
      absl::StrSplit(q->kernel_params, absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
  for (absl::string_view add : absl::StrSplit(value, absl::ByAnyChar(" \t\n"), absl::SkipEmpty())) {
    std::string name = ParamName(add);
    if (name.empty()) return BadValue("kernel parameters name[=value] ...", value);
    bool replaced = false;
    for (std::string& p : params) {
      if (ParamName(p) == name) {
        p = std::string(add);
        replaced = true;
      }
    }
    if (!replaced) params.emplace_back(add);
  }
  q->kernel_params = absl::StrJoin(params, " ");
  return absl::OkStatus();
}

const std::map<std::string, Setter>& Setters() {
  static const auto* setters = new std::map<std::string, Setter>{
      {"path", GuardedPath(&QemuConfig::path, &QemuConfig::valid_hypervisor_paths,
                           "valid_hypervisor_paths")},
      {"kernel", String(&QemuConfig::kernel)},
      {"initrd", String(&QemuConfig::initrd)},
      {"image", String(&QemuConfig::image)},
      {"firmware", String(&QemuConfig::firmware)},
      {"machine_type", String(&QemuConfig::machine_type)},
      {"machine_accelerators", String(&QemuConfig::machine_accelerators)},
      {"cpu_features", String(&QemuConfig::cpu_features)},
      {"kernel_params", MergeKernelParams},
      {"default_vcpus", Uint32(&QemuConfig::default_vcpus)},
      {"default_max_vcpus", Uint32(&QemuConfig::default_maxvcpus)},
      {"default_memory", Uint32(&QemuConfig::default_memory)},
      {"memory_slots", Uint32(&QemuConfig::memory_slots)},
      {"shared_fs", String(&QemuConfig::shared_fs)},
      {"virtio_fs_daemon",
       GuardedPath(&QemuConfig::virtio_fs_daemon, &QemuConfig::valid_virtio_fs_daemon_paths,
                   "valid_virtio_fs_daemon_paths")},
      {"virtio_fs_cache", String(&QemuConfig::virtio_fs_cache)},
      {"virtio_fs_cache_size", Uint32(&QemuConfig::virtio_fs_cache_size)},
      {"msize_9p", Uint32(&QemuConfig::msize_9p)},
      {"disable_block_device_use", Bool(&QemuConfig::disable_block_device_use)},
      {"block_device_driver", String(&QemuConfig::block_device_driver)},
      {"block_device_aio", String(&QemuConfig::block_device_aio)},
      {"block_device_cache_set", Bool(&QemuConfig::block_device_cache_set)},
      {"block_device_cache_direct", Bool(&QemuConfig::block_device_cache_direct)},
      {"block_device_cache_noflush", Bool(&QemuConfig::block_device_cache_noflush)},
      {"enable_iothreads", Bool(&QemuConfig::enable_iothreads)},
      {"enable_mem_prealloc", Bool(&QemuConfig::enable_mem_prealloc)},
      {"enable_hugepages", Bool(&QemuConfig::enable_hugepages)},
      {"enable_virtio_mem", Bool(&QemuConfig::enable_virtio_mem)},
      {"enable_iommu", Bool(&QemuConfig::enable_iommu)},
      {"disable_image_nvdimm", Bool(&QemuConfig::disable_image_nvdimm)},
      {"disable_vhost_net", Bool(&QemuConfig::disable_vhost_net)},
      {"entropy_source", GuardedPath(&QemuConfig::entropy_source,
                                     &QemuConfig::valid_entropy_sources, "valid_entropy_sources")},
      {"guest_hook_path", String(&QemuConfig::guest_hook_path)},
  };
  return *setters;
}

bool Enabled(const std::vector<std::string>& patterns, const std::string& key) {
  for (const std::string& pattern : patterns) {
    RE2 re(pattern, RE2::Quiet);
    if (re.ok() && RE2::FullMatch(key, re)) return true;
  }
  return false;
}

}  // namespace

const std::vector<std::string>& AnnotationKeys() {
  static const auto* keys = [] {
    auto* v = new std::vector<std::string>;
    for (const auto& [key, setter] : Setters()) v->push_back(key);
    return v;
  }();
  return *keys;
}

absl::Status ApplyAnnotations(const std::map<std::string, std::string>& annotations,
                              RuntimeConfig* config) {
  std::vector<std::pair<std::string, const std::pair<const std::string, std::string>*>> ours;
  for (const auto& entry : annotations) {
    if (!absl::StartsWith(entry.first, kHypervisorAnnotationPrefix)) continue;
    std::string key = entry.first.substr(sizeof(kHypervisorAnnotationPrefix) - 1);
    if (!Enabled(config->hypervisor.enable_annotations, key)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "annotation ", entry.first, " is not enabled (hypervisor.qemu.enable_annotations)"));
    }
    ours.emplace_back(std::move(key), &entry);
  }
  if (ours.empty()) return absl::OkStatus();

  RuntimeConfig updated = *config;
  for (const auto& [key, entry] : ours) {
    auto it = Setters().find(key);
    if (it == Setters().end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "annotation ", entry->first,
          ": not supported by kata-cpp (supported: ", absl::StrJoin(AnnotationKeys(), ", "), ")"));
    }
    absl::Status s = it->second(entry->second, &updated.hypervisor);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("annotation ", entry->first, ": ", s.message()));
    }
  }
  if (absl::Status s = Validate(updated); !s.ok()) {
    std::vector<std::string> names;
    for (const auto& [key, entry] : ours) {
      names.push_back(absl::StrCat(entry->first, "=\"", entry->second, "\""));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("annotations ", absl::StrJoin(names, ", "), ": ", s.message()));
  }
  *config = std::move(updated);
  return absl::OkStatus();
}

}  // namespace kata::config
