// OCI mount options ("ro", "nosuid", "rbind", "rprivate", "mode=755", ...) turned into the
// arguments of mount(2).
//
//   MountOptions o = ParseMountOptions({"rbind", "ro", "rslave", "size=64k"});
//   // o.flags == MS_BIND | MS_REC | MS_RDONLY, o.propagation == {MS_SLAVE | MS_REC},
//   // o.data == "size=64k"
//
// Contract:
// - Known flag options set (or, for their negations "rw", "suid", "dev", "exec", "atime",
//   ..., clear) bits in `flags`; a later option wins over an earlier one ("ro,rw" is rw).
// - Propagation options ("private", "rshared", "slave", "runbindable", ...) never enter
//   `flags`: each becomes one element of `propagation`, in order, because the kernel takes
//   one propagation change per mount(2) call, after the mount exists.
// - "defaults" is accepted and does nothing. Every other option (including "mode=755",
//   "size=65536k", "gid=5", "newinstance", unknown words) is filesystem data: it is appended
//   to `data`, comma separated, in order.
// Parsing never fails; it needs no privileges.
#ifndef KATA_SRC_AGENT_ROOTFS_MOUNT_OPTIONS_H_
#define KATA_SRC_AGENT_ROOTFS_MOUNT_OPTIONS_H_

#include <string>
#include <vector>

namespace kata {
namespace rootfs {

struct MountOptions {
  unsigned long flags = 0;                 // MS_* for mount(2)
  std::vector<unsigned long> propagation;  // MS_{PRIVATE,SHARED,SLAVE,UNBINDABLE}[|MS_REC]
  std::string data;                        // the filesystem-specific options

  // True when the options ask for a bind mount ("bind" or "rbind").
  bool IsBind() const;
};

MountOptions ParseMountOptions(const std::vector<std::string>& options);

// The propagation flags of one option ("rslave" -> MS_SLAVE | MS_REC), or 0 when `option`
// is not a propagation option.
unsigned long PropagationFlags(const std::string& option);

}  // namespace rootfs
}  // namespace kata

#endif  // KATA_SRC_AGENT_ROOTFS_MOUNT_OPTIONS_H_
