// DumpSpec (spec_proto_testing.h): one Put/Obj/List call per mapped model field.
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "src/libs/oci/internal/spec_proto_testing.h"

namespace kata {
namespace oci {
namespace internal {
namespace {

// Writes `name=value;` per scalar, `name{...}` per object and `name[{...}...]` per list of
// objects; DumpObj(Dump&, const T&) (below, found by argument-dependent lookup) lists the
// members of each model type.
class Dump {
 public:
  std::string str() const { return out_.str(); }

  template <typename T>
  void Put(const char* name, const T& v) {
    out_ << name << "=" << v << ";";
  }
  void Put(const char* name, bool v) { out_ << name << "=" << (v ? "true" : "false") << ";"; }
  void Put(const char* name, const Strings& v) {
    out_ << name << "=[";
    for (const auto& s : v) out_ << "'" << s << "',";
    out_ << "];";
  }
  void Put(const char* name, const StringMap& v) {
    out_ << name << "={";
    for (const auto& [k, val] : v) out_ << k << ":" << val << ",";
    out_ << "};";
  }
  void Put(const char* name, const std::vector<uint32_t>& v) {
    out_ << name << "=[";
    for (uint32_t x : v) out_ << x << ",";
    out_ << "];";
  }
  template <typename T>
  void Put(const char* name, const Opt<T>& v) {
    if (!v) {
      out_ << name << "=<absent>;";
      return;
    }
    Put(name, *v);
  }
  // Objects and lists of objects.
  template <typename T>
  void Obj(const char* name, const Opt<T>& v) {
    if (!v) {
      out_ << name << "=<absent>;";
      return;
    }
    out_ << name << "{";
    DumpObj(*this, *v);
    out_ << "}";
  }
  template <typename T>
  void Obj(const char* name, const T& v) {
    out_ << name << "{";
    DumpObj(*this, v);
    out_ << "}";
  }
  template <typename T>
  void List(const char* name, const Opt<std::vector<T>>& v) {
    if (!v) {
      out_ << name << "=<absent>;";
      return;
    }
    out_ << name << "[";
    for (const T& item : *v) {
      out_ << "{";
      DumpObj(*this, item);
      out_ << "}";
    }
    out_ << "]";
  }
  template <typename T>
  void ObjMap(const char* name, const Opt<std::map<std::string, T>>& v) {
    if (!v) {
      out_ << name << "=<absent>;";
      return;
    }
    out_ << name << "{";
    for (const auto& [k, item] : *v) {
      out_ << k << ":{";
      DumpObj(*this, item);
      out_ << "}";
    }
    out_ << "}";
  }

 private:
  std::ostringstream out_;
};

void DumpObj(Dump& d, const Box& v) {
  d.Put("height", v.height);
  d.Put("width", v.width);
}
void DumpObj(Dump& d, const User& v) {
  d.Put("uid", v.uid);
  d.Put("gid", v.gid);
  d.Put("additionalGids", v.additional_gids);
  d.Put("username", v.username);
}
void DumpObj(Dump& d, const LinuxCapabilities& v) {
  d.Put("bounding", v.bounding);
  d.Put("effective", v.effective);
  d.Put("inheritable", v.inheritable);
  d.Put("permitted", v.permitted);
  d.Put("ambient", v.ambient);
}
void DumpObj(Dump& d, const PosixRlimit& v) {
  d.Put("type", v.type);
  d.Put("hard", v.hard);
  d.Put("soft", v.soft);
}
void DumpObj(Dump& d, const Process& v) {
  d.Put("terminal", v.terminal);
  d.Obj("consoleSize", v.console_size);
  d.Obj("user", v.user);
  d.Put("args", v.args);
  d.Put("env", v.env);
  d.Put("cwd", v.cwd);
  d.Obj("capabilities", v.capabilities);
  d.List("rlimits", v.rlimits);
  d.Put("noNewPrivileges", v.no_new_privileges);
  d.Put("apparmorProfile", v.apparmor_profile);
  d.Put("oomScoreAdj", v.oom_score_adj);
  d.Put("selinuxLabel", v.selinux_label);
}
void DumpObj(Dump& d, const Root& v) {
  d.Put("path", v.path);
  d.Put("readonly", v.readonly);
}
void DumpObj(Dump& d, const Mount& v) {
  d.Put("destination", v.destination);
  d.Put("type", v.type);
  d.Put("source", v.source);
  d.Put("options", v.options);
}
void DumpObj(Dump& d, const Hook& v) {
  d.Put("path", v.path);
  d.Put("args", v.args);
  d.Put("env", v.env);
  d.Put("timeout", v.timeout);
}
void DumpObj(Dump& d, const Hooks& v) {
  d.List("prestart", v.prestart);
  d.List("createRuntime", v.create_runtime);
  d.List("createContainer", v.create_container);
  d.List("startContainer", v.start_container);
  d.List("poststart", v.poststart);
  d.List("poststop", v.poststop);
}
void DumpObj(Dump& d, const LinuxIdMapping& v) {
  d.Put("containerID", v.container_id);
  d.Put("hostID", v.host_id);
  d.Put("size", v.size);
}
void DumpObj(Dump& d, const LinuxNamespace& v) {
  d.Put("type", v.type);
  d.Put("path", v.path);
}
void DumpObj(Dump& d, const LinuxDevice& v) {
  d.Put("path", v.path);
  d.Put("type", v.type);
  d.Put("major", v.major);
  d.Put("minor", v.minor);
  d.Put("fileMode", v.file_mode);
  d.Put("uid", v.uid);
  d.Put("gid", v.gid);
}
void DumpObj(Dump& d, const LinuxDeviceCgroup& v) {
  d.Put("allow", v.allow);
  d.Put("type", v.type);
  d.Put("major", v.major);
  d.Put("minor", v.minor);
  d.Put("access", v.access);
}
void DumpObj(Dump& d, const LinuxMemory& v) {
  d.Put("limit", v.limit);
  d.Put("reservation", v.reservation);
  d.Put("swap", v.swap);
  d.Put("kernel", v.kernel);
  d.Put("kernelTCP", v.kernel_tcp);
  d.Put("swappiness", v.swappiness);
  d.Put("disableOOMKiller", v.disable_oom_killer);
}
void DumpObj(Dump& d, const LinuxCpu& v) {
  d.Put("shares", v.shares);
  d.Put("quota", v.quota);
  d.Put("period", v.period);
  d.Put("realtimeRuntime", v.realtime_runtime);
  d.Put("realtimePeriod", v.realtime_period);
  d.Put("cpus", v.cpus);
  d.Put("mems", v.mems);
}
void DumpObj(Dump& d, const LinuxPids& v) { d.Put("limit", v.limit); }
void DumpObj(Dump& d, const LinuxWeightDevice& v) {
  d.Put("major", v.major);
  d.Put("minor", v.minor);
  d.Put("weight", v.weight);
  d.Put("leafWeight", v.leaf_weight);
}
void DumpObj(Dump& d, const LinuxThrottleDevice& v) {
  d.Put("major", v.major);
  d.Put("minor", v.minor);
  d.Put("rate", v.rate);
}
void DumpObj(Dump& d, const LinuxBlockIo& v) {
  d.Put("weight", v.weight);
  d.Put("leafWeight", v.leaf_weight);
  d.List("weightDevice", v.weight_device);
  d.List("throttleReadBpsDevice", v.throttle_read_bps_device);
  d.List("throttleWriteBpsDevice", v.throttle_write_bps_device);
  d.List("throttleReadIOPSDevice", v.throttle_read_iops_device);
  d.List("throttleWriteIOPSDevice", v.throttle_write_iops_device);
}
void DumpObj(Dump& d, const LinuxHugepageLimit& v) {
  d.Put("pageSize", v.page_size);
  d.Put("limit", v.limit);
}
void DumpObj(Dump& d, const LinuxInterfacePriority& v) {
  d.Put("name", v.name);
  d.Put("priority", v.priority);
}
void DumpObj(Dump& d, const LinuxNetwork& v) {
  d.Put("classID", v.class_id);
  d.List("priorities", v.priorities);
}
void DumpObj(Dump& d, const LinuxResources& v) {
  d.List("devices", v.devices);
  d.Obj("memory", v.memory);
  d.Obj("cpu", v.cpu);
  d.Obj("pids", v.pids);
  d.Obj("blockIO", v.block_io);
  d.List("hugepageLimits", v.hugepage_limits);
  d.Obj("network", v.network);
}
void DumpObj(Dump& d, const LinuxSeccompArg& v) {
  d.Put("index", v.index);
  d.Put("value", v.value);
  d.Put("valueTwo", v.value_two);
  d.Put("op", v.op);
}
void DumpObj(Dump& d, const LinuxSyscall& v) {
  d.Put("names", v.names);
  d.Put("action", v.action);
  d.Put("errnoRet", v.errno_ret);
  d.List("args", v.args);
}
void DumpObj(Dump& d, const LinuxSeccomp& v) {
  d.Put("defaultAction", v.default_action);
  d.Put("architectures", v.architectures);
  d.Put("flags", v.flags);
  d.List("syscalls", v.syscalls);
}
void DumpObj(Dump& d, const LinuxIntelRdt& v) { d.Put("l3CacheSchema", v.l3_cache_schema); }
void DumpObj(Dump& d, const Linux& v) {
  d.List("uidMappings", v.uid_mappings);
  d.List("gidMappings", v.gid_mappings);
  d.Put("sysctl", v.sysctl);
  d.Obj("resources", v.resources);
  d.Put("cgroupsPath", v.cgroups_path);
  d.List("namespaces", v.namespaces);
  d.List("devices", v.devices);
  d.Obj("seccomp", v.seccomp);
  d.Put("rootfsPropagation", v.rootfs_propagation);
  d.Put("maskedPaths", v.masked_paths);
  d.Put("readonlyPaths", v.readonly_paths);
  d.Put("mountLabel", v.mount_label);
  d.Obj("intelRdt", v.intel_rdt);
}
void DumpObj(Dump& d, const Spec& v) {
  d.Put("ociVersion", v.oci_version);
  d.Obj("process", v.process);
  d.Obj("root", v.root);
  d.Put("hostname", v.hostname);
  d.List("mounts", v.mounts);
  d.Obj("hooks", v.hooks);
  d.Put("annotations", v.annotations);
  d.Obj("linux", v.linux);
}

}  // namespace

std::string DumpSpec(const Spec& spec) {
  Dump d;
  DumpObj(d, spec);
  return d.str();
}

}  // namespace internal
}  // namespace oci
}  // namespace kata
