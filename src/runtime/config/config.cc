#include "src/runtime/config/config.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "re2/re2.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/runtime/config/kata_keys.h"

namespace kata::config {
namespace {

const char* TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    default:
      return "nothing";
  }
}

std::string Where(const toml::node& node) {
  const toml::source_region& src = node.source();
  if (src.begin.line == 0) return "";
  return absl::StrCat(" (line ", src.begin.line, ", column ", src.begin.column, ")");
}

absl::Status KeyError(absl::string_view key_path, absl::string_view reason,
                      const toml::node* node = nullptr) {
  return absl::InvalidArgumentError(
      absl::StrCat(key_path, ": ", reason, node != nullptr ? Where(*node) : ""));
}

absl::Status WrongType(absl::string_view key_path, absl::string_view want, const toml::node& node) {
  return KeyError(key_path, absl::StrCat("expected ", want, ", got ", TypeName(node.type())),
                  &node);
}

// A value as TOML text, for comparing with KeyInfo::accepted: true, 12, "text", [] (a
// non-empty array or another type gives its type's name in brackets).
std::string TomlText(const toml::node& node) {
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* i = node.as_integer()) return absl::StrCat(i->get());
  if (const auto* s = node.as_string()) return absl::StrCat("\"", s->get(), "\"");
  if (const auto* a = node.as_array(); a != nullptr && a->empty()) return "[]";
  return absl::StrCat("<", TypeName(node.type()), ">");
}

// Warnings with the line they are about.
using Warnings = std::vector<std::pair<uint32_t, std::string>>;

// Reads the keys of one table, remembering which were read so that the rest can be reported
// as unknown. Absent keys leave their output untouched (the default).
class TableReader {
 public:
  TableReader(const toml::table& table, std::string path) : table_(table), path_(std::move(path)) {}

  absl::Status String(const char* key, std::string* out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return absl::OkStatus();
    if (!node->is_string()) return WrongType(Path(key), "a string", *node);
    *out = node->as_string()->get();
    return absl::OkStatus();
  }

  absl::Status Bool(const char* key, bool* out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return absl::OkStatus();
    if (!node->is_boolean()) return WrongType(Path(key), "a boolean", *node);
    *out = node->as_boolean()->get();
    return absl::OkStatus();
  }

  absl::Status Uint32(const char* key, uint32_t* out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return absl::OkStatus();
    if (!node->is_integer()) return WrongType(Path(key), "an integer", *node);
    int64_t v = node->as_integer()->get();
    if (v < 0 || v > std::numeric_limits<uint32_t>::max()) {
      return KeyError(
          Path(key),
          absl::StrCat("must be between 0 and ", std::numeric_limits<uint32_t>::max(), ", got ", v),
          node);
    }
    *out = static_cast<uint32_t>(v);
    return absl::OkStatus();
  }

  absl::Status StringList(const char* key, std::vector<std::string>* out) {
    const toml::node* node = Take(key);
    if (node == nullptr) return absl::OkStatus();
    if (!node->is_array()) return WrongType(Path(key), "an array of strings", *node);
    std::vector<std::string> values;
    size_t i = 0;
    for (const toml::node& elem : *node->as_array()) {
      if (!elem.is_string()) {
        return WrongType(absl::StrCat(Path(key), "[", i, "]"), "a string", elem);
      }
      values.push_back(elem.as_string()->get());
      ++i;
    }
    *out = std::move(values);
    return absl::OkStatus();
  }

  // A sub-table; nullptr when absent. A non-table value is an error.
  absl::StatusOr<const toml::table*> Table(const char* key) {
    const toml::node* node = Take(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) return WrongType(Path(key), "a table", *node);
    return node->as_table();
  }

  // INVALID_ARGUMENT for the first (in file order) key that was not read.
  absl::Status NoUnknownKeys() const {
    for (const Entry& e : InFileOrder()) {
      if (read_.count(e.key) == 0) return Unknown(e);
    }
    return absl::OkStatus();
  }

  // For one of KnownSections(), whose keys kata_keys.h lists: INVALID_ARGUMENT for the first
  // (in file order) key in no list or refused for its value; one warning per key not
  // implemented (appended to `warnings`).
  absl::Status CheckKataKeys(Warnings* warnings) const {
    for (const Entry& e : InFileOrder()) {
      const KeyInfo* info = FindKey(path_, e.key);
      if (info == nullptr) {
        if (read_.count(e.key) != 0) {
          return absl::InternalError(absl::StrCat(Path(e.key), ": read but not in kata_keys"));
        }
        return Unknown(e);
      }
      const std::string note = *info->note == '\0' ? "" : absl::StrCat(" (", info->note, ")");
      switch (info->use) {
        case KeyUse::kSupported:
        case KeyUse::kOwn:
        case KeyUse::kGuard:
          break;
        case KeyUse::kNotActedOn:
        case KeyUse::kIgnored:
          warnings->emplace_back(
              e.line, absl::StrCat(Path(e.key),
                                   info->use == KeyUse::kNotActedOn
                                       ? ": read but not acted on by kata-cpp"
                                       : ": Kata's key, not implemented by kata-cpp: ignored",
                                   note, e.where));
          break;
        case KeyUse::kRefused:
          if (TomlText(*e.node) != info->accepted) {
            return absl::InvalidArgumentError(
                absl::StrCat(Path(e.key), ": ", TomlText(*e.node), " is not supported by kata-cpp",
                             note, "; only ", info->accepted, " is accepted", e.where));
          }
          break;
      }
    }
    return absl::OkStatus();
  }

 private:
  struct Entry {
    std::string key;
    const toml::node* node;
    uint32_t line, column;
    std::string where;  // " (line L, column C)" or ""
  };

  // The table's entries in the order of the file; a key's place is its own, not its value's.
  std::vector<Entry> InFileOrder() const {
    std::vector<Entry> entries;
    for (const auto& [key, node] : table_) {
      toml::source_position pos = key.source().begin;
      if (pos.line == 0) pos = node.source().begin;
      std::string where =
          pos.line == 0 ? "" : absl::StrCat(" (line ", pos.line, ", column ", pos.column, ")");
      entries.push_back({std::string(key.str()), &node, pos.line, pos.column, std::move(where)});
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    return entries;
  }

  absl::Status Unknown(const Entry& e) const {
    const char* what = e.node->is_table() ? "unknown section" : "unknown key";
    if (path_ == "hypervisor" && IsOtherKataHypervisor(e.key)) {
      what = "Kata's hypervisor, not supported by kata-cpp (it runs QEMU: [hypervisor.qemu])";
    }
    return absl::InvalidArgumentError(absl::StrCat(Path(e.key), ": ", what, e.where));
  }

  const toml::node* Take(const char* key) {
    read_.insert(key);
    return table_.get(key);
  }
  std::string Path(absl::string_view key) const {
    return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
  }

  const toml::table& table_;
  std::string path_;
  std::set<std::string> read_;
};

absl::Status ReadQemu(const toml::table& t, QemuConfig* q, Warnings* warnings) {
  TableReader r(t, "hypervisor.qemu");
  KATA_RETURN_IF_ERROR(r.String("path", &q->path));
  KATA_RETURN_IF_ERROR(r.String("kernel", &q->kernel));
  KATA_RETURN_IF_ERROR(r.String("initrd", &q->initrd));
  KATA_RETURN_IF_ERROR(r.String("image", &q->image));
  KATA_RETURN_IF_ERROR(r.String("firmware", &q->firmware));
  KATA_RETURN_IF_ERROR(r.String("machine_type", &q->machine_type));
  KATA_RETURN_IF_ERROR(r.String("accelerator", &q->accelerator));
  KATA_RETURN_IF_ERROR(r.String("machine_accelerators", &q->machine_accelerators));
  KATA_RETURN_IF_ERROR(r.String("cpu_features", &q->cpu_features));
  KATA_RETURN_IF_ERROR(r.String("kernel_params", &q->kernel_params));
  KATA_RETURN_IF_ERROR(r.Uint32("default_vcpus", &q->default_vcpus));
  KATA_RETURN_IF_ERROR(r.Uint32("default_maxvcpus", &q->default_maxvcpus));
  KATA_RETURN_IF_ERROR(r.Uint32("default_memory", &q->default_memory));
  KATA_RETURN_IF_ERROR(r.Uint32("default_maxmemory", &q->default_maxmemory));
  KATA_RETURN_IF_ERROR(r.Uint32("memory_slots", &q->memory_slots));
  KATA_RETURN_IF_ERROR(r.Uint32("default_bridges", &q->default_bridges));
  KATA_RETURN_IF_ERROR(r.Uint32("pcie_root_port", &q->pcie_root_port));
  KATA_RETURN_IF_ERROR(r.String("shared_fs", &q->shared_fs));
  KATA_RETURN_IF_ERROR(r.String("virtio_fs_daemon", &q->virtio_fs_daemon));
  KATA_RETURN_IF_ERROR(
      r.StringList("valid_virtio_fs_daemon_paths", &q->valid_virtio_fs_daemon_paths));
  KATA_RETURN_IF_ERROR(r.StringList("virtio_fs_extra_args", &q->virtio_fs_extra_args));
  KATA_RETURN_IF_ERROR(r.String("virtio_fs_cache", &q->virtio_fs_cache));
  KATA_RETURN_IF_ERROR(r.Uint32("virtio_fs_cache_size", &q->virtio_fs_cache_size));
  KATA_RETURN_IF_ERROR(r.Uint32("msize_9p", &q->msize_9p));
  KATA_RETURN_IF_ERROR(r.Bool("disable_block_device_use", &q->disable_block_device_use));
  KATA_RETURN_IF_ERROR(r.String("block_device_driver", &q->block_device_driver));
  KATA_RETURN_IF_ERROR(r.String("block_device_aio", &q->block_device_aio));
  KATA_RETURN_IF_ERROR(r.Bool("block_device_cache_set", &q->block_device_cache_set));
  KATA_RETURN_IF_ERROR(r.Bool("block_device_cache_direct", &q->block_device_cache_direct));
  KATA_RETURN_IF_ERROR(r.Bool("block_device_cache_noflush", &q->block_device_cache_noflush));
  KATA_RETURN_IF_ERROR(r.Bool("enable_iothreads", &q->enable_iothreads));
  KATA_RETURN_IF_ERROR(r.Bool("enable_mem_prealloc", &q->enable_mem_prealloc));
  KATA_RETURN_IF_ERROR(r.Bool("enable_hugepages", &q->enable_hugepages));
  KATA_RETURN_IF_ERROR(r.Bool("enable_virtio_mem", &q->enable_virtio_mem));
  KATA_RETURN_IF_ERROR(r.Bool("reclaim_guest_freed_memory", &q->reclaim_guest_freed_memory));
  KATA_RETURN_IF_ERROR(r.Bool("enable_iommu", &q->enable_iommu));
  KATA_RETURN_IF_ERROR(r.Bool("disable_image_nvdimm", &q->disable_image_nvdimm));
  KATA_RETURN_IF_ERROR(r.Bool("disable_vhost_net", &q->disable_vhost_net));
  KATA_RETURN_IF_ERROR(r.Bool("disable_nesting_checks", &q->disable_nesting_checks));
  KATA_RETURN_IF_ERROR(r.String("entropy_source", &q->entropy_source));
  KATA_RETURN_IF_ERROR(r.StringList("valid_entropy_sources", &q->valid_entropy_sources));
  KATA_RETURN_IF_ERROR(r.String("guest_hook_path", &q->guest_hook_path));
  KATA_RETURN_IF_ERROR(r.Bool("enable_debug", &q->enable_debug));
  KATA_RETURN_IF_ERROR(r.String("seccompsandbox", &q->seccompsandbox));
  KATA_RETURN_IF_ERROR(r.Uint32("console_log_max_bytes", &q->console_log_max_bytes));
  KATA_RETURN_IF_ERROR(r.Uint32("tcg_tb_size", &q->tcg_tb_size));
  KATA_RETURN_IF_ERROR(r.Bool("disable_selinux", &q->disable_selinux));
  KATA_RETURN_IF_ERROR(r.Bool("disable_guest_selinux", &q->disable_guest_selinux));
  KATA_RETURN_IF_ERROR(r.StringList("enable_annotations", &q->enable_annotations));
  KATA_RETURN_IF_ERROR(r.StringList("valid_hypervisor_paths", &q->valid_hypervisor_paths));
  return r.CheckKataKeys(warnings);
}

absl::Status ReadAgent(const toml::table& t, AgentConfig* a, Warnings* warnings) {
  TableReader r(t, "agent.kata");
  KATA_RETURN_IF_ERROR(r.Bool("enable_debug", &a->enable_debug));
  KATA_RETURN_IF_ERROR(r.Bool("enable_tracing", &a->enable_tracing));
  KATA_RETURN_IF_ERROR(r.Bool("debug_console_enabled", &a->debug_console_enabled));
  KATA_RETURN_IF_ERROR(r.StringList("kernel_modules", &a->kernel_modules));
  KATA_RETURN_IF_ERROR(r.Uint32("dial_timeout", &a->dial_timeout));
  return r.CheckKataKeys(warnings);
}

absl::Status ReadRuntime(const toml::table& t, RuntimeSection* s, Warnings* warnings) {
  TableReader r(t, "runtime");
  KATA_RETURN_IF_ERROR(r.Bool("enable_debug", &s->enable_debug));
  KATA_RETURN_IF_ERROR(r.Bool("enable_tracing", &s->enable_tracing));
  KATA_RETURN_IF_ERROR(r.String("tracing_endpoint", &s->tracing_endpoint));
  KATA_RETURN_IF_ERROR(r.String("tracing_protocol", &s->tracing_protocol));
  KATA_RETURN_IF_ERROR(r.String("jaeger_endpoint", &s->jaeger_endpoint));
  KATA_RETURN_IF_ERROR(r.String("internetworking_model", &s->internetworking_model));
  KATA_RETURN_IF_ERROR(r.Bool("disable_guest_seccomp", &s->disable_guest_seccomp));
  KATA_RETURN_IF_ERROR(r.Bool("disable_new_netns", &s->disable_new_netns));
  KATA_RETURN_IF_ERROR(r.Bool("sandbox_cgroup_only", &s->sandbox_cgroup_only));
  KATA_RETURN_IF_ERROR(r.Bool("static_sandbox_resource_mgmt", &s->static_sandbox_resource_mgmt));
  KATA_RETURN_IF_ERROR(r.Bool("enable_vcpus_pinning", &s->enable_vcpus_pinning));
  KATA_RETURN_IF_ERROR(r.StringList("sandbox_bind_mounts", &s->sandbox_bind_mounts));
  KATA_RETURN_IF_ERROR(r.String("vfio_mode", &s->vfio_mode));
  KATA_RETURN_IF_ERROR(r.Bool("disable_guest_empty_dir", &s->disable_guest_empty_dir));
  KATA_RETURN_IF_ERROR(r.StringList("experimental", &s->experimental));
  KATA_RETURN_IF_ERROR(r.Bool("enable_pprof", &s->enable_pprof));
  KATA_RETURN_IF_ERROR(r.Uint32("create_container_timeout", &s->create_container_timeout));
  return r.CheckKataKeys(warnings);
}

// A section that holds only named sub-tables ([hypervisor.qemu], [agent.kata]).
absl::StatusOr<const toml::table*> OnlySubTable(TableReader& parent, const char* key,
                                                const char* sub) {
  KATA_ASSIGN_OR_RETURN(const toml::table* t, parent.Table(key));
  if (t == nullptr) return nullptr;
  TableReader r(*t, key);
  KATA_ASSIGN_OR_RETURN(const toml::table* s, r.Table(sub));
  KATA_RETURN_IF_ERROR(r.NoUnknownKeys());
  return s;
}

absl::Status ReadAll(const toml::table& root, RuntimeConfig* config) {
  TableReader r(root, "");
  KATA_ASSIGN_OR_RETURN(const toml::table* qemu, OnlySubTable(r, "hypervisor", "qemu"));
  KATA_ASSIGN_OR_RETURN(const toml::table* agent, OnlySubTable(r, "agent", "kata"));
  KATA_ASSIGN_OR_RETURN(const toml::table* runtime, r.Table("runtime"));
  KATA_ASSIGN_OR_RETURN(const toml::table* factory, r.Table("factory"));
  KATA_RETURN_IF_ERROR(r.NoUnknownKeys());
  Warnings w;
  Warnings* warnings = &w;
  if (qemu != nullptr) KATA_RETURN_IF_ERROR(ReadQemu(*qemu, &config->hypervisor, warnings));
  if (agent != nullptr) KATA_RETURN_IF_ERROR(ReadAgent(*agent, &config->agent, warnings));
  if (runtime != nullptr) KATA_RETURN_IF_ERROR(ReadRuntime(*runtime, &config->runtime, warnings));
  if (factory != nullptr)
    KATA_RETURN_IF_ERROR(TableReader(*factory, "factory").CheckKataKeys(warnings));
  std::stable_sort(w.begin(), w.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [line, text] : w) config->warnings.push_back(std::move(text));
  return absl::OkStatus();
}

// ---- Validation -----------------------------------------------------------------------------

absl::Status OneOf(absl::string_view key, const std::string& value,
                   std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (value == a) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(key, ": unknown value \"", value,
                   "\" (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
}

absl::Status Absolute(absl::string_view key, const std::string& value, bool may_be_empty) {
  if (value.empty()) {
    if (may_be_empty) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(key, ": must be set"));
  }
  if (value[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": must be an absolute path, got \"", value, "\""));
  }
  return absl::OkStatus();
}

absl::Status Range(absl::string_view key, uint32_t value, uint32_t min, uint32_t max) {
  if (value < min) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": must be at least ", min, ", got ", value));
  }
  if (value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": must be at most ", max, ", got ", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateQemu(const QemuConfig& q) {
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  KATA_RETURN_IF_ERROR(Absolute("hypervisor.qemu.path", q.path, false));
  KATA_RETURN_IF_ERROR(Absolute("hypervisor.qemu.kernel", q.kernel, false));
  KATA_RETURN_IF_ERROR(Absolute("hypervisor.qemu.initrd", q.initrd, true));
  KATA_RETURN_IF_ERROR(Absolute("hypervisor.qemu.image", q.image, true));
  KATA_RETURN_IF_ERROR(Absolute("hypervisor.qemu.firmware", q.firmware, true));
  if (q.image.empty() == q.initrd.empty()) {
    return absl::InvalidArgumentError(
        q.image.empty() ? "hypervisor.qemu.initrd: one of image and initrd must be set"
                        : "hypervisor.qemu.initrd: image and initrd are mutually exclusive");
  }
  KATA_RETURN_IF_ERROR(OneOf("hypervisor.qemu.machine_type", q.machine_type,
                             {"q35", "pc", "virt", "pseries", "s390-ccw-virtio"}));
  KATA_RETURN_IF_ERROR(OneOf("hypervisor.qemu.accelerator", q.accelerator, {"kvm", "tcg"}));
  KATA_RETURN_IF_ERROR(Range("hypervisor.qemu.default_vcpus", q.default_vcpus, 1,
                             q.default_maxvcpus == 0 ? kMax : q.default_maxvcpus));
  KATA_RETURN_IF_ERROR(Range("hypervisor.qemu.default_memory", q.default_memory, 1,
                             q.default_maxmemory == 0 ? kMax : q.default_maxmemory));
  KATA_RETURN_IF_ERROR(Range("hypervisor.qemu.default_bridges", q.default_bridges, 0, 5));
  KATA_RETURN_IF_ERROR(Range("hypervisor.qemu.pcie_root_port", q.pcie_root_port, 0, 8));
  KATA_RETURN_IF_ERROR(
      OneOf("hypervisor.qemu.shared_fs", q.shared_fs, {"virtio-fs", "virtio-9p", "none"}));
  if (q.shared_fs == "virtio-fs") {
    KATA_RETURN_IF_ERROR(Absolute("hypervisor.qemu.virtio_fs_daemon", q.virtio_fs_daemon, false));
  }
  KATA_RETURN_IF_ERROR(OneOf("hypervisor.qemu.virtio_fs_cache", q.virtio_fs_cache,
                             {"never", "metadata", "auto", "always"}));
  KATA_RETURN_IF_ERROR(Range("hypervisor.qemu.msize_9p", q.msize_9p, 4096, 1048576));
  KATA_RETURN_IF_ERROR(
      OneOf("hypervisor.qemu.block_device_driver", q.block_device_driver,
            {"virtio-scsi", "virtio-blk", "virtio-mmio", "virtio-blk-ccw", "nvdimm"}));
  KATA_RETURN_IF_ERROR(OneOf("hypervisor.qemu.block_device_aio", q.block_device_aio,
                             {"io_uring", "native", "threads"}));
  // "": no virtio-rng device.
  KATA_RETURN_IF_ERROR(Absolute("hypervisor.qemu.entropy_source", q.entropy_source, true));
  KATA_RETURN_IF_ERROR(Absolute("hypervisor.qemu.guest_hook_path", q.guest_hook_path, true));
  KATA_RETURN_IF_ERROR(
      Range("hypervisor.qemu.console_log_max_bytes", q.console_log_max_bytes, 4096, 1u << 30));
  KATA_RETURN_IF_ERROR(Range("hypervisor.qemu.tcg_tb_size", q.tcg_tb_size, 0, 4096));
  const std::string sandbox_switch = q.seccompsandbox.substr(0, q.seccompsandbox.find(','));
  if (!q.seccompsandbox.empty() &&
      (q.seccompsandbox.find_first_not_of("abcdefghijklmnopqrstuvwxyz=,") != std::string::npos ||
       (sandbox_switch != "on" && sandbox_switch != "off"))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hypervisor.qemu.seccompsandbox: must be \"on\" or \"off\" followed by ,option=value "
        "pairs of [a-z], got \"",
        q.seccompsandbox, "\""));
  }
  for (size_t i = 0; i < q.enable_annotations.size(); ++i) {
    RE2 re(q.enable_annotations[i], RE2::Quiet);
    if (!re.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("hypervisor.qemu.enable_annotations[", i,
                                                     "]: bad regular expression \"",
                                                     q.enable_annotations[i], "\": ", re.error()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRuntime(const RuntimeSection& s) {
  // Kata also knows "macvtap"; kata-cpp wires pods with tc filters only, so a configuration
  // asking for it fails here, when it is loaded, not at the first sandbox.
  if (s.internetworking_model == "macvtap") {
    return absl::InvalidArgumentError(
        "runtime.internetworking_model: \"macvtap\" is not supported by kata-cpp (supported: "
        "\"tcfilter\", \"none\")");
  }
  KATA_RETURN_IF_ERROR(
      OneOf("runtime.internetworking_model", s.internetworking_model, {"tcfilter", "none"}));
  if (s.disable_new_netns && s.internetworking_model != "none") {
    return absl::InvalidArgumentError(
        "runtime.disable_new_netns: requires internetworking_model = \"none\"");
  }
  KATA_RETURN_IF_ERROR(OneOf("runtime.vfio_mode", s.vfio_mode, {"guest-kernel", "vfio"}));
  KATA_RETURN_IF_ERROR(
      OneOf("runtime.tracing_protocol", s.tracing_protocol, {"http/protobuf", "http/json"}));
  // The exporter (src/libs/trace/exporter.h) checks the rest when the shim starts.
  if (!(absl::StartsWith(s.tracing_endpoint, "file:///") ||
        (absl::StartsWith(s.tracing_endpoint, "http://") && s.tracing_endpoint.size() > 7))) {
    return absl::InvalidArgumentError(
        absl::StrCat("runtime.tracing_endpoint: \"", absl::CHexEscape(s.tracing_endpoint),
                     "\" is not file:///ABS/PATH or http://HOST[:PORT][/PATH]"));
  }
  for (size_t i = 0; i < s.sandbox_bind_mounts.size(); ++i) {
    KATA_RETURN_IF_ERROR(Absolute(absl::StrCat("runtime.sandbox_bind_mounts[", i, "]"),
                                  s.sandbox_bind_mounts[i], false));
  }
  KATA_RETURN_IF_ERROR(Range("runtime.create_container_timeout", s.create_container_timeout, 1,
                             std::numeric_limits<uint32_t>::max()));
  return absl::OkStatus();
}

// " (line L, column C)" for the key path at the start of `message` ("a.b.c: ..."), if the
// document has it.
std::string PositionOfKeyIn(const toml::table& root, const std::string& message) {
  std::string key = message.substr(0, message.find(": "));
  key = key.substr(0, key.find('['));
  toml::node_view<const toml::node> node = root.at_path(key);
  if (!node) return "";
  return Where(*node.node());
}

// Values Validate accepts that kata-cpp cannot act on: a warning each, at the key's place in
// the file when it is there.
void AddValueWarnings(const toml::table& root, RuntimeConfig* c) {
  auto warn = [&](const char* key, absl::string_view what) {
    toml::node_view<const toml::node> node = root.at_path(key);
    c->warnings.push_back(absl::StrCat(key, ": ", what, node ? Where(*node.node()) : ""));
  };
  const QemuConfig& q = c->hypervisor;
  if (!q.image.empty()) {
    warn("hypervisor.qemu.image",
         "rootfs images are not implemented by kata-cpp: no sandbox starts (set initrd)");
  }
  if (q.shared_fs != "virtio-9p" && q.shared_fs != "virtio-fs") {
    warn("hypervisor.qemu.shared_fs",
         absl::StrCat("\"", q.shared_fs,
                      "\" is not implemented by kata-cpp: no sandbox starts (use \"virtio-fs\" "
                      "or \"virtio-9p\")"));
  }
  if (q.shared_fs == "virtio-fs" && q.virtio_fs_cache == "metadata") {
    warn("hypervisor.qemu.virtio_fs_cache",
         "\"metadata\" is not implemented by kata-cpp: no sandbox starts");
  }
  if (q.shared_fs == "virtio-fs" && q.virtio_fs_cache_size > 0) {
    warn("hypervisor.qemu.virtio_fs_cache_size",
         "DAX is not implemented by kata-cpp: no sandbox starts (set 0)");
  }
  if (!c->runtime.sandbox_cgroup_only) {
    warn("runtime.sandbox_cgroup_only",
         "false is not implemented by kata-cpp and acts as true (QEMU and the shim in the pod's "
         "cgroup)");
  }
}

}  // namespace

absl::Status Validate(const RuntimeConfig& config) {
  KATA_RETURN_IF_ERROR(ValidateQemu(config.hypervisor));
  KATA_RETURN_IF_ERROR(Range("agent.kata.dial_timeout", config.agent.dial_timeout, 1,
                             std::numeric_limits<uint32_t>::max()));
  return ValidateRuntime(config.runtime);
}

absl::StatusOr<RuntimeConfig> Parse(absl::string_view toml_text, absl::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(std::string_view(toml_text.data(), toml_text.size()),
                       std::string_view(source_name.data(), source_name.size()));
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", e.source().begin.line, ":",
                                                   e.source().begin.column, ": ",
                                                   std::string(e.description())));
  }
  RuntimeConfig config;
  KATA_RETURN_IF_ERROR(ReadAll(root, &config));
  if (absl::Status s = Validate(config); !s.ok()) {
    std::string message(s.message());
    return absl::InvalidArgumentError(absl::StrCat(message, PositionOfKeyIn(root, message)));
  }
  AddValueWarnings(root, &config);
  return config;
}

absl::StatusOr<RuntimeConfig> Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return AnnotateStatus(text.status(), "configuration");
  absl::StatusOr<RuntimeConfig> config = Parse(*text, path);
  if (!config.ok() && !absl::StartsWith(config.status().message(), path)) {
    return AnnotateStatus(config.status(), path);
  }
  return config;
}

}  // namespace kata::config
