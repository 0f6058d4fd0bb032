// The runtime's configuration: Kata Containers' `configuration.toml` as plain C++ values.
//
//   KATA_ASSIGN_OR_RETURN(RuntimeConfig config, Load("/etc/kata-containers/configuration.toml"));
//   if (config.hypervisor.accelerator == "tcg") ...
//
// The file has Kata's layout and key names, for the QEMU hypervisor and the Kata agent only:
//
//   [hypervisor.qemu]   the VM: QEMU binary, guest kernel/initrd/image, machine, sizes,
//                       shared file system, block devices, which annotations may override what
//   [agent.kata]        the guest agent: debug, tracing, kernel modules, dial timeout
//   [runtime]           the host runtime: debug, networking model, cgroups, netns, ...
//   [factory]           Kata's VM templates and cache: known, not implemented (warnings)
//
// Every key is optional; an absent key takes the default written next to its member below (the
// defaults are Kata's, except `seccompsandbox`, strict here and off in Kata, and kata-cpp's own
// keys, which Kata does not have). Kata's own configuration file loads: kata_keys.h lists every
// key of Kata's and kata-cpp's, and what kata-cpp does with it (docs/configuration.md too).
//   - a key of Kata's that kata-cpp does not act on is one warning (RuntimeConfig::warnings,
//     "<key path>: ... (line L, column C)"), and is otherwise ignored; so is a value kata-cpp
//     cannot run with (a rootfs image, virtio-fs with DAX);
//   - a key of Kata's that would change security if ignored (rootless, confidential_guest, ...)
//     loads only with the value that describes what kata-cpp does; any other is an error;
//   - a key in neither list (a typo), a section kata-cpp does not know, a value of the wrong
//     type or out of range is an INVALID_ARGUMENT error whose message starts with the key's
//     path and ends with its place in the file, e.g.
//
//   hypervisor.qemu.defualt_memory: unknown key (line 12, column 1)
//   hypervisor.qemu.default_vcpus: must be at least 1, got 0 (line 9, column 17)
//   hypervisor.qemu.rootless: true is not supported by kata-cpp (QEMU runs as root); only
//       false is accepted (line 20, column 1)
//
// A TOML syntax error is INVALID_ARGUMENT "<path>:<line>:<column>: <tomlplusplus' reason>".
// Existence of the files named (kernel, QEMU, ...) is not checked here: that is the business of
// whoever starts the VM.
//
// kata-cpp's own key (not in Kata):
//   hypervisor.qemu.accelerator = "kvm" | "tcg"   QEMU's `-accel`; "tcg" (pure emulation) runs
//                                                 where /dev/kvm is absent. Default "kvm".
//   hypervisor.qemu.console_log_max_bytes = N    the guest's serial console is kept in the VM
//                                                 directory as console.log, rotated into
//                                                 console.log.1: each holds at most N bytes
//                                                 (4096..1 GiB). Default 1 MiB.
#ifndef KATA_SRC_RUNTIME_CONFIG_CONFIG_H_
#define KATA_SRC_RUNTIME_CONFIG_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kata::config {

// Where the guest kernel and initrd that kata-cpp builds are installed (Kata's layout).
inline constexpr char kDefaultKernelPath[] = "/usr/share/kata-containers/vmlinux.container";
inline constexpr char kDefaultInitrdPath[] =
    "/usr/share/kata-containers/kata-containers-initrd.img";
inline constexpr char kDefaultQemuPath[] = "/usr/bin/qemu-system-x86_64";
// QEMU's seccomp filter, denying obsolete system calls, set*id, fork/exec and scheduler changes.
inline constexpr char kDefaultSeccompSandbox[] =
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

// [hypervisor.qemu]
struct QemuConfig {
  // Binaries and guest assets (absolute paths). Exactly one of `image` and `initrd` must be set.
  std::string path = kDefaultQemuPath;      // the QEMU binary
  std::string kernel = kDefaultKernelPath;  // guest kernel
  std::string initrd;                       // guest initrd ("" = none)
  std::string image;                        // guest rootfs image ("" = none)
  std::string firmware;                     // "" = QEMU's default

  // Machine.
  std::string machine_type = "q35";  // q35, pc, virt, pseries, s390-ccw-virtio
  std::string accelerator = "kvm";   // kata-cpp's key: kvm or tcg
  std::string machine_accelerators;  // extra `-machine` options, comma separated
  std::string cpu_features;          // extra `-cpu` features, comma separated
  std::string kernel_params;         // appended to the guest kernel command line

  // Sizes.
  uint32_t default_vcpus = 1;      // vCPUs at boot, >= 1, <= default_maxvcpus (if set)
  uint32_t default_maxvcpus = 0;   // hotplug limit; 0 = the host's CPU count
  uint32_t default_memory = 2048;  // MiB at boot, >= 1
  uint32_t default_maxmemory = 0;  // MiB a pod's VM may grow to (sizing); 0 = the host's memory
  uint32_t memory_slots = 10;      // memory hotplug slots
  uint32_t default_bridges = 1;    // PCI bridges, 0..5
  // PCIe root ports for hot-plugged devices, 0..8 (q35 only). kata-cpp hot-plugs each block
  // device a container is given (linux.devices of type b, block-device bind mounts) as
  // virtio-blk-pci behind a root port of its own, so this is how many such devices a pod may
  // hold at once; 0 (Kata's default): none.
  uint32_t pcie_root_port = 0;

  // Shared file system (the container rootfs and volumes).
  std::string shared_fs = "virtio-fs";                      // virtio-fs, virtio-9p or none
  std::string virtio_fs_daemon = "/usr/libexec/virtiofsd";  // absolute when shared_fs = virtio-fs
  std::vector<std::string> valid_virtio_fs_daemon_paths;    // globs; annotation guard
  std::vector<std::string> virtio_fs_extra_args;
  std::string virtio_fs_cache = "auto";  // never, metadata, auto, always
  uint32_t virtio_fs_cache_size = 0;     // DAX window, MiB; 0 = no DAX
  uint32_t msize_9p = 8192;              // 4096..1048576

  // Block devices.
  bool disable_block_device_use = false;
  std::string block_device_driver = "virtio-scsi";  // virtio-scsi, virtio-blk, virtio-mmio,
                                                    // virtio-blk-ccw, nvdimm
  std::string block_device_aio = "io_uring";        // io_uring, native, threads
  bool block_device_cache_set = false;
  bool block_device_cache_direct = false;
  bool block_device_cache_noflush = false;
  bool enable_iothreads = false;

  // Memory and devices.
  bool enable_mem_prealloc = false;
  bool enable_hugepages = false;
  bool enable_virtio_mem = false;
  // virtio-balloon with free page reporting: memory the guest frees goes back to the host.
  bool reclaim_guest_freed_memory = false;
  bool enable_iommu = false;
  bool disable_image_nvdimm = false;
  bool disable_vhost_net = false;
  bool disable_nesting_checks = false;
  std::string entropy_source = "/dev/urandom";     // absolute
  std::vector<std::string> valid_entropy_sources;  // globs; annotation guard
  std::string guest_hook_path;

  // Debug and security.
  bool enable_debug = false;
  // QEMU's `-sandbox` value ("on" or "off", then options [a-z=,]), used where the QEMU binary
  // accepts it (probed at VM creation); "" = no seccomp sandbox.
  std::string seccompsandbox = kDefaultSeccompSandbox;
  uint32_t console_log_max_bytes = 1 << 20;  // kata-cpp's key: 4096..1073741824
  // kata-cpp's key: TCG's translation cache in MiB (QEMU's tb-size), 0..4096; 0 = QEMU's
  // default (1 GiB, mostly RSS once a guest has run a while). Not used with kvm.
  uint32_t tcg_tb_size = 32;
  bool disable_selinux = false;
  bool disable_guest_selinux = true;

  // Which `io.katacontainers.config.hypervisor.<key>` annotations a pod may use: RE2 patterns,
  // each matched against the whole <key> (see annotations.h). Empty = none. Each must compile.
  std::vector<std::string> enable_annotations;
  // Globs that a `path` annotation must match. Kata's default is the configured `path`.
  std::vector<std::string> valid_hypervisor_paths;
};

// [agent.kata]
struct AgentConfig {
  bool enable_debug = false;
  bool enable_tracing = false;
  bool debug_console_enabled = false;
  std::vector<std::string> kernel_modules;  // "name param=value ..." each, loaded in the guest
  uint32_t dial_timeout = 45;               // seconds to wait for the agent, >= 1
};

// [runtime]
struct RuntimeSection {
  bool enable_debug = false;
  // Spans of the start path, exported as OTLP (src/libs/trace, docs/tracing.md) to
  // tracing_endpoint (kata-cpp's key): "file:///ABS/PATH" (OTLP/JSON, one request a line) or
  // "http://HOST[:PORT][/PATH]" (OTLP/HTTP, POST; path /v1/traces when none) in
  // tracing_protocol "http/protobuf" (the default) or "http/json". Both are checked at load.
  bool enable_tracing = false;
  std::string tracing_endpoint = "http://127.0.0.1:4318/v1/traces";
  std::string tracing_protocol = "http/protobuf";
  std::string jaeger_endpoint;
  // How the VM joins the pod's network namespace: "tcfilter" (a tap per veth, tc mirred both
  // ways, src/runtime/network/tcfilter) or "none" (the VM gets no NIC). Kata's "macvtap" is
  // rejected (INVALID_ARGUMENT at load), as is any other value.
  std::string internetworking_model = "tcfilter";
  bool disable_guest_seccomp = true;
  // Kata's meaning: the shim and QEMU stay in the host's netns and nothing is wired for the
  // pod. Only valid with internetworking_model = "none" (INVALID_ARGUMENT otherwise); the VM
  // then gets no NIC.
  bool disable_new_netns = false;
  // QEMU and the shim in the sandbox's host cgroup (sandbox/host_cgroup.h). Always so: false
  // (Kata's overhead cgroup for QEMU's non-vCPU threads) is not implemented and acts as true.
  bool sandbox_cgroup_only = true;
  // The VM is sized at boot for the pod (defaults + what the pod asks: sandbox/pod.h). kata-cpp
  // hotplugs no CPU or memory, so this is on by default.
  bool static_sandbox_resource_mgmt = true;
  bool enable_vcpus_pinning = false;
  std::vector<std::string> sandbox_bind_mounts;  // absolute host paths
  std::string vfio_mode = "guest-kernel";        // guest-kernel or vfio
  bool disable_guest_empty_dir = false;
  std::vector<std::string> experimental;
  bool enable_pprof = false;
  uint32_t create_container_timeout = 60;  // seconds, >= 1
};

// The whole file.
struct RuntimeConfig {
  QemuConfig hypervisor;   // [hypervisor.qemu]
  AgentConfig agent;       // [agent.kata]
  RuntimeSection runtime;  // [runtime]
  // Set by Parse/Load: one line per key of the file that kata-cpp does not act on, and per
  // value it cannot run with: the keys in file order, then the values ("<key path>: <why>
  // (line L, column C)").
  std::vector<std::string> warnings;
};

// Reads and checks the file at `path`. NOT_FOUND (or another errno status) when it cannot be
// read; INVALID_ARGUMENT, prefixed with `path`, for everything described at the top.
absl::StatusOr<RuntimeConfig> Load(const std::string& path);

// The same for TOML text; `source_name` names it in syntax errors.
absl::StatusOr<RuntimeConfig> Parse(absl::string_view toml_text,
                                    absl::string_view source_name = "configuration.toml");

// The checks that do not depend on the file's form (ranges, enumerations, absolute paths,
// relations between keys). INVALID_ARGUMENT "<key path>: <reason>" for the first failure.
// Load, Parse and ApplyAnnotations run it; call it after changing a config by hand.
absl::Status Validate(const RuntimeConfig& config);

}  // namespace kata::config

#endif  // KATA_SRC_RUNTIME_CONFIG_CONFIG_H_
