// The storages of Kata's agent API (grpc.Storage in CreateSandbox and CreateContainer):
// filesystems the agent mounts in the guest before containers use them (a rootfs shared
// over 9p, a volume on a block device, a tmpfs, a directory).
//
//   StorageManager storages({});
//   KATA_ASSIGN_OR_RETURN(std::vector<std::string> held, storages.Add(request.storages()));
//   ...                                    // the container uses them
//   storages.Release(held);                // unmounted when the last holder releases
//
// Drivers (grpc.Storage.driver, Kata's names):
// - "9p": mount(source = the mount tag, e.g. "kataShared", fstype "9p", options such as
//   trans=virtio,version=9p2000.L,cache=mmap,nodev).
// - "virtio-fs" / "virtiofs": mount(source = the tag, fstype "virtiofs", options).
// - "blk", "mmioblk", "scsi": the block device named by `source` (device/devices.h: PCI path,
//   node path, SCSI address) is waited for (at most options.devices.timeout), then mounted
//   with `fstype` (required) and options.
// - "ephemeral": a tmpfs (fstype/source default "tmpfs") with the options.
// - "bind": bind mount of the guest path `source` (options: "ro" remounts read-only,
//   propagation options apply after the mount).
// - "overlayfs": an overlay mount, options carry lowerdir=/upperdir=/workdir= (upperdir and
//   workdir are created when missing).
// - "local": no mount: the directory mount_point is created with the "mode=NNNN" of the
//   options (octal, default 0777) and removed again with its contents on release.
// Every driver but "local" creates mount_point (and its parents, 0755) first.
// fs_group (Kubernetes' fsGroup), when set, is applied once mounted: every file gets the
// group and group rw, directories setgid (OnRootMismatch: skipped when the root already
// has the group).
//
// Promises:
// - mount_point must be an absolute path without "." or ".." components: INVALID_ARGUMENT.
//   An unknown driver: UNIMPLEMENTED naming it. Failures name the storage and the cause
//   ("storage 9p kataShared at /run/...: mount: ENOENT ...").
// - Add is all or nothing: on error what it mounted (and the references it took) is undone.
// - Storages are reference counted by mount_point: adding a mount_point that is already held
//   takes one more reference without mounting again; Release drops one reference per entry
//   and unmounts (umount2, lazily when busy) at the last one, removing the directories Add
//   created. Release is best effort: it does all it can and returns the first error.
// Thread-safe.
#ifndef KATA_SRC_AGENT_STORAGE_STORAGE_H_
#define KATA_SRC_AGENT_STORAGE_STORAGE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/repeated_field.h"
#include "src/agent/device/devices.h"
#include "src/libs/protocols/agent.pb.h"

namespace kata {
namespace agent {

struct StorageOptions {
  device::DeviceOptions devices;
};

class StorageManager {
 public:
  explicit StorageManager(StorageOptions options);
  // Releases nothing: the owner releases what it holds (mounts outlive a crashed agent's
  // objects by design, as the guest goes away with them).
  ~StorageManager() = default;

  // The drivers this agent knows (for GetGuestDetails).
  static std::vector<std::string> Drivers();

  // Mounts (or references) each storage in order; returns their mount points, one per
  // storage, for Release.
  absl::StatusOr<std::vector<std::string>> Add(
      const google::protobuf::RepeatedPtrField<grpc::Storage>& storages);
  absl::Status Release(const std::vector<std::string>& mount_points);

  // Mount points currently held, with their reference counts.
  std::map<std::string, int> Held();

 private:
  struct Entry {
    int refs = 0;
    bool mounted = false;              // umount at release
    bool remove_tree = false;          // "local": rm -rf mount_point at release
    std::vector<std::string> created;  // directories Add created, deepest last
  };
  absl::Status Mount(const grpc::Storage& s, Entry* e);
  absl::Status Unmount(const std::string& mount_point, const Entry& e);
  // One storage of Add: a new mount, or one more reference.
  absl::Status AddOneLocked(const grpc::Storage& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReleaseLocked(const std::vector<std::string>& mount_points)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StorageOptions options_;
  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_STORAGE_STORAGE_H_
