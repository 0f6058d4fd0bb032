// The JSON member names of every struct in spec.h, in the order runtime-spec's Go types
// declare them (so output reads like runc's and containerd's). One table drives the reader,
// the writer and anything else that walks a Spec generically:
//
//   VisitFields(visitor, object)  calls  visitor("jsonName", object.member)  per member.
//
// Plain members are required in JSON; std::optional members may be absent.
// Internal to //src/libs/oci.
#ifndef KATA_SRC_LIBS_OCI_INTERNAL_SPEC_FIELDS_H_
#define KATA_SRC_LIBS_OCI_INTERNAL_SPEC_FIELDS_H_

#include "src/libs/oci/spec.h"

namespace kata {
namespace oci {
namespace internal {

template <class V>
void VisitFields(V& v, Box& o) {
  v("height", o.height);
  v("width", o.width);
}
template <class V>
void VisitFields(V& v, User& o) {
  v("uid", o.uid);
  v("gid", o.gid);
  v("umask", o.umask);
  v("additionalGids", o.additional_gids);
  v("username", o.username);
}
template <class V>
void VisitFields(V& v, LinuxCapabilities& o) {
  v("bounding", o.bounding);
  v("effective", o.effective);
  v("inheritable", o.inheritable);
  v("permitted", o.permitted);
  v("ambient", o.ambient);
}
template <class V>
void VisitFields(V& v, PosixRlimit& o) {
  v("type", o.type);
  v("hard", o.hard);
  v("soft", o.soft);
}
template <class V>
void VisitFields(V& v, Process& o) {
  v("terminal", o.terminal);
  v("consoleSize", o.console_size);
  v("user", o.user);
  v("args", o.args);
  v("commandLine", o.command_line);
  v("env", o.env);
  v("cwd", o.cwd);
  v("capabilities", o.capabilities);
  v("rlimits", o.rlimits);
  v("noNewPrivileges", o.no_new_privileges);
  v("apparmorProfile", o.apparmor_profile);
  v("oomScoreAdj", o.oom_score_adj);
  v("selinuxLabel", o.selinux_label);
}
template <class V>
void VisitFields(V& v, Root& o) {
  v("path", o.path);
  v("readonly", o.readonly);
}
template <class V>
void VisitFields(V& v, LinuxIdMapping& o) {
  v("containerID", o.container_id);
  v("hostID", o.host_id);
  v("size", o.size);
}
template <class V>
void VisitFields(V& v, Mount& o) {
  v("destination", o.destination);
  v("type", o.type);
  v("source", o.source);
  v("options", o.options);
  v("uidMappings", o.uid_mappings);
  v("gidMappings", o.gid_mappings);
}
template <class V>
void VisitFields(V& v, Hook& o) {
  v("path", o.path);
  v("args", o.args);
  v("env", o.env);
  v("timeout", o.timeout);
}
template <class V>
void VisitFields(V& v, Hooks& o) {
  v("prestart", o.prestart);
  v("createRuntime", o.create_runtime);
  v("createContainer", o.create_container);
  v("startContainer", o.start_container);
  v("poststart", o.poststart);
  v("poststop", o.poststop);
}
template <class V>
void VisitFields(V& v, LinuxNamespace& o) {
  v("type", o.type);
  v("path", o.path);
}
template <class V>
void VisitFields(V& v, LinuxDevice& o) {
  v("path", o.path);
  v("type", o.type);
  v("major", o.major);
  v("minor", o.minor);
  v("fileMode", o.file_mode);
  v("uid", o.uid);
  v("gid", o.gid);
}
template <class V>
void VisitFields(V& v, LinuxDeviceCgroup& o) {
  v("allow", o.allow);
  v("type", o.type);
  v("major", o.major);
  v("minor", o.minor);
  v("access", o.access);
}
template <class V>
void VisitFields(V& v, LinuxMemory& o) {
  v("limit", o.limit);
  v("reservation", o.reservation);
  v("swap", o.swap);
  v("kernel", o.kernel);
  v("kernelTCP", o.kernel_tcp);
  v("swappiness", o.swappiness);
  v("disableOOMKiller", o.disable_oom_killer);
  v("useHierarchy", o.use_hierarchy);
  v("checkBeforeUpdate", o.check_before_update);
}
template <class V>
void VisitFields(V& v, LinuxCpu& o) {
  v("shares", o.shares);
  v("quota", o.quota);
  v("burst", o.burst);
  v("period", o.period);
  v("realtimeRuntime", o.realtime_runtime);
  v("realtimePeriod", o.realtime_period);
  v("cpus", o.cpus);
  v("mems", o.mems);
  v("idle", o.idle);
}
template <class V>
void VisitFields(V& v, LinuxPids& o) {
  v("limit", o.limit);
}
template <class V>
void VisitFields(V& v, LinuxWeightDevice& o) {
  v("major", o.major);
  v("minor", o.minor);
  v("weight", o.weight);
  v("leafWeight", o.leaf_weight);
}
template <class V>
void VisitFields(V& v, LinuxThrottleDevice& o) {
  v("major", o.major);
  v("minor", o.minor);
  v("rate", o.rate);
}
template <class V>
void VisitFields(V& v, LinuxBlockIo& o) {
  v("weight", o.weight);
  v("leafWeight", o.leaf_weight);
  v("weightDevice", o.weight_device);
  v("throttleReadBpsDevice", o.throttle_read_bps_device);
  v("throttleWriteBpsDevice", o.throttle_write_bps_device);
  v("throttleReadIOPSDevice", o.throttle_read_iops_device);
  v("throttleWriteIOPSDevice", o.throttle_write_iops_device);
}
template <class V>
void VisitFields(V& v, LinuxHugepageLimit& o) {
  v("pageSize", o.page_size);
  v("limit", o.limit);
}
template <class V>
void VisitFields(V& v, LinuxInterfacePriority& o) {
  v("name", o.name);
  v("priority", o.priority);
}
template <class V>
void VisitFields(V& v, LinuxNetwork& o) {
  v("classID", o.class_id);
  v("priorities", o.priorities);
}
template <class V>
void VisitFields(V& v, LinuxRdma& o) {
  v("hcaHandles", o.hca_handles);
  v("hcaObjects", o.hca_objects);
}
template <class V>
void VisitFields(V& v, LinuxResources& o) {
  v("devices", o.devices);
  v("memory", o.memory);
  v("cpu", o.cpu);
  v("pids", o.pids);
  v("blockIO", o.block_io);
  v("hugepageLimits", o.hugepage_limits);
  v("network", o.network);
  v("rdma", o.rdma);
  v("unified", o.unified);
}
template <class V>
void VisitFields(V& v, LinuxSeccompArg& o) {
  v("index", o.index);
  v("value", o.value);
  v("valueTwo", o.value_two);
  v("op", o.op);
}
template <class V>
void VisitFields(V& v, LinuxSyscall& o) {
  v("names", o.names);
  v("action", o.action);
  v("errnoRet", o.errno_ret);
  v("args", o.args);
}
template <class V>
void VisitFields(V& v, LinuxSeccomp& o) {
  v("defaultAction", o.default_action);
  v("defaultErrnoRet", o.default_errno_ret);
  v("architectures", o.architectures);
  v("flags", o.flags);
  v("listenerPath", o.listener_path);
  v("listenerMetadata", o.listener_metadata);
  v("syscalls", o.syscalls);
}
template <class V>
void VisitFields(V& v, LinuxIntelRdt& o) {
  v("closID", o.clos_id);
  v("l3CacheSchema", o.l3_cache_schema);
  v("memBwSchema", o.mem_bw_schema);
  v("enableCMT", o.enable_cmt);
  v("enableMBM", o.enable_mbm);
}
template <class V>
void VisitFields(V& v, LinuxPersonality& o) {
  v("domain", o.domain);
  v("flags", o.flags);
}
template <class V>
void VisitFields(V& v, LinuxTimeOffset& o) {
  v("secs", o.secs);
  v("nanosecs", o.nanosecs);
}
template <class V>
void VisitFields(V& v, Linux& o) {
  v("uidMappings", o.uid_mappings);
  v("gidMappings", o.gid_mappings);
  v("sysctl", o.sysctl);
  v("resources", o.resources);
  v("cgroupsPath", o.cgroups_path);
  v("namespaces", o.namespaces);
  v("devices", o.devices);
  v("seccomp", o.seccomp);
  v("rootfsPropagation", o.rootfs_propagation);
  v("maskedPaths", o.masked_paths);
  v("readonlyPaths", o.readonly_paths);
  v("mountLabel", o.mount_label);
  v("intelRdt", o.intel_rdt);
  v("personality", o.personality);
  v("timeOffsets", o.time_offsets);
}
template <class V>
void VisitFields(V& v, VmHypervisor& o) {
  v("path", o.path);
  v("parameters", o.parameters);
}
template <class V>
void VisitFields(V& v, VmKernel& o) {
  v("path", o.path);
  v("parameters", o.parameters);
  v("initrd", o.initrd);
}
template <class V>
void VisitFields(V& v, VmImage& o) {
  v("path", o.path);
  v("format", o.format);
}
template <class V>
void VisitFields(V& v, Vm& o) {
  v("hypervisor", o.hypervisor);
  v("kernel", o.kernel);
  v("image", o.image);
}
template <class V>
void VisitFields(V& v, Spec& o) {
  v("ociVersion", o.oci_version);
  v("process", o.process);
  v("root", o.root);
  v("hostname", o.hostname);
  v("domainname", o.domainname);
  v("mounts", o.mounts);
  v("hooks", o.hooks);
  v("annotations", o.annotations);
  v("linux", o.linux);
  v("vm", o.vm);
}

}  // namespace internal
}  // namespace oci
}  // namespace kata

#endif  // KATA_SRC_LIBS_OCI_INTERNAL_SPEC_FIELDS_H_
