#include "src/runtime/hypervisor/qemu/vsock_cid.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_util.h"

namespace kata::hypervisor::qemu {
namespace {

// <linux/vhost.h>'s value (that header does not compile as C++: virtio_ring.h).
constexpr unsigned long kVhostVsockSetGuestCid = _IOW(0xAF, 0x60, uint64_t);

int SetGuestCid(int fd, uint64_t cid) {
  return ioctl(fd, kVhostVsockSetGuestCid, &cid) == 0 ? 0 : errno;
}

}  // namespace

absl::StatusOr<VsockCid> AllocateVsockCid(const VsockCidOptions& options) {
  if (options.first < 3 || options.first > options.last) {
    return absl::InvalidArgumentError(absl::StrCat("vhost-vsock: bad guest CID range ",
                                                   options.first, "..", options.last,
                                                   " (CIDs start at 3)"));
  }
  VsockCid v;
  v.fd.reset(open(options.device.c_str(), O_RDWR | O_CLOEXEC));
  if (!v.fd) return ErrnoStatus(errno, absl::StrCat("vhost-vsock ", options.device));
  const VsockCidProbe probe = options.probe ? options.probe : SetGuestCid;
  for (uint64_t cid = options.first; cid <= options.last; ++cid) {
    const int err = probe(v.fd.get(), cid);
    if (err == 0) {
      v.cid = static_cast<uint32_t>(cid);
      return v;
    }
    if (err != EADDRINUSE) {
      return ErrnoStatus(err,
                         absl::StrCat("vhost-vsock ", options.device, ": set guest CID ", cid));
    }
  }
  return absl::ResourceExhaustedError(absl::StrCat("vhost-vsock ", options.device,
                                                   ": every guest CID in ", options.first, "..",
                                                   options.last, " is in use"));
}

}  // namespace kata::hypervisor::qemu
