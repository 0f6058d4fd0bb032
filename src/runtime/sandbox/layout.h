// The host side of one sandbox: its directories, what it shares with the guest (container
// rootfs and volumes), and their removal. Kata's layout (after CVE-2020-2026):
//
//   <shared_root>/<sid>/                     0700: no other host user gets in
//   <shared_root>/<sid>/mounts/              the host-only tree: everything the host creates
//                                            and mounts lives here (a shared mount of itself)
//   <shared_root>/<sid>/mounts/<cid>/rootfs  containerd's rootfs mounts, or a bind of a ready
//                                            rootfs directory
//   <shared_root>/<sid>/mounts/<cid>/volumes/<n>-<name>   host paths the spec bind-mounts,
//                                            their spec source rewritten to match
//   <shared_root>/<sid>/shared/              the guest's view: a READ-ONLY slave bind of
//                                            mounts/, exported to the guest (tag "kataShared")
//                                            and mounted by the agent at
//                                            /run/kata-containers/shared/containers/; mounts
//                                            made in mounts/ appear here with their own flags
//                                            (a rootfs stays writable, a ro volume read-only)
//   <vm_root>/<sid>/                         0700: the VMM's sockets, logs and vmm.pid
//
// The guest sees /run/kata-containers/shared/containers/<cid>/rootfs and .../<cid>/volumes/..
// as before, but can write nothing in the share outside the mounts (EROFS), so it cannot plant
// a symlink where the host will create or mount something. The host never resolves a path
// through a directory the guest can write: it creates and mounts fd-relative in mounts/
// (mkdirat, O_NOFOLLOW, mounts onto a descriptor), so a symlink found there anyway is never
// followed (the container fails with ALREADY_EXISTS instead). Every mount below <sid> is
// nosuid,nodev.
//
//   SandboxLayout layout("s1", paths);
//   KATA_RETURN_IF_ERROR(layout.Create());                 // ALREADY_EXISTS if any is there
//   KATA_ASSIGN_OR_RETURN(oci::Spec guest, layout.ShareContainer(config));
//   KATA_RETURN_IF_ERROR(layout.UnshareContainer("c1"));
//   KATA_RETURN_IF_ERROR(layout.Remove());                 // unmounts first, then deletes
//
// Contracts: nothing is ever removed through a mount: everything below a directory is
// unmounted (UMOUNT_NOFOLLOW) first, and while anything is still mounted there removal fails
// (FAILED_PRECONDITION naming the mounts) and deletes nothing; deletion goes through directory
// descriptors and stops at anything on another mount. A failed ShareContainer leaves nothing
// behind; never takes over the directories of another sandbox with the same id. Not
// thread-safe for the same container id (the sandbox serializes those).
#ifndef KATA_SRC_RUNTIME_SANDBOX_LAYOUT_H_
#define KATA_SRC_RUNTIME_SANDBOX_LAYOUT_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/oci/spec.h"
#include "src/libs/protocols/agent.pb.h"
#include "src/runtime/hypervisor/factory.h"
#include "src/runtime/sandbox/host_mounts.h"
#include "src/runtime/sandbox/sandbox.h"

namespace kata::runtime {

inline constexpr char kSharedRoot[] = "/run/kata-containers/shared/sandboxes";
inline constexpr char kVmRoot[] = "/run/vc/vm";
// Where the agent mounts the share in the guest.
inline constexpr char kGuestSharedDir[] = "/run/kata-containers/shared/containers/";
inline constexpr char kShareMountTag[] = "kataShared";
// Where the shim of a sandbox keeps its management socket, as Kata's Go shim does:
// <kShimStateRoot>/<sid>/shim-monitor.sock (the directory 0700, the socket 0600), HTTP
// GET /metrics (src/runtime/shim/monitor.h).
inline constexpr char kShimStateRoot[] = "/run/vc/sbs";
inline constexpr char kShimMonitorSocket[] = "shim-monitor.sock";

// How the share reaches the guest (the hypervisor's shared_fs).
enum class ShareKind { k9p, kVirtioFs };

struct SandboxPaths {
  std::string shared_root = kSharedRoot;
  std::string vm_root = kVmRoot;
};

class SandboxLayout {
 public:
  // `sandbox_id` must have passed CheckId.
  SandboxLayout(std::string sandbox_id, SandboxPaths paths);

  const std::string& sandbox_dir() const { return sandbox_dir_; }
  const std::string& shared_dir() const { return shared_dir_; }
  const std::string& vm_dir() const { return vm_dir_; }
  // Where the VM's share and files go, for the hypervisor factory.
  hypervisor::VmLayout ForVm() const;
  // How the guest mounts the share (the storage CreateSandbox carries): 9p or virtiofs, tag
  // kataShared, at kGuestSharedDir.
  ::grpc::Storage GuestShareStorage(ShareKind kind) const;

  // Creates the sandbox's directories. ALREADY_EXISTS (changing nothing) when the sandbox
  // or VM directory exists: the same id is running, or a dead one left it (CleanupSandbox).
  absl::Status Create();

  // Records the VMM's pid, so CleanupSandbox can kill a VMM whose owner died.
  absl::Status RecordVmmPid(pid_t pid);

  // Makes `config`'s rootfs and volumes visible to the guest under shared/<cid>/ (mounted in
  // mounts/<cid>/) and returns config.spec with the volumes' sources rewritten to the guest's
  // view (root.path is the guest spec's business: see guest_spec.h). A bind mount whose
  // source resolves to /proc, /sys or /dev (or below), or is a block device (a block volume,
  // hot-plugged by the sandbox: host_devices.h), is left unchanged; a
  // "rbind","ro" volume is read-only with every submount. INVALID_ARGUMENT for a missing or
  // relative rootfs without a bundle; ALREADY_EXISTS when mounts/<cid> is taken (by anything,
  // a symlink too); the mount's errno otherwise. Undone on failure. With share_rootfs false
  // the rootfs is left out (a block-device rootfs the sandbox hot-plugs instead):
  // shared/<cid>/rootfs stays an empty directory.
  absl::StatusOr<oci::Spec> ShareContainer(const ContainerConfig& config, bool share_rootfs = true);

  // Unmounts and removes what ShareContainer made for `cid`. OK when there is nothing.
  absl::Status UnshareContainer(const std::string& cid);

  // Unmounts everything below the sandbox's directories and removes them.
  absl::Status Remove();

 private:
  absl::Status MountRootfs(const ContainerConfig& config, const MountTarget& target);
  absl::Status ShareVolumes(const std::string& cid, int cid_fd, oci::Spec* spec);

  const std::string id_;
  const std::string sandbox_dir_, shared_dir_, mounts_dir_, vm_dir_;
};

// Cleans up after a sandbox whose owner died (the shim's `delete` command): kills a VMM
// still recorded for it (only if an argument of its command line names exactly the sandbox's
// VM directory: id "abc" never matches "abcd"), unmounts everything under its directories,
// removes them. OK when there is nothing to clean.
absl::Status CleanupSandbox(const std::string& sandbox_id, const SandboxPaths& paths = {});

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_LAYOUT_H_
