// VmSandbox: the host block devices given to containers, hot-plugged into the VM.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/runtime/sandbox/vm_sandbox_impl.h"

namespace kata::runtime::internal {

absl::StatusOr<std::shared_ptr<VmLink>> VmSandbox::Link(SandboxOp op) const {
  absl::MutexLock l(&mu_);
  KATA_RETURN_IF_ERROR(CheckSandboxOp(o_.id, state_, op));
  return link_;
}

absl::StatusOr<hypervisor::DeviceInfo> VmSandbox::PlugOne(VmLink* link, HostBlockDevice device,
                                                          bool read_only,
                                                          std::vector<PluggedDevice>* plugged) {
  const std::string what =
      absl::StrCat("device ", device.container_path, " (", device.host_path, ")");
  KATA_RETURN_IF_ERROR(ClaimHostDevice(device));  // names the device
  const std::string vm_id = absl::StrCat("blk", next_device_++);
  absl::StatusOr<hypervisor::DeviceInfo> info =
      link->HotplugBlockDevice({.id = vm_id, .path = device.host_path, .read_only = read_only});
  if (!info.ok()) {
    absl::Status s = info.status();
    if (absl::IsResourceExhausted(s)) {
      s = absl::ResourceExhaustedError(
          absl::StrCat(s.message(),
                       ": hypervisor.qemu.pcie_root_port says how many block devices a pod "
                       "may hold"));
    }
    return AnnotateStatus(s, what);
  }
  plugged->push_back({vm_id, std::move(device)});
  return info;
}

std::optional<HostBlockRootfs> VmSandbox::BlockRootfsOf(const ContainerConfig& config,
                                                        const VmLink* link) const {
  if (link == nullptr || config.rootfs_mounts.size() != 1 ||
      o_.config.hypervisor.disable_block_device_use || !link->CanHotplugBlockDevices()) {
    return std::nullopt;
  }
  const RootfsMount& m = config.rootfs_mounts[0];
  return HostBlockRootfsOf(m.type, m.source, m.options);
}

absl::StatusOr<std::vector<VmSandbox::PluggedDevice>> VmSandbox::PlugDevices(
    VmLink* link, std::optional<HostBlockRootfs> rootfs, oci::Spec* spec,
    ::grpc::CreateContainerRequest* req, std::string* guest_root) {
  KATA_ASSIGN_OR_RETURN(std::vector<HostBlockDevice> devices, HostBlockDevicesOf(*spec));
  std::vector<HostBlockVolume> volumes = HostBlockVolumesOf(*spec);
  std::vector<PluggedDevice> plugged;
  if (devices.empty() && volumes.empty() && !rootfs) return plugged;
  if (link == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox ", o_.id, " has no VM to pass block devices to"));
  }
  absl::Cleanup undo = [&] { UnplugDevices(link, std::move(plugged)).IgnoreError(); };
  if (rootfs) {
    const bool read_only =
        std::find(rootfs->options.begin(), rootfs->options.end(), "ro") != rootfs->options.end();
    KATA_ASSIGN_OR_RETURN(hypervisor::DeviceInfo info,
                          PlugOne(link, std::move(rootfs->device), read_only, &plugged));
    // Mounted by the agent before it makes the container, which has it as its root.
    ::grpc::Storage* st = req->add_storages();
    st->set_driver("blk");
    st->set_source(info.pci_path);
    st->set_fstype(rootfs->fstype);
    for (const std::string& o : rootfs->options) st->add_options(o);
    st->set_mount_point(absl::StrCat(kGuestBlockVolumeDir, plugged.back().vm_id));
    *guest_root = st->mount_point();
  }
  for (HostBlockDevice& d : devices) {
    const std::string container_path = d.container_path;
    KATA_ASSIGN_OR_RETURN(hypervisor::DeviceInfo info,
                          PlugOne(link, std::move(d), /*read_only=*/false, &plugged));
    ::grpc::Device* g = req->add_devices();
    g->set_type("blk");
    g->set_id(info.pci_path);
    g->set_container_path(container_path);
  }
  for (HostBlockVolume& v : volumes) {
    KATA_ASSIGN_OR_RETURN(hypervisor::DeviceInfo info,
                          PlugOne(link, std::move(v.device), v.read_only, &plugged));
    // Mounted once in the guest (by the agent, released with the container), then bound into
    // the container as the spec says.
    ::grpc::Storage* st = req->add_storages();
    st->set_driver("blk");
    st->set_source(info.pci_path);
    st->set_fstype(kBlockVolumeFsType);
    if (v.read_only) st->add_options("ro");
    st->set_mount_point(absl::StrCat(kGuestBlockVolumeDir, plugged.back().vm_id));
    (*spec->mounts)[v.mount_index].source = st->mount_point();
  }
  std::move(undo).Cancel();
  return plugged;
}

absl::Status VmSandbox::ReleaseDevices(const std::string& cid) {
  std::vector<PluggedDevice> plugged;
  std::shared_ptr<VmLink> link;
  {
    absl::MutexLock l(&mu_);
    auto it = devices_.find(cid);
    if (it == devices_.end()) return absl::OkStatus();
    plugged = std::move(it->second);
    devices_.erase(it);
    if (state_ == SandboxState::kRunning) link = link_;
  }
  // A dead VM took its devices along: their claims just end.
  return link ? UnplugDevices(link.get(), std::move(plugged)) : absl::OkStatus();
}

absl::Status VmSandbox::UnplugDevices(VmLink* link, std::vector<PluggedDevice> devices) {
  absl::Status first;
  std::vector<PluggedDevice> stuck;
  // Last plugged, first unplugged.
  for (auto it = devices.rbegin(); it != devices.rend(); ++it) {
    absl::Status s = link->UnplugDevice(it->vm_id);
    if (s.ok() || absl::IsNotFound(s)) continue;  // NOT_FOUND: the VM is gone with it
    if (first.ok()) {
      first = AnnotateStatus(
          s, absl::StrCat("device ", it->host.container_path, " (", it->host.host_path, ")"));
    }
    if (link->State() != hypervisor::VmState::kStopped) stuck.push_back(std::move(*it));
  }
  if (!stuck.empty()) {
    absl::MutexLock l(&mu_);
    for (PluggedDevice& d : stuck) stuck_devices_.push_back(std::move(d));
  }
  return first;
}

}  // namespace kata::runtime::internal
