#include "src/libs/oci/spec_proto.h"

#include <cstdint>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace kata {
namespace oci {
namespace {

using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// A canonical text dump of every mapped model field, presence included, so that two specs
// compare with a readable diff. `unknown` and the fields Kata's proto lacks are left out.

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

std::string DumpSpec(const Spec& spec) {
  Dump d;
  DumpObj(d, spec);
  return d.str();
}

// ---------------------------------------------------------------------------------------------
// A spec with every mapped field present and non-zero (so nothing is lost on the wire).

LinuxThrottleDevice Throttle(int64_t major, int64_t minor, uint64_t rate) {
  LinuxThrottleDevice t;
  t.major = major;
  t.minor = minor;
  t.rate = rate;
  return t;
}

Hook MakeHook(const std::string& path, int64_t timeout) {
  Hook h;
  h.path = path;
  h.args = Strings{path, "--flag"};
  h.env = Strings{"A=1"};
  h.timeout = timeout;
  return h;
}

Spec FullSpec() {
  Spec s;
  s.oci_version = "1.1.0";

  Process& p = s.process.emplace();
  p.terminal = true;
  p.console_size = Box{24, 80, {}};
  p.user.uid = 1000;
  p.user.gid = 1001;
  p.user.additional_gids = std::vector<uint32_t>{5, 6, 4294967295u};
  p.user.username = "alice";
  p.args = Strings{"/bin/sh", "-c", "echo hi"};
  p.env = Strings{"PATH=/bin", "TERM=xterm"};
  p.cwd = "/work";
  LinuxCapabilities& caps = p.capabilities.emplace();
  caps.bounding = Strings{"CAP_CHOWN", "CAP_KILL"};
  caps.effective = Strings{"CAP_CHOWN"};
  caps.inheritable = Strings{"CAP_KILL"};
  caps.permitted = Strings{"CAP_NET_ADMIN"};
  caps.ambient = Strings{"CAP_SYS_ADMIN"};
  PosixRlimit rl;
  rl.type = "RLIMIT_NOFILE";
  rl.hard = std::numeric_limits<uint64_t>::max();
  rl.soft = 1024;
  p.rlimits = std::vector<PosixRlimit>{rl};
  p.no_new_privileges = true;
  p.apparmor_profile = "docker-default";
  p.oom_score_adj = -1000;
  p.selinux_label = "system_u:system_r:container_t:s0";

  s.root.emplace();
  s.root->path = "rootfs";
  s.root->readonly = true;
  s.hostname = "box";

  Mount m;
  m.destination = "/proc";
  m.type = "proc";
  m.source = "proc";
  m.options = Strings{"nosuid", "noexec"};
  s.mounts = std::vector<Mount>{m};

  Hooks& hooks = s.hooks.emplace();
  hooks.prestart = std::vector<Hook>{MakeHook("/h/prestart", 1)};
  hooks.create_runtime = std::vector<Hook>{MakeHook("/h/cr", 2)};
  hooks.create_container = std::vector<Hook>{MakeHook("/h/cc", 3)};
  hooks.start_container = std::vector<Hook>{MakeHook("/h/sc", 4)};
  hooks.poststart = std::vector<Hook>{MakeHook("/h/poststart", 5), MakeHook("/h/ps2", 6)};
  hooks.poststop = std::vector<Hook>{MakeHook("/h/poststop", 7)};
  s.annotations = StringMap{{"a", "1"}, {"io.kubernetes.cri.sandbox-id", "abc"}};

  Linux& l = s.linux.emplace();
  l.uid_mappings = std::vector<LinuxIdMapping>{{0, 100000, 65536, {}}};
  l.gid_mappings = std::vector<LinuxIdMapping>{{1, 200000, 1000, {}}};
  l.sysctl = StringMap{{"net.ipv4.ip_forward", "1"}};
  LinuxResources& r = l.resources.emplace();
  LinuxDeviceCgroup deny_all;
  deny_all.allow = false;
  deny_all.access = "rwm";
  LinuxDeviceCgroup null_dev;
  null_dev.allow = true;
  null_dev.type = "c";
  null_dev.major = 1;
  null_dev.minor = 3;
  null_dev.access = "rw";
  r.devices = std::vector<LinuxDeviceCgroup>{deny_all, null_dev};
  LinuxMemory& mem = r.memory.emplace();
  mem.limit = 1 << 30;
  mem.reservation = 1 << 29;
  mem.swap = -1;
  mem.kernel = 1 << 20;
  mem.kernel_tcp = 1 << 19;
  mem.swappiness = 60;
  mem.disable_oom_killer = true;
  LinuxCpu& cpu = r.cpu.emplace();
  cpu.shares = 1024;
  cpu.quota = 50000;
  cpu.period = 100000;
  cpu.realtime_runtime = 950000;
  cpu.realtime_period = 1000000;
  cpu.cpus = "0-3";
  cpu.mems = "0";
  r.pids = LinuxPids{512, {}};
  LinuxBlockIo& bio = r.block_io.emplace();
  bio.weight = 500;
  bio.leaf_weight = 65535;
  bio.weight_device = std::vector<LinuxWeightDevice>{{8, 0, 300, 200, {}}};
  bio.throttle_read_bps_device = std::vector<LinuxThrottleDevice>{Throttle(8, 0, 1000)};
  bio.throttle_write_bps_device = std::vector<LinuxThrottleDevice>{Throttle(8, 16, 2000)};
  bio.throttle_read_iops_device = std::vector<LinuxThrottleDevice>{Throttle(8, 32, 3000)};
  bio.throttle_write_iops_device = std::vector<LinuxThrottleDevice>{Throttle(8, 48, 4000)};
  r.hugepage_limits = std::vector<LinuxHugepageLimit>{{"2MB", 1 << 21, {}}};
  LinuxNetwork& net = r.network.emplace();
  net.class_id = 0x100001;
  net.priorities = std::vector<LinuxInterfacePriority>{{"eth0", 5, {}}};
  l.cgroups_path = "/kata/abc";
  LinuxNamespace pid_ns;
  pid_ns.type = "pid";
  LinuxNamespace net_ns;
  net_ns.type = "network";
  net_ns.path = "/var/run/netns/x";
  l.namespaces = std::vector<LinuxNamespace>{pid_ns, net_ns};
  LinuxDevice dev;
  dev.path = "/dev/vdb";
  dev.type = "b";
  dev.major = 254;
  dev.minor = 16;
  dev.file_mode = 0660;
  dev.uid = 7;
  dev.gid = 8;
  l.devices = std::vector<LinuxDevice>{dev};
  LinuxSeccomp& sec = l.seccomp.emplace();
  sec.default_action = "SCMP_ACT_ERRNO";
  sec.architectures = Strings{"SCMP_ARCH_X86_64"};
  sec.flags = Strings{"SECCOMP_FILTER_FLAG_LOG"};
  LinuxSyscall allow;
  allow.names = Strings{"read", "write"};
  allow.action = "SCMP_ACT_ALLOW";
  LinuxSeccompArg arg;
  arg.index = 1;
  arg.value = 2;
  arg.value_two = 3;
  arg.op = "SCMP_CMP_MASKED_EQ";
  allow.args = std::vector<LinuxSeccompArg>{arg};
  LinuxSyscall eperm;
  eperm.names = Strings{"ptrace"};
  eperm.action = "SCMP_ACT_ERRNO";
  eperm.errno_ret = 1;
  LinuxSyscall errno_zero;  // errnoRet 0 is kept distinct from absent (oneof)
  errno_zero.names = Strings{"kexec_load"};
  errno_zero.action = "SCMP_ACT_ERRNO";
  errno_zero.errno_ret = 0;
  sec.syscalls = std::vector<LinuxSyscall>{allow, eperm, errno_zero};
  l.rootfs_propagation = "rslave";
  l.masked_paths = Strings{"/proc/kcore"};
  l.readonly_paths = Strings{"/proc/sys"};
  l.mount_label = "system_u:object_r:container_file_t:s0";
  l.intel_rdt.emplace().l3_cache_schema = "L3:0=ff";
  return s;
}

// ---------------------------------------------------------------------------------------------

TEST(SpecProtoTest, FullSpecRoundTrips) {
  const Spec spec = FullSpec();
  absl::StatusOr<Spec> back = SpecFromProto(SpecToProto(spec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(DumpSpec(*back), DumpSpec(spec));
}

TEST(SpecProtoTest, SerializedBytesParseBack) {
  const Spec spec = FullSpec();
  const grpc::Spec proto = SpecToProto(spec);
  std::string bytes;
  ASSERT_TRUE(proto.SerializeToString(&bytes));
  grpc::Spec parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  // (Byte equality is not promised: protobuf does not fix the order of map entries.)
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, proto));
  absl::StatusOr<Spec> back = SpecFromProto(parsed);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(DumpSpec(*back), DumpSpec(spec));
}

TEST(SpecProtoTest, FieldsAreFilledAsKataDoes) {
  const grpc::Spec p = SpecToProto(FullSpec());
  EXPECT_EQ(p.version(), "1.1.0");
  EXPECT_EQ(p.process().oomscoreadj(), -1000);
  EXPECT_EQ(p.process().user().username(), "alice");
  EXPECT_EQ(p.linux().uidmappings(0).hostid(), 100000u);
  EXPECT_EQ(p.linux().uidmappings(0).containerid(), 0u);
  EXPECT_EQ(p.linux().devices(0).major(), 254);
  EXPECT_EQ(p.linux().resources().hugepagelimits(0).pagesize(), "2MB");
  ASSERT_EQ(p.linux().seccomp().syscalls_size(), 3);
  EXPECT_FALSE(p.linux().seccomp().syscalls(0).has_errnoret());
  EXPECT_TRUE(p.linux().seccomp().syscalls(1).has_errnoret());
  EXPECT_EQ(p.linux().seccomp().syscalls(1).errnoret(), 1u);
  EXPECT_TRUE(p.linux().seccomp().syscalls(2).has_errnoret());
  EXPECT_FALSE(p.has_solaris());
  EXPECT_FALSE(p.has_windows());
}

TEST(SpecProtoTest, DeviceCgroupWildcardsSurvive) {
  Spec spec;
  LinuxResources& r = spec.linux.emplace().resources.emplace();
  LinuxDeviceCgroup all;  // deny everything: a *:* rwm
  all.allow = false;
  LinuxDeviceCgroup char_any;  // c *:* m
  char_any.allow = true;
  char_any.type = "c";
  char_any.access = "m";
  LinuxDeviceCgroup minor_any;  // b 8:* r
  minor_any.allow = true;
  minor_any.type = "b";
  minor_any.major = 8;
  minor_any.access = "r";
  LinuxDeviceCgroup major_any;  // c *:5 w
  major_any.allow = true;
  major_any.type = "c";
  major_any.minor = 5;
  major_any.access = "w";
  r.devices = std::vector<LinuxDeviceCgroup>{all, char_any, minor_any, major_any};

  const grpc::Spec proto = SpecToProto(spec);
  const auto& wire = proto.linux().resources().devices();
  ASSERT_EQ(wire.size(), 4);
  // On the wire a wildcard is 0 (what Kata's Go runtime sends) and "" for type/access.
  EXPECT_EQ(wire[0].major(), 0);
  EXPECT_EQ(wire[0].minor(), 0);
  EXPECT_EQ(wire[0].type(), "");
  EXPECT_EQ(wire[0].access(), "");
  EXPECT_EQ(wire[2].major(), 8);
  EXPECT_EQ(wire[2].minor(), 0);
  EXPECT_EQ(wire[3].major(), 0);
  EXPECT_EQ(wire[3].minor(), 5);

  absl::StatusOr<Spec> back = SpecFromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(DumpSpec(*back), DumpSpec(spec));
  const auto& rules = *back->linux->resources->devices;
  EXPECT_FALSE(rules[0].major.has_value());
  EXPECT_FALSE(rules[0].type.has_value());
  EXPECT_FALSE(rules[1].minor.has_value());
  EXPECT_EQ(rules[2].major, 8);
  EXPECT_FALSE(rules[2].minor.has_value());
  EXPECT_FALSE(rules[3].major.has_value());
  EXPECT_EQ(rules[3].minor, 5);
}

TEST(SpecProtoTest, NegativeDeviceCgroupNumbersAreWildcards) {
  grpc::Spec proto;
  grpc::LinuxDeviceCgroup* rule = proto.mutable_linux()->mutable_resources()->add_devices();
  rule->set_allow(true);
  rule->set_type("a");
  rule->set_major(-1);
  rule->set_minor(-1);
  rule->set_access("rwm");
  absl::StatusOr<Spec> spec = SpecFromProto(proto);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const LinuxDeviceCgroup& r = (*spec->linux->resources->devices)[0];
  EXPECT_EQ(r.type, "a");
  EXPECT_FALSE(r.major.has_value());
  EXPECT_FALSE(r.minor.has_value());
}

TEST(SpecProtoTest, EmptyProtoGivesAbsentFields) {
  absl::StatusOr<Spec> spec = SpecFromProto(grpc::Spec());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->oci_version, "");
  EXPECT_FALSE(spec->process.has_value());
  EXPECT_FALSE(spec->root.has_value());
  EXPECT_FALSE(spec->hostname.has_value());
  EXPECT_FALSE(spec->mounts.has_value());
  EXPECT_FALSE(spec->hooks.has_value());
  EXPECT_FALSE(spec->annotations.has_value());
  EXPECT_FALSE(spec->linux.has_value());
}

TEST(SpecProtoTest, ZeroValuesBecomeAbsentButSetMessagesStayPresent) {
  Spec spec;
  Process& p = spec.process.emplace();
  p.terminal = false;
  p.oom_score_adj = 0;
  p.args = Strings{};
  p.capabilities.emplace();  // empty object: stays present (message presence)
  spec.hostname = "";
  LinuxResources& r = spec.linux.emplace().resources.emplace();
  r.memory.emplace().swappiness = 0;
  absl::StatusOr<Spec> back = SpecFromProto(SpecToProto(spec));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->process.has_value());
  EXPECT_FALSE(back->process->terminal.has_value());
  EXPECT_FALSE(back->process->oom_score_adj.has_value());
  EXPECT_FALSE(back->process->args.has_value());
  ASSERT_TRUE(back->process->capabilities.has_value());
  EXPECT_FALSE(back->process->capabilities->bounding.has_value());
  EXPECT_FALSE(back->hostname.has_value());
  ASSERT_TRUE(back->linux->resources->memory.has_value());
  EXPECT_FALSE(back->linux->resources->memory->swappiness.has_value());
}

TEST(SpecProtoTest, FieldsKataLacksAreDropped) {
  Spec spec = FullSpec();
  spec.domainname = "example.com";
  spec.process->user.umask = 022;
  spec.process->command_line = "cmd.exe";
  spec.linux->intel_rdt->clos_id = "clos";
  spec.linux->resources->unified = StringMap{{"memory.high", "1G"}};
  spec.unknown.members.push_back({"solaris", "{}"});
  absl::StatusOr<Spec> back = SpecFromProto(SpecToProto(spec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->domainname.has_value());
  EXPECT_FALSE(back->process->user.umask.has_value());
  EXPECT_FALSE(back->process->command_line.has_value());
  EXPECT_FALSE(back->linux->intel_rdt->clos_id.has_value());
  EXPECT_FALSE(back->linux->resources->unified.has_value());
  EXPECT_TRUE(back->unknown.empty());
  EXPECT_EQ(DumpSpec(*back), DumpSpec(FullSpec()));
}

TEST(SpecProtoTest, ConsoleSizeSaturates) {
  Spec spec;
  spec.process.emplace().console_size = Box{uint64_t{1} << 40, 80, {}};
  const grpc::Spec proto = SpecToProto(spec);
  EXPECT_EQ(proto.process().consolesize().height(), std::numeric_limits<uint32_t>::max());
  EXPECT_EQ(proto.process().consolesize().width(), 80u);
}

void ExpectInvalid(const grpc::Spec& proto, const std::string& field) {
  absl::StatusOr<Spec> spec = SpecFromProto(proto);
  ASSERT_FALSE(spec.ok()) << field;
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr(field + ": "));
}

TEST(SpecProtoTest, RejectsOomScoreAdjOutsideInt32) {
  grpc::Spec proto;
  proto.mutable_process()->set_oomscoreadj(int64_t{1} << 31);
  ExpectInvalid(proto, "process.oomScoreAdj");
  proto.mutable_process()->set_oomscoreadj(-(int64_t{1} << 31) - 1);
  ExpectInvalid(proto, "process.oomScoreAdj");
  proto.mutable_process()->set_oomscoreadj(std::numeric_limits<int32_t>::min());
  EXPECT_TRUE(SpecFromProto(proto).ok());
}

TEST(SpecProtoTest, RejectsBlockIoWeightsAboveUint16) {
  grpc::Spec proto;
  grpc::LinuxBlockIO* bio = proto.mutable_linux()->mutable_resources()->mutable_blockio();
  bio->set_weight(65536);
  ExpectInvalid(proto, "linux.resources.blockIO.weight");
  bio->set_weight(65535);
  bio->set_leafweight(70000);
  ExpectInvalid(proto, "linux.resources.blockIO.leafWeight");
  bio->set_leafweight(0);
  bio->add_weightdevice()->set_weight(10);
  bio->add_weightdevice()->set_leafweight(70000);
  ExpectInvalid(proto, "linux.resources.blockIO.weightDevice[1].leafWeight");
  EXPECT_THAT(std::string(SpecFromProto(proto).status().message()),
              HasSubstr("70000 does not fit in uint16"));
}

TEST(SpecProtoTest, RejectsSeccompArgIndexAboveUint32) {
  grpc::Spec proto;
  grpc::LinuxSyscall* sc = proto.mutable_linux()->mutable_seccomp()->add_syscalls();
  sc->add_names("read");
  sc->add_args()->set_index(1);
  grpc::LinuxSyscall* sc2 = proto.mutable_linux()->mutable_seccomp()->add_syscalls();
  sc2->add_names("write");
  sc2->add_args()->set_index(2);
  sc2->add_args()->set_index(uint64_t{1} << 32);
  ExpectInvalid(proto, "linux.seccomp.syscalls[1].args[1].index");
}

// Kata's field numbers: a renumbering in oci.proto must fail here.
int Number(const google::protobuf::Descriptor* d, const std::string& field) {
  const google::protobuf::FieldDescriptor* f = d->FindFieldByName(field);
  return f == nullptr ? -1 : f->number();
}

TEST(SpecProtoTest, FieldNumbersMatchKata) {
  EXPECT_EQ(grpc::Spec::descriptor()->full_name(), "grpc.Spec");
  EXPECT_EQ(Number(grpc::Spec::descriptor(), "Version"), 1);
  EXPECT_EQ(Number(grpc::Spec::descriptor(), "Process"), 2);
  EXPECT_EQ(Number(grpc::Spec::descriptor(), "Mounts"), 5);
  EXPECT_EQ(Number(grpc::Spec::descriptor(), "Annotations"), 7);
  EXPECT_EQ(Number(grpc::Spec::descriptor(), "Linux"), 8);
  EXPECT_EQ(Number(grpc::Process::descriptor(), "OOMScoreAdj"), 11);
  EXPECT_EQ(Number(grpc::Hooks::descriptor(), "Poststop"), 3);
  EXPECT_EQ(Number(grpc::Hooks::descriptor(), "StartContainer"), 6);
  EXPECT_EQ(Number(grpc::Linux::descriptor(), "Resources"), 4);
  EXPECT_EQ(Number(grpc::Linux::descriptor(), "Devices"), 7);
  EXPECT_EQ(Number(grpc::Linux::descriptor(), "IntelRdt"), 13);
  EXPECT_EQ(Number(grpc::LinuxIDMapping::descriptor(), "HostID"), 1);
  EXPECT_EQ(Number(grpc::LinuxIDMapping::descriptor(), "ContainerID"), 2);
  EXPECT_EQ(Number(grpc::LinuxDevice::descriptor(), "Path"), 1);
  EXPECT_EQ(Number(grpc::LinuxDevice::descriptor(), "Major"), 3);
  EXPECT_EQ(Number(grpc::LinuxResources::descriptor(), "Devices"), 1);
  EXPECT_EQ(Number(grpc::LinuxDeviceCgroup::descriptor(), "Major"), 3);
  EXPECT_EQ(Number(grpc::LinuxDeviceCgroup::descriptor(), "Minor"), 4);
  EXPECT_EQ(Number(grpc::LinuxSyscall::descriptor(), "errnoret"), 3);
  EXPECT_EQ(Number(grpc::Mount::descriptor(), "type"), 3);
  EXPECT_EQ(grpc::LinuxDeviceCgroup::descriptor()->FindFieldByName("Major")->type(),
            google::protobuf::FieldDescriptor::TYPE_INT64);
}

}  // namespace
}  // namespace oci
}  // namespace kata
