#include "src/runtime/config/kata_keys.h"

#include "absl/algorithm/container.h"

namespace kata::config {
namespace {

constexpr KeyUse S = KeyUse::kSupported;
constexpr KeyUse O = KeyUse::kOwn;
constexpr KeyUse N = KeyUse::kNotActedOn;
constexpr KeyUse I = KeyUse::kIgnored;
constexpr KeyUse R = KeyUse::kRefused;
constexpr KeyUse G = KeyUse::kGuard;

constexpr char kNoHotplug[] = "kata-cpp hot-plugs only block devices, on pcie_root_port ports";
constexpr char kNoBlock[] = "block devices are virtio-blk with QEMU's defaults";
constexpr char kNoRateLimit[] = "kata-cpp sets no I/O rate limit";
constexpr char kOtherVmm[] = "used by another of Kata's hypervisors";
constexpr char kNoCoco[] = "kata-cpp has no confidential guests";

const KeyInfo kQemu[] = {
    {"path", S, "", ""},
    {"kernel", S, "", ""},
    {"initrd", S, "", ""},
    {"image", S, "", "rootfs images are refused when a sandbox starts: use initrd"},
    {"machine_type", S, "", ""},
    {"accelerator", O, "", ""},
    {"kernel_params", S, "", ""},
    {"default_vcpus", S, "", ""},
    {"default_maxvcpus", S, "", "the limit of a pod's sizing"},
    {"default_memory", S, "", ""},
    {"default_maxmemory", S, "", "the limit of a pod's sizing"},
    {"shared_fs", S, "", "virtio-fs or virtio-9p"},
    {"virtio_fs_daemon", S, "", ""},
    {"virtio_fs_extra_args", S, "", ""},
    {"virtio_fs_cache", S, "", "\"metadata\" is refused when a sandbox starts"},
    {"virtio_fs_cache_size", S, "", "DAX: only 0 starts a sandbox"},
    {"seccompsandbox", S, "", "strict by default (Kata: off)"},
    {"console_log_max_bytes", O, "", ""},
    {"tcg_tb_size", O, "", ""},
    {"disable_guest_selinux", S, "", ""},
    {"enable_annotations", S, "", ""},
    {"valid_hypervisor_paths", S, "", ""},
    {"valid_virtio_fs_daemon_paths", S, "", ""},
    {"valid_entropy_sources", S, "", ""},
    {"valid_vhost_user_store_paths", G, "", "no vhost_user_store_path annotation is accepted"},
    {"valid_jailer_paths", G, "", "no jailer_path annotation is accepted"},
    {"valid_file_mem_backends", G, "", "no file_mem_backend annotation is accepted"},
    {"firmware", N, "", "QEMU's default firmware is used"},
    {"machine_accelerators", N, "", ""},
    {"cpu_features", N, "", ""},
    {"memory_slots", N, "", kNoHotplug},
    {"default_bridges", N, "", kNoHotplug},
    {"msize_9p", N, "", "QEMU's default 9p msize is used"},
    {"disable_block_device_use", S, "", "true: no root ports, no block devices"},
    {"block_device_driver", N, "", kNoBlock},
    {"block_device_aio", N, "", kNoBlock},
    {"block_device_cache_set", N, "", kNoBlock},
    {"block_device_cache_direct", N, "", kNoBlock},
    {"block_device_cache_noflush", N, "", kNoBlock},
    {"enable_iothreads", N, "", ""},
    {"enable_mem_prealloc", N, "", ""},
    {"enable_hugepages", N, "", ""},
    {"enable_virtio_mem", N, "", kNoHotplug},
    {"enable_iommu", N, "", ""},
    {"disable_image_nvdimm", N, "", "kata-cpp boots an initrd, never an nvdimm image"},
    {"disable_vhost_net", N, "", ""},
    {"disable_nesting_checks", N, "", ""},
    {"entropy_source", S, "", "\"\": no virtio-rng device"},
    {"guest_hook_path", N, "", "no OCI hooks run in the guest"},
    {"enable_debug", N, "", "use agent.kata.enable_debug"},
    {"disable_selinux", N, "", "kata-cpp applies no SELinux label to QEMU"},
    {"jailer_path", I, "", kOtherVmm},
    {"rootfs_type", I, "", "kata-cpp boots an initrd"},
    {"firmware_volume", I, "", ""},
    {"kernel_verity_params", R, "\"\"", "kata-cpp cannot verify a rootfs image with dm-verity"},
    {"tdx_quote_generation_service_socket_port", I, "", kNoCoco},
    {"vhost_user_store_path", I, "", ""},
    {"guest_memory_dump_path", I, "", ""},
    {"guest_memory_dump_paging", I, "", ""},
    {"remote_hypervisor_socket", I, "", kOtherVmm},
    {"remote_hypervisor_timeout", I, "", kOtherVmm},
    {"snp_id_block", I, "", kNoCoco},
    {"snp_id_auth", I, "", kNoCoco},
    {"snp_guest_policy", I, "", kNoCoco},
    {"measurement_algo", I, "", kNoCoco},
    {"pflashes", I, "", ""},
    {"rx_rate_limiter_max_rate", I, "", kNoRateLimit},
    {"tx_rate_limiter_max_rate", I, "", kNoRateLimit},
    {"disk_rate_limiter_bw_max_rate", I, "", kNoRateLimit},
    {"disk_rate_limiter_bw_one_time_burst", I, "", kNoRateLimit},
    {"disk_rate_limiter_ops_max_rate", I, "", kNoRateLimit},
    {"disk_rate_limiter_ops_one_time_burst", I, "", kNoRateLimit},
    {"net_rate_limiter_bw_max_rate", I, "", kNoRateLimit},
    {"net_rate_limiter_bw_one_time_burst", I, "", kNoRateLimit},
    {"net_rate_limiter_ops_max_rate", I, "", kNoRateLimit},
    {"net_rate_limiter_ops_one_time_burst", I, "", kNoRateLimit},
    {"memory_offset", I, "", ""},
    {"hypervisor_loglevel", I, "", kOtherVmm},
    {"virtio_fs_queue_size", I, "", ""},
    {"block_device_logical_sector_size", I, "", kNoBlock},
    {"block_device_physical_sector_size", I, "", kNoBlock},
    {"enable_vhost_user_store", I, "", ""},
    {"vhost_user_reconnect_timeout_sec", I, "", ""},
    {"reclaim_guest_freed_memory", S, "", "virtio-balloon with free page reporting"},
    {"enable_iommu_platform", I, "", ""},
    {"enable_numa", I, "", ""},
    {"numa_mapping", I, "", ""},
    {"indep_iothreads", I, "", ""},
    {"hot_plug_vfio", I, "", "kata-cpp passes no VFIO device"},
    {"cold_plug_vfio", I, "", "kata-cpp passes no VFIO device"},
    {"pcie_root_port", S, "", "root ports for hot-plugged block devices (q35, 0..8)"},
    {"pcie_switch_port", I, "", ""},
    {"confidential_guest", R, "false", kNoCoco},
    {"sev_snp_guest", R, "false", kNoCoco},
    {"enable_guest_swap", I, "", ""},
    {"rootless", R, "false", "QEMU runs as root"},
    {"disable_seccomp", I, "", "see seccompsandbox"},
    {"use_legacy_serial", I, "", ""},
    {"extra_monitor_socket", I, "", "no extra monitor socket is opened"},
    {"guest_extension_images", I, "", ""},
};

const KeyInfo kAgent[] = {
    {"enable_debug", S, "", "the agent logs at debug level"},
    {"dial_timeout", S, "", ""},
    {"enable_tracing", S, "", "the agent's spans join the shim's trace (docs/tracing.md)"},
    {"debug_console_enabled", S, "", "a root shell in the guest for `kata-runtime exec`"},
    {"kernel_modules", N, "", "no module is loaded in the guest"},
    {"cdh_api_timeout", I, "", kNoCoco},
    {"launch_process_timeout", I, "", ""},
    {"visible_cdi_devices", I, "", ""},
};

const KeyInfo kRuntime[] = {
    {"internetworking_model", S, "", "tcfilter or none"},
    {"disable_guest_seccomp", S, "", ""},
    {"disable_new_netns", S, "", ""},
    {"sandbox_cgroup_only", S, "", "false acts as true: QEMU and the shim are in the pod's cgroup"},
    {"static_sandbox_resource_mgmt", S, "", ""},
    {"create_container_timeout", S, "", ""},
    {"enable_debug", N, "", ""},
    {"enable_tracing", S, "", "OTLP spans of the start path (docs/tracing.md)"},
    {"tracing_endpoint", O, "", "where the spans go: file:///PATH or http://HOST:PORT[/PATH]"},
    {"tracing_protocol", O, "", "http/protobuf or http/json"},
    {"jaeger_endpoint", N, "", "kata-cpp exports OTLP, not Jaeger Thrift: see tracing_endpoint"},
    {"enable_vcpus_pinning", N, "", ""},
    {"sandbox_bind_mounts", N, "", "nothing is bind-mounted into the sandbox"},
    {"vfio_mode", N, "", "kata-cpp passes no VFIO device"},
    {"disable_guest_empty_dir", N, "", ""},
    {"experimental", N, "", ""},
    {"enable_pprof", N, "", ""},
    {"jaeger_user", I, "", ""},
    {"jaeger_password", I, "", ""},
    {"guest_selinux_label", R, "\"\"", "kata-cpp applies no SELinux label in the guest"},
    {"emptydir_mode", R, "\"shared-fs\"", "emptyDir volumes are on the shared file system"},
    {"dan_conf", I, "", ""},
    {"experimental_force_guest_pull", R, "false", "images are pulled on the host"},
    {"pod_resource_api_sock", I, "", ""},
    {"kubelet_root_dir", I, "", ""},
};

const KeyInfo kFactory[] = {
    {"enable_template", I, "", "every VM boots on its own"},
    {"template_path", I, "", ""},
    {"vm_cache_number", I, "", "no VM cache"},
    {"vm_cache_endpoint", I, "", "no VM cache"},
};

}  // namespace

const std::vector<absl::string_view>& KnownSections() {
  static const auto* const kSections =
      new std::vector<absl::string_view>{"hypervisor.qemu", "agent.kata", "runtime", "factory"};
  return *kSections;
}

absl::Span<const KeyInfo> SectionKeys(absl::string_view section) {
  if (section == "hypervisor.qemu") return kQemu;
  if (section == "agent.kata") return kAgent;
  if (section == "runtime") return kRuntime;
  if (section == "factory") return kFactory;
  return {};
}

const KeyInfo* FindKey(absl::string_view section, absl::string_view key) {
  for (const KeyInfo& k : SectionKeys(section)) {
    if (key == k.name) return &k;
  }
  return nullptr;
}

bool IsOtherKataHypervisor(absl::string_view name) {
  static const char* const kOthers[] = {"clh",        "firecracker", "dragonball",
                                        "stratovirt", "remote",      "acrn"};
  return absl::c_any_of(kOthers, [name](const char* o) { return name == o; });
}

}  // namespace kata::config
