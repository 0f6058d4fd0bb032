// The OCI runtime-spec model: the Linux `config.json` of runtime-spec 1.x, plus the `vm`
// section, as plain C++ values.
//
//   absl::StatusOr<oci::Spec> spec = oci::ParseSpec(json_text);   // spec_json.h
//   spec->process->args = {"/bin/sh"};
//   std::string out = oci::SerializeSpec(*spec);
//
// Contract of the model:
// - Presence is kept exactly. A field the document may omit is a std::optional (arrays and
//   maps included): absent stays absent, `[]` stays `[]`, `false` stays `false`. A missing
//   `linux.resources.devices[].major` is std::nullopt: a wildcard, never 0.
// - Fields the schema requires are plain values; a document without them is rejected.
// - Integers keep their declared full range (uint64 limits, int64 -1 for unlimited swap).
// - Members this model does not know (a newer spec's fields, another platform's sections)
//   are kept verbatim in `unknown` of the enclosing object and written back, so a round trip
//   loses nothing.
// - Maps are ordered by key (as Go's encoding/json writes them).
//
// Field names follow the JSON names in snake_case; the JSON name is in each comment where
// it differs in more than case.
#ifndef KATA_SRC_LIBS_OCI_SPEC_H_
#define KATA_SRC_LIBS_OCI_SPEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kata {
namespace oci {

// JSON members the model does not know: (key, the member's value as JSON text), in document
// order. Written back after the known members.
struct UnknownFields {
  std::vector<std::pair<std::string, std::string>> members;
  bool empty() const { return members.empty(); }
};

template <typename T>
using Opt = std::optional<T>;
using Strings = std::vector<std::string>;
using StringMap = std::map<std::string, std::string>;

struct Box {
  uint64_t height = 0;
  uint64_t width = 0;
  UnknownFields unknown;
};

// uid and gid are optional in the model as in the runtime-spec's schema: a Windows config has
// only `username`. Where a Linux runtime uses the spec (spec_proto.h, the agent), an absent
// uid or gid is 0, as in runc (its Go type reads a missing member as the zero value).
struct User {
  Opt<uint32_t> uid;
  Opt<uint32_t> gid;
  Opt<uint32_t> umask;
  Opt<std::vector<uint32_t>> additional_gids;  // additionalGids
  Opt<std::string> username;                   // Windows only; kept for round trips
  UnknownFields unknown;
};

struct LinuxCapabilities {
  Opt<Strings> bounding;
  Opt<Strings> effective;
  Opt<Strings> inheritable;
  Opt<Strings> permitted;
  Opt<Strings> ambient;
  UnknownFields unknown;
};

struct PosixRlimit {
  std::string type;  // "RLIMIT_NOFILE", ...
  uint64_t hard = 0;
  uint64_t soft = 0;
  UnknownFields unknown;
};

struct Process {
  Opt<bool> terminal;
  Opt<Box> console_size;  // consoleSize
  User user;
  Opt<Strings> args;
  Opt<std::string> command_line;  // commandLine (Windows)
  Opt<Strings> env;
  std::string cwd;
  Opt<LinuxCapabilities> capabilities;
  Opt<std::vector<PosixRlimit>> rlimits;
  Opt<bool> no_new_privileges;        // noNewPrivileges
  Opt<std::string> apparmor_profile;  // apparmorProfile
  Opt<int32_t> oom_score_adj;         // oomScoreAdj
  Opt<std::string> selinux_label;     // selinuxLabel
  UnknownFields unknown;
};

struct Root {
  std::string path;
  Opt<bool> readonly;
  UnknownFields unknown;
};

struct LinuxIdMapping {
  uint32_t container_id = 0;  // containerID
  uint32_t host_id = 0;       // hostID
  uint32_t size = 0;
  UnknownFields unknown;
};

struct Mount {
  std::string destination;
  Opt<std::string> type;
  Opt<std::string> source;
  Opt<Strings> options;
  Opt<std::vector<LinuxIdMapping>> uid_mappings;  // uidMappings
  Opt<std::vector<LinuxIdMapping>> gid_mappings;  // gidMappings
  UnknownFields unknown;
};

struct Hook {
  std::string path;
  Opt<Strings> args;
  Opt<Strings> env;
  Opt<int64_t> timeout;  // seconds
  UnknownFields unknown;
};

struct Hooks {
  Opt<std::vector<Hook>> prestart;
  Opt<std::vector<Hook>> create_runtime;    // createRuntime
  Opt<std::vector<Hook>> create_container;  // createContainer
  Opt<std::vector<Hook>> start_container;   // startContainer
  Opt<std::vector<Hook>> poststart;
  Opt<std::vector<Hook>> poststop;
  UnknownFields unknown;
};

struct LinuxNamespace {
  std::string type;  // "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"
  Opt<std::string> path;
  UnknownFields unknown;
};

struct LinuxDevice {
  std::string path;
  std::string type;  // "c", "b", "u" or "p"
  int64_t major = 0;
  int64_t minor = 0;
  Opt<uint32_t> file_mode;  // fileMode
  Opt<uint32_t> uid;
  Opt<uint32_t> gid;
  UnknownFields unknown;
};

// A device cgroup rule. Missing type/major/minor/access are wildcards ("a", *, *, "rwm").
struct LinuxDeviceCgroup {
  bool allow = false;
  Opt<std::string> type;
  Opt<int64_t> major;
  Opt<int64_t> minor;
  Opt<std::string> access;
  UnknownFields unknown;
};

struct LinuxMemory {
  Opt<int64_t> limit;
  Opt<int64_t> reservation;
  Opt<int64_t> swap;
  Opt<int64_t> kernel;
  Opt<int64_t> kernel_tcp;  // kernelTCP
  Opt<uint64_t> swappiness;
  Opt<bool> disable_oom_killer;   // disableOOMKiller
  Opt<bool> use_hierarchy;        // useHierarchy
  Opt<bool> check_before_update;  // checkBeforeUpdate
  UnknownFields unknown;
};

struct LinuxCpu {
  Opt<uint64_t> shares;
  Opt<int64_t> quota;
  Opt<uint64_t> burst;
  Opt<uint64_t> period;
  Opt<int64_t> realtime_runtime;  // realtimeRuntime
  Opt<uint64_t> realtime_period;  // realtimePeriod
  Opt<std::string> cpus;
  Opt<std::string> mems;
  Opt<int64_t> idle;
  UnknownFields unknown;
};

struct LinuxPids {
  int64_t limit = 0;
  UnknownFields unknown;
};

struct LinuxWeightDevice {
  int64_t major = 0;
  int64_t minor = 0;
  Opt<uint16_t> weight;
  Opt<uint16_t> leaf_weight;  // leafWeight
  UnknownFields unknown;
};

struct LinuxThrottleDevice {
  int64_t major = 0;
  int64_t minor = 0;
  uint64_t rate = 0;
  UnknownFields unknown;
};

struct LinuxBlockIo {
  Opt<uint16_t> weight;
  Opt<uint16_t> leaf_weight;                                         // leafWeight
  Opt<std::vector<LinuxWeightDevice>> weight_device;                 // weightDevice
  Opt<std::vector<LinuxThrottleDevice>> throttle_read_bps_device;    // throttleReadBpsDevice
  Opt<std::vector<LinuxThrottleDevice>> throttle_write_bps_device;   // throttleWriteBpsDevice
  Opt<std::vector<LinuxThrottleDevice>> throttle_read_iops_device;   // throttleReadIOPSDevice
  Opt<std::vector<LinuxThrottleDevice>> throttle_write_iops_device;  // throttleWriteIOPSDevice
  UnknownFields unknown;
};

struct LinuxHugepageLimit {
  std::string page_size;  // pageSize
  uint64_t limit = 0;
  UnknownFields unknown;
};

struct LinuxInterfacePriority {
  std::string name;
  uint32_t priority = 0;
  UnknownFields unknown;
};

struct LinuxNetwork {
  Opt<uint32_t> class_id;  // classID
  Opt<std::vector<LinuxInterfacePriority>> priorities;
  UnknownFields unknown;
};

struct LinuxRdma {
  Opt<uint32_t> hca_handles;  // hcaHandles
  Opt<uint32_t> hca_objects;  // hcaObjects
  UnknownFields unknown;
};

struct LinuxResources {
  Opt<std::vector<LinuxDeviceCgroup>> devices;
  Opt<LinuxMemory> memory;
  Opt<LinuxCpu> cpu;
  Opt<LinuxPids> pids;
  Opt<LinuxBlockIo> block_io;                            // blockIO
  Opt<std::vector<LinuxHugepageLimit>> hugepage_limits;  // hugepageLimits
  Opt<LinuxNetwork> network;
  Opt<std::map<std::string, LinuxRdma>> rdma;
  Opt<StringMap> unified;
  UnknownFields unknown;
};

struct LinuxSeccompArg {
  uint32_t index = 0;
  uint64_t value = 0;
  Opt<uint64_t> value_two;  // valueTwo
  std::string op;           // "SCMP_CMP_EQ", ...
  UnknownFields unknown;
};

struct LinuxSyscall {
  Strings names;
  std::string action;       // "SCMP_ACT_ERRNO", ...
  Opt<uint32_t> errno_ret;  // errnoRet
  Opt<std::vector<LinuxSeccompArg>> args;
  UnknownFields unknown;
};

struct LinuxSeccomp {
  std::string default_action;       // defaultAction
  Opt<uint32_t> default_errno_ret;  // defaultErrnoRet
  Opt<Strings> architectures;
  Opt<Strings> flags;
  Opt<std::string> listener_path;      // listenerPath
  Opt<std::string> listener_metadata;  // listenerMetadata
  Opt<std::vector<LinuxSyscall>> syscalls;
  UnknownFields unknown;
};

struct LinuxIntelRdt {
  Opt<std::string> clos_id;          // closID
  Opt<std::string> l3_cache_schema;  // l3CacheSchema
  Opt<std::string> mem_bw_schema;    // memBwSchema
  Opt<bool> enable_cmt;              // enableCMT
  Opt<bool> enable_mbm;              // enableMBM
  UnknownFields unknown;
};

struct LinuxPersonality {
  std::string domain;  // "LINUX" or "LINUX32"
  Opt<Strings> flags;
  UnknownFields unknown;
};

// An offset of a time namespace clock ("boottime", "monotonic").
struct LinuxTimeOffset {
  Opt<int64_t> secs;
  Opt<uint32_t> nanosecs;
  UnknownFields unknown;
};

struct Linux {
  Opt<std::vector<LinuxIdMapping>> uid_mappings;  // uidMappings
  Opt<std::vector<LinuxIdMapping>> gid_mappings;  // gidMappings
  Opt<StringMap> sysctl;
  Opt<LinuxResources> resources;
  Opt<std::string> cgroups_path;  // cgroupsPath
  Opt<std::vector<LinuxNamespace>> namespaces;
  Opt<std::vector<LinuxDevice>> devices;
  Opt<LinuxSeccomp> seccomp;
  Opt<std::string> rootfs_propagation;  // rootfsPropagation
  Opt<Strings> masked_paths;            // maskedPaths
  Opt<Strings> readonly_paths;          // readonlyPaths
  Opt<std::string> mount_label;         // mountLabel
  Opt<LinuxIntelRdt> intel_rdt;         // intelRdt
  Opt<LinuxPersonality> personality;
  Opt<std::map<std::string, LinuxTimeOffset>> time_offsets;  // timeOffsets
  UnknownFields unknown;
};

struct VmHypervisor {
  std::string path;
  Opt<Strings> parameters;
  UnknownFields unknown;
};

struct VmKernel {
  std::string path;
  Opt<Strings> parameters;
  Opt<std::string> initrd;
  UnknownFields unknown;
};

struct VmImage {
  std::string path;
  std::string format;  // "raw", "qcow2", "vdi", "vmdk", "vhd"
  UnknownFields unknown;
};

struct Vm {
  Opt<VmHypervisor> hypervisor;
  VmKernel kernel;
  Opt<VmImage> image;
  UnknownFields unknown;
};

struct Spec {
  std::string oci_version;  // ociVersion
  Opt<Process> process;
  Opt<Root> root;
  Opt<std::string> hostname;
  Opt<std::string> domainname;
  Opt<std::vector<Mount>> mounts;
  Opt<Hooks> hooks;
  Opt<StringMap> annotations;
  Opt<Linux> linux;
  Opt<Vm> vm;
  UnknownFields unknown;  // also holds "solaris", "windows", "zos" verbatim
};

}  // namespace oci
}  // namespace kata

#endif  // KATA_SRC_LIBS_OCI_SPEC_H_
