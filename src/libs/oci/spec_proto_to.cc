// Model -> proto: SpecToProto (spec_proto.h). Absent optionals go out as zero values; nothing
// fails. The reverse direction is in spec_proto_from.cc.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "google/protobuf/map.h"
#include "google/protobuf/repeated_field.h"
#include "src/libs/oci/spec_proto.h"

namespace kata {
namespace oci {
namespace {

namespace pb = ::grpc;

template <typename T>
T ValueOr(const Opt<T>& v, T zero = T()) {
  return v.has_value() ? *v : zero;
}

void AddStrings(const Opt<Strings>& from, google::protobuf::RepeatedPtrField<std::string>* to) {
  if (!from) return;
  for (const std::string& s : *from) to->Add()->assign(s);
}

void PutMap(const Opt<StringMap>& from, google::protobuf::Map<std::string, std::string>* to) {
  if (!from) return;
  for (const auto& [key, value] : *from) (*to)[key] = value;
}

// Calls `fill(item, to->Add())` for each item of an optional list.
template <typename T, typename P, typename Fill>
void AddEach(const Opt<std::vector<T>>& from, google::protobuf::RepeatedPtrField<P>* to,
             Fill fill) {
  if (!from) return;
  for (const T& item : *from) fill(item, to->Add());
}

uint32_t SaturateU32(uint64_t v) {
  return v > std::numeric_limits<uint32_t>::max() ? std::numeric_limits<uint32_t>::max()
                                                  : static_cast<uint32_t>(v);
}

void ToProto(const User& u, pb::User* p) {
  p->set_uid(u.uid.value_or(0));  // absent: root, as runc reads it
  p->set_gid(u.gid.value_or(0));
  if (u.additional_gids) {
    for (uint32_t g : *u.additional_gids) p->add_additionalgids(g);
  }
  p->set_username(ValueOr(u.username));
}

void ToProto(const LinuxCapabilities& c, pb::LinuxCapabilities* p) {
  AddStrings(c.bounding, p->mutable_bounding());
  AddStrings(c.effective, p->mutable_effective());
  AddStrings(c.inheritable, p->mutable_inheritable());
  AddStrings(c.permitted, p->mutable_permitted());
  AddStrings(c.ambient, p->mutable_ambient());
}

void ToProto(const PosixRlimit& r, pb::POSIXRlimit* p) {
  p->set_type(r.type);
  p->set_hard(r.hard);
  p->set_soft(r.soft);
}

void ToProto(const Process& pr, pb::Process* p) {
  p->set_terminal(ValueOr(pr.terminal));
  if (pr.console_size) {
    p->mutable_consolesize()->set_height(SaturateU32(pr.console_size->height));
    p->mutable_consolesize()->set_width(SaturateU32(pr.console_size->width));
  }
  ToProto(pr.user, p->mutable_user());
  AddStrings(pr.args, p->mutable_args());
  AddStrings(pr.env, p->mutable_env());
  p->set_cwd(pr.cwd);
  if (pr.capabilities) ToProto(*pr.capabilities, p->mutable_capabilities());
  AddEach(pr.rlimits, p->mutable_rlimits(),
          [](const PosixRlimit& r, pb::POSIXRlimit* q) { ToProto(r, q); });
  p->set_nonewprivileges(ValueOr(pr.no_new_privileges));
  p->set_apparmorprofile(ValueOr(pr.apparmor_profile));
  p->set_oomscoreadj(ValueOr(pr.oom_score_adj));
  p->set_selinuxlabel(ValueOr(pr.selinux_label));
}

void ToProto(const Mount& m, pb::Mount* p) {
  p->set_destination(m.destination);
  p->set_source(ValueOr(m.source));
  p->set_type(ValueOr(m.type));
  AddStrings(m.options, p->mutable_options());
}

void ToProto(const Hook& h, pb::Hook* p) {
  p->set_path(h.path);
  AddStrings(h.args, p->mutable_args());
  AddStrings(h.env, p->mutable_env());
  p->set_timeout(ValueOr(h.timeout));
}

void ToProto(const Hooks& h, pb::Hooks* p) {
  auto hook = [](const Hook& from, pb::Hook* to) { ToProto(from, to); };
  AddEach(h.prestart, p->mutable_prestart(), hook);
  AddEach(h.poststart, p->mutable_poststart(), hook);
  AddEach(h.poststop, p->mutable_poststop(), hook);
  AddEach(h.create_runtime, p->mutable_createruntime(), hook);
  AddEach(h.create_container, p->mutable_createcontainer(), hook);
  AddEach(h.start_container, p->mutable_startcontainer(), hook);
}

void ToProto(const LinuxIdMapping& m, pb::LinuxIDMapping* p) {
  p->set_hostid(m.host_id);
  p->set_containerid(m.container_id);
  p->set_size(m.size);
}

void ToProto(const LinuxNamespace& n, pb::LinuxNamespace* p) {
  p->set_type(n.type);
  p->set_path(ValueOr(n.path));
}

void ToProto(const LinuxDevice& d, pb::LinuxDevice* p) {
  p->set_path(d.path);
  p->set_type(d.type);
  p->set_major(d.major);
  p->set_minor(d.minor);
  p->set_filemode(ValueOr(d.file_mode));
  p->set_uid(ValueOr(d.uid));
  p->set_gid(ValueOr(d.gid));
}

// Wildcards (missing major/minor/type/access) go out as 0 / "" (see the header).
void ToProto(const LinuxDeviceCgroup& d, pb::LinuxDeviceCgroup* p) {
  p->set_allow(d.allow);
  p->set_type(ValueOr(d.type));
  p->set_major(ValueOr(d.major));
  p->set_minor(ValueOr(d.minor));
  p->set_access(ValueOr(d.access));
}

void ToProto(const LinuxMemory& m, pb::LinuxMemory* p) {
  p->set_limit(ValueOr(m.limit));
  p->set_reservation(ValueOr(m.reservation));
  p->set_swap(ValueOr(m.swap));
  p->set_kernel(ValueOr(m.kernel));
  p->set_kerneltcp(ValueOr(m.kernel_tcp));
  p->set_swappiness(ValueOr(m.swappiness));
  p->set_disableoomkiller(ValueOr(m.disable_oom_killer));
}

void ToProto(const LinuxCpu& c, pb::LinuxCPU* p) {
  p->set_shares(ValueOr(c.shares));
  p->set_quota(ValueOr(c.quota));
  p->set_period(ValueOr(c.period));
  p->set_realtimeruntime(ValueOr(c.realtime_runtime));
  p->set_realtimeperiod(ValueOr(c.realtime_period));
  p->set_cpus(ValueOr(c.cpus));
  p->set_mems(ValueOr(c.mems));
}

void ToProto(const LinuxWeightDevice& d, pb::LinuxWeightDevice* p) {
  p->set_major(d.major);
  p->set_minor(d.minor);
  p->set_weight(ValueOr(d.weight));
  p->set_leafweight(ValueOr(d.leaf_weight));
}

void ToProto(const LinuxThrottleDevice& d, pb::LinuxThrottleDevice* p) {
  p->set_major(d.major);
  p->set_minor(d.minor);
  p->set_rate(d.rate);
}

void ToProto(const LinuxBlockIo& b, pb::LinuxBlockIO* p) {
  p->set_weight(ValueOr(b.weight));
  p->set_leafweight(ValueOr(b.leaf_weight));
  AddEach(b.weight_device, p->mutable_weightdevice(),
          [](const LinuxWeightDevice& d, pb::LinuxWeightDevice* q) { ToProto(d, q); });
  auto throttle = [](const LinuxThrottleDevice& d, pb::LinuxThrottleDevice* q) { ToProto(d, q); };
  AddEach(b.throttle_read_bps_device, p->mutable_throttlereadbpsdevice(), throttle);
  AddEach(b.throttle_write_bps_device, p->mutable_throttlewritebpsdevice(), throttle);
  AddEach(b.throttle_read_iops_device, p->mutable_throttlereadiopsdevice(), throttle);
  AddEach(b.throttle_write_iops_device, p->mutable_throttlewriteiopsdevice(), throttle);
}

void ToProto(const LinuxNetwork& n, pb::LinuxNetwork* p) {
  p->set_classid(ValueOr(n.class_id));
  AddEach(n.priorities, p->mutable_priorities(),
          [](const LinuxInterfacePriority& i, pb::LinuxInterfacePriority* q) {
            q->set_name(i.name);
            q->set_priority(i.priority);
          });
}

void ToProto(const LinuxResources& r, pb::LinuxResources* p) {
  AddEach(r.devices, p->mutable_devices(),
          [](const LinuxDeviceCgroup& d, pb::LinuxDeviceCgroup* q) { ToProto(d, q); });
  if (r.memory) ToProto(*r.memory, p->mutable_memory());
  if (r.cpu) ToProto(*r.cpu, p->mutable_cpu());
  if (r.pids) p->mutable_pids()->set_limit(r.pids->limit);
  if (r.block_io) ToProto(*r.block_io, p->mutable_blockio());
  AddEach(r.hugepage_limits, p->mutable_hugepagelimits(),
          [](const LinuxHugepageLimit& h, pb::LinuxHugepageLimit* q) {
            q->set_pagesize(h.page_size);
            q->set_limit(h.limit);
          });
  if (r.network) ToProto(*r.network, p->mutable_network());
}

void ToProto(const LinuxSyscall& s, pb::LinuxSyscall* p) {
  for (const std::string& name : s.names) p->add_names(name);
  p->set_action(s.action);
  if (s.errno_ret) p->set_errnoret(*s.errno_ret);  // the oneof keeps presence
  AddEach(s.args, p->mutable_args(), [](const LinuxSeccompArg& a, pb::LinuxSeccompArg* q) {
    q->set_index(a.index);
    q->set_value(a.value);
    q->set_valuetwo(ValueOr(a.value_two));
    q->set_op(a.op);
  });
}

void ToProto(const LinuxSeccomp& s, pb::LinuxSeccomp* p) {
  p->set_defaultaction(s.default_action);
  AddStrings(s.architectures, p->mutable_architectures());
  AddStrings(s.flags, p->mutable_flags());
  AddEach(s.syscalls, p->mutable_syscalls(),
          [](const LinuxSyscall& c, pb::LinuxSyscall* q) { ToProto(c, q); });
}

void ToProto(const Linux& l, pb::Linux* p) {
  auto mapping = [](const LinuxIdMapping& m, pb::LinuxIDMapping* q) { ToProto(m, q); };
  AddEach(l.uid_mappings, p->mutable_uidmappings(), mapping);
  AddEach(l.gid_mappings, p->mutable_gidmappings(), mapping);
  PutMap(l.sysctl, p->mutable_sysctl());
  if (l.resources) ToProto(*l.resources, p->mutable_resources());
  p->set_cgroupspath(ValueOr(l.cgroups_path));
  AddEach(l.namespaces, p->mutable_namespaces(),
          [](const LinuxNamespace& n, pb::LinuxNamespace* q) { ToProto(n, q); });
  AddEach(l.devices, p->mutable_devices(),
          [](const LinuxDevice& d, pb::LinuxDevice* q) { ToProto(d, q); });
  if (l.seccomp) ToProto(*l.seccomp, p->mutable_seccomp());
  p->set_rootfspropagation(ValueOr(l.rootfs_propagation));
  AddStrings(l.masked_paths, p->mutable_maskedpaths());
  AddStrings(l.readonly_paths, p->mutable_readonlypaths());
  p->set_mountlabel(ValueOr(l.mount_label));
  if (l.intel_rdt) p->mutable_intelrdt()->set_l3cacheschema(ValueOr(l.intel_rdt->l3_cache_schema));
}

}  // namespace

::grpc::Spec SpecToProto(const Spec& spec) {
  pb::Spec p;
  p.set_version(spec.oci_version);
  if (spec.process) ToProto(*spec.process, p.mutable_process());
  if (spec.root) {
    p.mutable_root()->set_path(spec.root->path);
    p.mutable_root()->set_readonly(ValueOr(spec.root->readonly));
  }
  p.set_hostname(ValueOr(spec.hostname));
  AddEach(spec.mounts, p.mutable_mounts(), [](const Mount& m, pb::Mount* q) { ToProto(m, q); });
  if (spec.hooks) ToProto(*spec.hooks, p.mutable_hooks());
  PutMap(spec.annotations, p.mutable_annotations());
  if (spec.linux) ToProto(*spec.linux, p.mutable_linux());
  return p;
}

}  // namespace oci
}  // namespace kata
