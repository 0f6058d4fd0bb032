// Proto -> model: SpecFromProto (spec_proto.h). Zero values become absent; narrowing is
// checked. The reverse direction is in spec_proto_to.cc.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/map.h"
#include "google/protobuf/repeated_field.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/oci/spec_proto.h"

namespace kata {
namespace oci {
namespace {

namespace pb = ::grpc;

// `path` arguments are the JSON path of the object being read, for error messages.

std::string Field(const std::string& path, const char* name) {
  return path.empty() ? std::string(name) : absl::StrCat(path, ".", name);
}

std::string Index(const std::string& path, int i) { return absl::StrCat(path, "[", i, "]"); }

absl::Status DoesNotFit(const std::string& field, int64_t value, const char* type) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", value, " does not fit in ", type));
}

absl::Status DoesNotFitUnsigned(const std::string& field, uint64_t value, const char* type) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", value, " does not fit in ", type));
}

template <typename T>
Opt<T> NonZero(T v) {
  return v != T() ? Opt<T>(std::move(v)) : std::nullopt;
}

Opt<std::string> NonEmpty(const std::string& s) {
  return s.empty() ? std::nullopt : Opt<std::string>(s);
}

Opt<Strings> NonEmpty(const google::protobuf::RepeatedPtrField<std::string>& from) {
  if (from.empty()) return std::nullopt;
  return Strings(from.begin(), from.end());
}

Opt<StringMap> NonEmpty(const google::protobuf::Map<std::string, std::string>& from) {
  if (from.empty()) return std::nullopt;
  return StringMap(from.begin(), from.end());
}

// A uint32 on the wire that the model keeps as uint16, absent when 0.
absl::StatusOr<Opt<uint16_t>> NonZeroU16(uint32_t v, const std::string& field) {
  if (v > std::numeric_limits<uint16_t>::max()) return DoesNotFitUnsigned(field, v, "uint16");
  return NonZero(static_cast<uint16_t>(v));
}

// Converts each element of a repeated field with `conv(element, path_of_element)`;
// std::nullopt when the field is empty.
template <typename T, typename P, typename Conv>
absl::StatusOr<Opt<std::vector<T>>> EachFromProto(const google::protobuf::RepeatedPtrField<P>& from,
                                                  const std::string& path, Conv conv) {
  if (from.empty()) return Opt<std::vector<T>>();
  std::vector<T> out;
  out.reserve(from.size());
  for (int i = 0; i < from.size(); ++i) {
    KATA_ASSIGN_OR_RETURN(T item, conv(from.Get(i), Index(path, i)));
    out.push_back(std::move(item));
  }
  return Opt<std::vector<T>>(std::move(out));
}

// The same for conversions that cannot fail.
template <typename T, typename P, typename Conv>
Opt<std::vector<T>> EachFromProtoInfallible(const google::protobuf::RepeatedPtrField<P>& from,
                                            Conv conv) {
  if (from.empty()) return std::nullopt;
  std::vector<T> out;
  out.reserve(from.size());
  for (const P& p : from) out.push_back(conv(p));
  return out;
}

User FromProto(const pb::User& p) {
  User u;
  u.uid = p.uid();
  u.gid = p.gid();
  if (!p.additionalgids().empty()) {
    u.additional_gids.emplace(p.additionalgids().begin(), p.additionalgids().end());
  }
  u.username = NonEmpty(p.username());
  return u;
}

LinuxCapabilities FromProto(const pb::LinuxCapabilities& p) {
  LinuxCapabilities c;
  c.bounding = NonEmpty(p.bounding());
  c.effective = NonEmpty(p.effective());
  c.inheritable = NonEmpty(p.inheritable());
  c.permitted = NonEmpty(p.permitted());
  c.ambient = NonEmpty(p.ambient());
  return c;
}

absl::StatusOr<Process> FromProto(const pb::Process& p, const std::string& path) {
  Process pr;
  pr.terminal = NonZero(p.terminal());
  if (p.has_consolesize()) {
    pr.console_size.emplace();
    pr.console_size->height = p.consolesize().height();
    pr.console_size->width = p.consolesize().width();
  }
  pr.user = FromProto(p.user());
  pr.args = NonEmpty(p.args());
  pr.env = NonEmpty(p.env());
  pr.cwd = p.cwd();
  if (p.has_capabilities()) pr.capabilities = FromProto(p.capabilities());
  pr.rlimits = EachFromProtoInfallible<PosixRlimit>(p.rlimits(), [](const pb::POSIXRlimit& r) {
    PosixRlimit out;
    out.type = r.type();
    out.hard = r.hard();
    out.soft = r.soft();
    return out;
  });
  pr.no_new_privileges = NonZero(p.nonewprivileges());
  pr.apparmor_profile = NonEmpty(p.apparmorprofile());
  const int64_t oom = p.oomscoreadj();
  if (oom < std::numeric_limits<int32_t>::min() || oom > std::numeric_limits<int32_t>::max()) {
    return DoesNotFit(Field(path, "oomScoreAdj"), oom, "int32");
  }
  pr.oom_score_adj = NonZero(static_cast<int32_t>(oom));
  pr.selinux_label = NonEmpty(p.selinuxlabel());
  return pr;
}

Mount FromProto(const pb::Mount& p) {
  Mount m;
  m.destination = p.destination();
  m.type = NonEmpty(p.type());
  m.source = NonEmpty(p.source());
  m.options = NonEmpty(p.options());
  return m;
}

Hook FromProto(const pb::Hook& p) {
  Hook h;
  h.path = p.path();
  h.args = NonEmpty(p.args());
  h.env = NonEmpty(p.env());
  h.timeout = NonZero(p.timeout());
  return h;
}

Hooks FromProto(const pb::Hooks& p) {
  auto hook = [](const pb::Hook& h) { return FromProto(h); };
  Hooks h;
  h.prestart = EachFromProtoInfallible<Hook>(p.prestart(), hook);
  h.create_runtime = EachFromProtoInfallible<Hook>(p.createruntime(), hook);
  h.create_container = EachFromProtoInfallible<Hook>(p.createcontainer(), hook);
  h.start_container = EachFromProtoInfallible<Hook>(p.startcontainer(), hook);
  h.poststart = EachFromProtoInfallible<Hook>(p.poststart(), hook);
  h.poststop = EachFromProtoInfallible<Hook>(p.poststop(), hook);
  return h;
}

LinuxIdMapping FromProto(const pb::LinuxIDMapping& p) {
  LinuxIdMapping m;
  m.container_id = p.containerid();
  m.host_id = p.hostid();
  m.size = p.size();
  return m;
}

LinuxNamespace FromProto(const pb::LinuxNamespace& p) {
  LinuxNamespace n;
  n.type = p.type();
  n.path = NonEmpty(p.path());
  return n;
}

LinuxDevice FromProto(const pb::LinuxDevice& p) {
  LinuxDevice d;
  d.path = p.path();
  d.type = p.type();
  d.major = p.major();
  d.minor = p.minor();
  d.file_mode = NonZero(p.filemode());
  d.uid = NonZero(p.uid());
  d.gid = NonZero(p.gid());
  return d;
}

// Major/minor <= 0 are wildcards, as Kata's agent reads them (see the header).
LinuxDeviceCgroup FromProto(const pb::LinuxDeviceCgroup& p) {
  LinuxDeviceCgroup d;
  d.allow = p.allow();
  d.type = NonEmpty(p.type());
  if (p.major() > 0) d.major = p.major();
  if (p.minor() > 0) d.minor = p.minor();
  d.access = NonEmpty(p.access());
  return d;
}

LinuxMemory FromProto(const pb::LinuxMemory& p) {
  LinuxMemory m;
  m.limit = NonZero(p.limit());
  m.reservation = NonZero(p.reservation());
  m.swap = NonZero(p.swap());
  m.kernel = NonZero(p.kernel());
  m.kernel_tcp = NonZero(p.kerneltcp());
  m.swappiness = NonZero(p.swappiness());
  m.disable_oom_killer = NonZero(p.disableoomkiller());
  return m;
}

LinuxCpu FromProto(const pb::LinuxCPU& p) {
  LinuxCpu c;
  c.shares = NonZero(p.shares());
  c.quota = NonZero(p.quota());
  c.period = NonZero(p.period());
  c.realtime_runtime = NonZero(p.realtimeruntime());
  c.realtime_period = NonZero(p.realtimeperiod());
  c.cpus = NonEmpty(p.cpus());
  c.mems = NonEmpty(p.mems());
  return c;
}

absl::StatusOr<LinuxWeightDevice> FromProto(const pb::LinuxWeightDevice& p,
                                            const std::string& path) {
  LinuxWeightDevice d;
  d.major = p.major();
  d.minor = p.minor();
  KATA_ASSIGN_OR_RETURN(d.weight, NonZeroU16(p.weight(), Field(path, "weight")));
  KATA_ASSIGN_OR_RETURN(d.leaf_weight, NonZeroU16(p.leafweight(), Field(path, "leafWeight")));
  return d;
}

LinuxThrottleDevice FromProto(const pb::LinuxThrottleDevice& p) {
  LinuxThrottleDevice d;
  d.major = p.major();
  d.minor = p.minor();
  d.rate = p.rate();
  return d;
}

absl::StatusOr<LinuxBlockIo> FromProto(const pb::LinuxBlockIO& p, const std::string& path) {
  LinuxBlockIo b;
  KATA_ASSIGN_OR_RETURN(b.weight, NonZeroU16(p.weight(), Field(path, "weight")));
  KATA_ASSIGN_OR_RETURN(b.leaf_weight, NonZeroU16(p.leafweight(), Field(path, "leafWeight")));
  KATA_ASSIGN_OR_RETURN(
      b.weight_device,
      EachFromProto<LinuxWeightDevice>(
          p.weightdevice(), Field(path, "weightDevice"),
          [](const pb::LinuxWeightDevice& d, const std::string& at) { return FromProto(d, at); }));
  auto throttle = [](const pb::LinuxThrottleDevice& d) { return FromProto(d); };
  b.throttle_read_bps_device =
      EachFromProtoInfallible<LinuxThrottleDevice>(p.throttlereadbpsdevice(), throttle);
  b.throttle_write_bps_device =
      EachFromProtoInfallible<LinuxThrottleDevice>(p.throttlewritebpsdevice(), throttle);
  b.throttle_read_iops_device =
      EachFromProtoInfallible<LinuxThrottleDevice>(p.throttlereadiopsdevice(), throttle);
  b.throttle_write_iops_device =
      EachFromProtoInfallible<LinuxThrottleDevice>(p.throttlewriteiopsdevice(), throttle);
  return b;
}

LinuxNetwork FromProto(const pb::LinuxNetwork& p) {
  LinuxNetwork n;
  n.class_id = NonZero(p.classid());
  n.priorities = EachFromProtoInfallible<LinuxInterfacePriority>(
      p.priorities(), [](const pb::LinuxInterfacePriority& i) {
        LinuxInterfacePriority out;
        out.name = i.name();
        out.priority = i.priority();
        return out;
      });
  return n;
}

absl::StatusOr<LinuxResources> FromProto(const pb::LinuxResources& p, const std::string& path) {
  LinuxResources r;
  r.devices = EachFromProtoInfallible<LinuxDeviceCgroup>(
      p.devices(), [](const pb::LinuxDeviceCgroup& d) { return FromProto(d); });
  if (p.has_memory()) r.memory = FromProto(p.memory());
  if (p.has_cpu()) r.cpu = FromProto(p.cpu());
  if (p.has_pids()) {
    r.pids.emplace();
    r.pids->limit = p.pids().limit();
  }
  if (p.has_blockio()) {
    KATA_ASSIGN_OR_RETURN(r.block_io, FromProto(p.blockio(), Field(path, "blockIO")));
  }
  r.hugepage_limits = EachFromProtoInfallible<LinuxHugepageLimit>(
      p.hugepagelimits(), [](const pb::LinuxHugepageLimit& h) {
        LinuxHugepageLimit out;
        out.page_size = h.pagesize();
        out.limit = h.limit();
        return out;
      });
  if (p.has_network()) r.network = FromProto(p.network());
  return r;
}

absl::StatusOr<LinuxSeccompArg> FromProto(const pb::LinuxSeccompArg& p, const std::string& path) {
  if (p.index() > std::numeric_limits<uint32_t>::max()) {
    return DoesNotFitUnsigned(Field(path, "index"), p.index(), "uint32");
  }
  LinuxSeccompArg a;
  a.index = static_cast<uint32_t>(p.index());
  a.value = p.value();
  a.value_two = NonZero(p.valuetwo());
  a.op = p.op();
  return a;
}

absl::StatusOr<LinuxSyscall> FromProto(const pb::LinuxSyscall& p, const std::string& path) {
  LinuxSyscall s;
  s.names.assign(p.names().begin(), p.names().end());
  s.action = p.action();
  if (p.ErrnoRet_case() == pb::LinuxSyscall::kErrnoret) s.errno_ret = p.errnoret();
  KATA_ASSIGN_OR_RETURN(s.args, EachFromProto<LinuxSeccompArg>(
                                    p.args(), Field(path, "args"),
                                    [](const pb::LinuxSeccompArg& a, const std::string& at) {
                                      return FromProto(a, at);
                                    }));
  return s;
}

absl::StatusOr<LinuxSeccomp> FromProto(const pb::LinuxSeccomp& p, const std::string& path) {
  LinuxSeccomp s;
  s.default_action = p.defaultaction();
  s.architectures = NonEmpty(p.architectures());
  s.flags = NonEmpty(p.flags());
  KATA_ASSIGN_OR_RETURN(
      s.syscalls, EachFromProto<LinuxSyscall>(p.syscalls(), Field(path, "syscalls"),
                                              [](const pb::LinuxSyscall& c, const std::string& at) {
                                                return FromProto(c, at);
                                              }));
  return s;
}

absl::StatusOr<Linux> FromProto(const pb::Linux& p, const std::string& path) {
  Linux l;
  auto mapping = [](const pb::LinuxIDMapping& m) { return FromProto(m); };
  l.uid_mappings = EachFromProtoInfallible<LinuxIdMapping>(p.uidmappings(), mapping);
  l.gid_mappings = EachFromProtoInfallible<LinuxIdMapping>(p.gidmappings(), mapping);
  l.sysctl = NonEmpty(p.sysctl());
  if (p.has_resources()) {
    KATA_ASSIGN_OR_RETURN(l.resources, FromProto(p.resources(), Field(path, "resources")));
  }
  l.cgroups_path = NonEmpty(p.cgroupspath());
  l.namespaces = EachFromProtoInfallible<LinuxNamespace>(
      p.namespaces(), [](const pb::LinuxNamespace& n) { return FromProto(n); });
  l.devices = EachFromProtoInfallible<LinuxDevice>(
      p.devices(), [](const pb::LinuxDevice& d) { return FromProto(d); });
  if (p.has_seccomp()) {
    KATA_ASSIGN_OR_RETURN(l.seccomp, FromProto(p.seccomp(), Field(path, "seccomp")));
  }
  l.rootfs_propagation = NonEmpty(p.rootfspropagation());
  l.masked_paths = NonEmpty(p.maskedpaths());
  l.readonly_paths = NonEmpty(p.readonlypaths());
  l.mount_label = NonEmpty(p.mountlabel());
  if (p.has_intelrdt()) {
    l.intel_rdt.emplace();
    l.intel_rdt->l3_cache_schema = NonEmpty(p.intelrdt().l3cacheschema());
  }
  return l;
}

}  // namespace

absl::StatusOr<Spec> SpecFromProto(const ::grpc::Spec& proto) {
  Spec spec;
  spec.oci_version = proto.version();
  if (proto.has_process()) {
    KATA_ASSIGN_OR_RETURN(spec.process, FromProto(proto.process(), "process"));
  }
  if (proto.has_root()) {
    spec.root.emplace();
    spec.root->path = proto.root().path();
    spec.root->readonly = NonZero(proto.root().readonly());
  }
  spec.hostname = NonEmpty(proto.hostname());
  spec.mounts = EachFromProtoInfallible<Mount>(proto.mounts(),
                                               [](const pb::Mount& m) { return FromProto(m); });
  if (proto.has_hooks()) spec.hooks = FromProto(proto.hooks());
  spec.annotations = NonEmpty(proto.annotations());
  if (proto.has_linux()) {
    KATA_ASSIGN_OR_RETURN(spec.linux, FromProto(proto.linux(), "linux"));
  }
  return spec;
}

}  // namespace oci
}  // namespace kata
