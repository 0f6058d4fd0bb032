#include "src/runtime/sandbox/guest_spec.h"

#include <sys/mount.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/runtime/sandbox/host_mounts.h"

namespace kata::runtime {
namespace {

oci::Spec HostSpec() {
  oci::Spec s;
  s.process.emplace();
  s.process->args = std::vector<std::string>{"sh"};
  s.process->selinux_label = "system_u:system_r:container_t:s0";
  s.root.emplace();
  s.root->path = "/var/lib/containerd/rootfs";
  s.hooks.emplace();
  s.hooks->prestart = std::vector<oci::Hook>{{"/usr/bin/hook", {}, {}, {}, {}}};
  s.linux.emplace();
  s.linux->namespaces =
      std::vector<oci::LinuxNamespace>{{"pid", std::nullopt, {}},
                                       {"network", std::string("/var/run/netns/cni-1"), {}},
                                       {"ipc", std::string("/proc/42/ns/ipc"), {}},
                                       {"cgroup", std::nullopt, {}}};
  s.linux->seccomp.emplace();
  s.linux->mount_label = "system_u:object_r:container_file_t:s0";
  s.linux->cgroups_path = "system.slice:cri-containerd:abc";
  s.linux->resources.emplace();
  // containerd's shape: deny all, then the allowed devices by their host numbers.
  oci::LinuxDeviceCgroup tty;
  tty.allow = true;
  tty.type = "c";
  tty.major = 4;
  tty.minor = 64;
  tty.access = "rw";
  s.linux->resources->devices = std::vector<oci::LinuxDeviceCgroup>{oci::LinuxDeviceCgroup(), tty};
  s.linux->resources->pids.emplace();
  s.linux->resources->cpu.emplace();
  s.linux->resources->cpu->cpus = "0-3";
  s.linux->resources->cpu->shares = 512;
  s.linux->resources->memory.emplace();
  s.linux->resources->memory->limit = 1 << 30;
  return s;
}

TEST(GuestSpecTest, StripsHostOnlyPartsAsKataDoes) {
  config::RuntimeConfig c;  // disable_guest_seccomp and disable_guest_selinux default true
  oci::Spec g = GuestSpec(HostSpec(), "c1", true, c);
  EXPECT_EQ(g.root->path, "/run/kata-containers/shared/containers/c1/rootfs");
  EXPECT_FALSE(g.hooks.has_value());
  EXPECT_FALSE(g.linux->seccomp.has_value());
  EXPECT_FALSE(g.linux->mount_label.has_value());
  EXPECT_FALSE(g.process->selinux_label.has_value());
  EXPECT_TRUE(*g.process->terminal);
  ASSERT_EQ(g.linux->namespaces->size(), 2u);
  EXPECT_EQ((*g.linux->namespaces)[0].type, "pid");
  EXPECT_EQ((*g.linux->namespaces)[1].type, "ipc");
  EXPECT_FALSE((*g.linux->namespaces)[1].path.has_value());
  EXPECT_EQ(*g.linux->cgroups_path, "/cri-containerd/abc");
  EXPECT_FALSE(g.linux->resources->devices.has_value());
  EXPECT_FALSE(g.linux->resources->pids.has_value());
  EXPECT_FALSE(g.linux->resources->cpu->cpus.has_value());
  EXPECT_EQ(*g.linux->resources->cpu->shares, 512u);
  EXPECT_EQ(*g.linux->resources->memory->limit, 1 << 30);
}

// A privileged container (containerd's WithAllDevicesAllowed) may open every guest device,
// as with runc on the host; rules by number never reach the guest.
TEST(GuestSpecTest, DeviceRulesWithoutNumbersAreKept) {
  oci::LinuxDeviceCgroup deny_all, allow_all, mknod_any_char, host_disk;
  allow_all.allow = true;
  allow_all.access = "rwm";
  mknod_any_char.allow = true;
  mknod_any_char.type = "c";
  mknod_any_char.major = -1;
  mknod_any_char.access = "m";
  host_disk.allow = true;
  host_disk.type = "b";
  host_disk.major = 254;
  host_disk.access = "rw";
  using Rules = std::vector<oci::LinuxDeviceCgroup>;
  EXPECT_FALSE(GuestDeviceRules(std::nullopt).has_value());
  EXPECT_FALSE(GuestDeviceRules(Rules{deny_all, host_disk}).has_value());
  std::optional<Rules> g = GuestDeviceRules(Rules{deny_all, mknod_any_char, host_disk, deny_all});
  ASSERT_TRUE(g.has_value());
  ASSERT_EQ(g->size(), 2u);
  EXPECT_EQ((*g)[0].access, "m");
  EXPECT_FALSE((*g)[1].allow);  // a deny after an allow still counts (last match decides)
  g = GuestDeviceRules(Rules{allow_all});
  ASSERT_TRUE(g.has_value());
  ASSERT_EQ(g->size(), 1u);
  EXPECT_TRUE((*g)[0].allow);
  EXPECT_FALSE((*g)[0].type.has_value());
}

TEST(GuestSpecTest, KeepsSeccompWhenTheGuestDoesIt) {
  config::RuntimeConfig c;
  c.runtime.disable_guest_seccomp = false;
  oci::Spec s = HostSpec();
  s.linux->cgroups_path = "/default/c1";
  oci::Spec g = GuestSpec(s, "c1", false, c);
  EXPECT_TRUE(g.linux->seccomp.has_value());
  EXPECT_EQ(*g.linux->cgroups_path, "/default/c1");
  EXPECT_FALSE(*g.process->terminal);
}

TEST(GuestSpecTest, ProcessAndResources) {
  oci::Process p;
  p.args = std::vector<std::string>{"ls", "-l"};
  p.cwd = "/tmp";
  ::grpc::Process w = GuestProcess(p, true);
  EXPECT_TRUE(w.terminal());
  EXPECT_EQ(w.args_size(), 2);
  EXPECT_EQ(w.cwd(), "/tmp");
  oci::LinuxResources r;
  r.devices = std::vector<oci::LinuxDeviceCgroup>(1);
  r.pids.emplace();
  r.pids->limit = 10;
  ::grpc::LinuxResources wr = GuestResources(r);
  EXPECT_EQ(wr.devices_size(), 0);
  EXPECT_EQ(wr.pids().limit(), 10);
}

TEST(ParseMountOptionsTest, FlagsPropagationAndData) {
  ParsedMountOptions p = ParseMountOptions(
      {"ro", "nosuid", "rbind", "rslave", "lowerdir=/a:/b", "upperdir=/u", "index=off"});
  EXPECT_EQ(p.flags, static_cast<unsigned long>(MS_RDONLY | MS_NOSUID | MS_BIND | MS_REC));
  EXPECT_EQ(p.propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_EQ(p.data, "lowerdir=/a:/b,upperdir=/u,index=off");
  EXPECT_EQ(ParseMountOptions({"ro", "rw"}).flags, 0u);
}

}  // namespace
}  // namespace kata::runtime
