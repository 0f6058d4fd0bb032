// FullSpec (spec_proto_testing.h), built section by section: process, hooks, linux
// (resources, seccomp). Every value is non-zero so that none is dropped on the wire.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "src/libs/oci/internal/spec_proto_testing.h"

namespace kata {
namespace oci {
namespace internal {
namespace {

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

Process FullProcess() {
  Process p;
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
  return p;
}

Hooks FullHooks() {
  Hooks hooks;
  hooks.prestart = std::vector<Hook>{MakeHook("/h/prestart", 1)};
  hooks.create_runtime = std::vector<Hook>{MakeHook("/h/cr", 2)};
  hooks.create_container = std::vector<Hook>{MakeHook("/h/cc", 3)};
  hooks.start_container = std::vector<Hook>{MakeHook("/h/sc", 4)};
  hooks.poststart = std::vector<Hook>{MakeHook("/h/poststart", 5), MakeHook("/h/ps2", 6)};
  hooks.poststop = std::vector<Hook>{MakeHook("/h/poststop", 7)};
  return hooks;
}

// Device rules: deny all (wildcards), then allow c 1:3 rw.
std::vector<LinuxDeviceCgroup> FullDeviceRules() {
  LinuxDeviceCgroup deny_all;
  deny_all.allow = false;
  deny_all.access = "rwm";
  LinuxDeviceCgroup null_dev;
  null_dev.allow = true;
  null_dev.type = "c";
  null_dev.major = 1;
  null_dev.minor = 3;
  null_dev.access = "rw";
  return {deny_all, null_dev};
}

LinuxBlockIo FullBlockIo() {
  LinuxBlockIo bio;
  bio.weight = 500;
  bio.leaf_weight = 65535;
  bio.weight_device = std::vector<LinuxWeightDevice>{{8, 0, 300, 200, {}}};
  bio.throttle_read_bps_device = std::vector<LinuxThrottleDevice>{Throttle(8, 0, 1000)};
  bio.throttle_write_bps_device = std::vector<LinuxThrottleDevice>{Throttle(8, 16, 2000)};
  bio.throttle_read_iops_device = std::vector<LinuxThrottleDevice>{Throttle(8, 32, 3000)};
  bio.throttle_write_iops_device = std::vector<LinuxThrottleDevice>{Throttle(8, 48, 4000)};
  return bio;
}

LinuxResources FullResources() {
  LinuxResources r;
  r.devices = FullDeviceRules();
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
  r.block_io = FullBlockIo();
  r.hugepage_limits = std::vector<LinuxHugepageLimit>{{"2MB", 1 << 21, {}}};
  LinuxNetwork& net = r.network.emplace();
  net.class_id = 0x100001;
  net.priorities = std::vector<LinuxInterfacePriority>{{"eth0", 5, {}}};
  return r;
}

LinuxSeccomp FullSeccomp() {
  LinuxSeccomp sec;
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
  return sec;
}

Linux FullLinux() {
  Linux l;
  l.uid_mappings = std::vector<LinuxIdMapping>{{0, 100000, 65536, {}}};
  l.gid_mappings = std::vector<LinuxIdMapping>{{1, 200000, 1000, {}}};
  l.sysctl = StringMap{{"net.ipv4.ip_forward", "1"}};
  l.resources = FullResources();
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
  l.seccomp = FullSeccomp();
  l.rootfs_propagation = "rslave";
  l.masked_paths = Strings{"/proc/kcore"};
  l.readonly_paths = Strings{"/proc/sys"};
  l.mount_label = "system_u:object_r:container_file_t:s0";
  l.intel_rdt.emplace().l3_cache_schema = "L3:0=ff";
  return l;
}

}  // namespace

Spec FullSpec() {
  Spec s;
  s.oci_version = "1.1.0";
  s.process = FullProcess();
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
  s.hooks = FullHooks();
  s.annotations = StringMap{{"a", "1"}, {"io.kubernetes.cri.sandbox-id", "abc"}};
  s.linux = FullLinux();
  return s;
}

}  // namespace internal
}  // namespace oci
}  // namespace kata
