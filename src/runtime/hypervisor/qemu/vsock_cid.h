// A vhost-vsock guest CID that no other VM on the host has (issue 11 item 13: every VM used to
// get CID 3, so a second pod's QEMU failed). As Kata does, the CID is claimed on an open
// /dev/vhost-vsock fd with the VHOST_VSOCK_SET_GUEST_CID ioctl; the kernel refuses a CID some
// other fd holds (EADDRINUSE), so concurrent allocations, in this process or others, never
// get the same one. The fd keeps the CID while it (or a copy: QEMU's vhostfd) is open.
//
//   KATA_ASSIGN_OR_RETURN(VsockCid v, AllocateVsockCid({}));
//   // pass v.fd to QEMU as vhost-vsock's vhostfd, guest-cid=v.cid; dial (v.cid, port)
//
// The device and the ioctl are injectable (tests use a fake kernel).
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_VSOCK_CID_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_VSOCK_CID_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "src/libs/base/unique_fd.h"

namespace kata::hypervisor::qemu {

struct VsockCid {
  uint32_t cid = 0;
  UniqueFd fd;  // the device fd that holds `cid`
};

// Claims `cid` on device fd `fd`: 0 when the fd now holds it, else an errno (EADDRINUSE: another
// fd holds it). Default: ioctl(fd, VHOST_VSOCK_SET_GUEST_CID, &cid).
using VsockCidProbe = std::function<int(int fd, uint64_t cid)>;

struct VsockCidOptions {
  std::string device = "/dev/vhost-vsock";  // opened O_RDWR | O_CLOEXEC
  uint32_t first = 3;                       // CIDs 0-2 are reserved
  uint32_t last = 0xFFFF;                   // tried in order first..last
  VsockCidProbe probe;                      // empty: the ioctl
};

// The first CID in [first, last] the probe grants. Errors: the device's open errno
// ("vhost-vsock /dev/vhost-vsock: ..."), any probe errno but EADDRINUSE (naming the CID),
// RESOURCE_EXHAUSTED when every CID is taken, INVALID_ARGUMENT for first < 3 or first > last.
absl::StatusOr<VsockCid> AllocateVsockCid(const VsockCidOptions& options);

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_VSOCK_CID_H_
