#include "src/runtime/sandbox/guest_spec.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/libs/oci/spec_proto.h"
#include "src/runtime/sandbox/vm_sandbox.h"

namespace kata::runtime {

std::string GuestRootfsPath(const std::string& container_id) {
  return absl::StrCat(kGuestSharedDir, container_id, "/rootfs");
}

std::optional<std::vector<oci::LinuxDeviceCgroup>> GuestDeviceRules(
    const std::optional<std::vector<oci::LinuxDeviceCgroup>>& rules) {
  if (!rules.has_value()) return std::nullopt;
  std::vector<oci::LinuxDeviceCgroup> kept;
  for (const oci::LinuxDeviceCgroup& r : *rules) {
    const bool numbered =
        (r.major.has_value() && *r.major >= 0) || (r.minor.has_value() && *r.minor >= 0);
    if (numbered) continue;
    // The agent starts from "deny all" + runc's defaults; a spec's leading "deny all" (every
    // containerd spec has one) would deny those defaults again.
    if (kept.empty() && !r.allow) continue;
    kept.push_back(r);
  }
  if (kept.empty()) return std::nullopt;
  return kept;
}

oci::Spec GuestSpec(const oci::Spec& spec, const std::string& container_id, bool terminal,
                    const config::RuntimeConfig& config) {
  oci::Spec g = spec;
  if (!g.root.has_value()) g.root.emplace();
  g.root->path = GuestRootfsPath(container_id);
  g.hooks.reset();
  if (!g.process.has_value()) g.process.emplace();
  g.process->terminal = terminal;
  if (config.hypervisor.disable_guest_selinux) g.process->selinux_label.reset();
  if (g.linux.has_value()) {
    oci::Linux& l = *g.linux;
    if (config.runtime.disable_guest_seccomp) l.seccomp.reset();
    if (config.hypervisor.disable_guest_selinux) l.mount_label.reset();
    if (l.resources.has_value()) {
      // Device rules name host major:minor numbers, which are other devices in the guest
      // (a rule could allow another container's disk there). As Kata's agent does, ours
      // builds the rules itself: deny all, runc's default devices, then an allow for each
      // device passed into the VM under its guest numbers (src/agent/cgroups/cgroups.h).
      // Only the rules without numbers mean the same in the guest (GuestDeviceRules).
      l.resources->devices = GuestDeviceRules(l.resources->devices);
      l.resources->pids.reset();
      l.resources->block_io.reset();
      l.resources->network.reset();
      if (l.resources->cpu.has_value()) {
        l.resources->cpu->cpus.reset();
        l.resources->cpu->mems.reset();
      }
    }
    if (l.namespaces.has_value()) {
      std::vector<oci::LinuxNamespace> kept;
      for (oci::LinuxNamespace ns : *l.namespaces) {
        if (ns.type == "network" || ns.type == "cgroup") continue;
        ns.path.reset();
        kept.push_back(std::move(ns));
      }
      l.namespaces = std::move(kept);
    }
    if (l.cgroups_path.has_value()) {
      std::vector<std::string> parts = absl::StrSplit(*l.cgroups_path, ':');
      if (parts.size() == 3 && !absl::StartsWith(*l.cgroups_path, "/")) {
        l.cgroups_path = absl::StrCat("/", parts[1], "/", parts[2]);
      }
    }
  }
  return g;
}

::grpc::Process GuestProcess(const oci::Process& process, bool terminal) {
  oci::Spec s;
  s.process = process;
  s.process->terminal = terminal;
  return oci::SpecToProto(s).process();
}

::grpc::LinuxResources GuestResources(const oci::LinuxResources& resources) {
  oci::Spec s;
  s.linux.emplace();
  s.linux->resources = resources;
  s.linux->resources->devices.reset();
  return oci::SpecToProto(s).linux().resources();
}

}  // namespace kata::runtime
