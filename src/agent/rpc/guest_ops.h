// The guest-wide rpcs of grpc.AgentService that touch no container, as functions tests can
// call with fake roots: CopyFile, OnlineCPUMem, SetGuestDateTime.
//
// CopyFile (Kata's semantics; the host copies files such as resolv.conf or ConfigMaps in
// chunks):
// - `path` must be absolute, without "." / ".." components, strictly under `base`
//   (/run/kata-containers), and its deepest existing ancestor must resolve (symlinks
//   followed) under the resolved base: PERMISSION_DENIED naming the path otherwise.
// - Missing parent directories are created with dir_mode (& 07777). The parent is then
//   opened and its real path checked again through the fd; everything after is relative to
//   that fd, and the last component is never followed when it is a symlink.
// - file_mode with S_IFDIR: the directory is created if missing, and gets mode
//   file_mode & 07777 and owner uid/gid through an O_NOFOLLOW fd: a symlink (or a file) at
//   `path` is FAILED_PRECONDITION and nothing changes.
//   S_IFLNK: a symlink `path` -> data, made under a fresh random name and renamed over
//   `path` (an existing file or symlink is replaced).
//   Otherwise: data is written at `offset` into a temp file in the same directory; once it
//   has file_size bytes it gets mode file_mode & 07777 and owner uid/gid (-1 = unchanged)
//   and is renamed to `path` (so readers never see a partial file; a symlink at `path` is
//   replaced, not followed). The temp file: for the whole file in one chunk (offset 0,
//   data of file_size bytes) ".<name>.<random>" created O_CREAT|O_EXCL|O_NOFOLLOW; for a
//   file in several chunks "<path>.tmp" (the next chunks must find it): the chunk at offset
//   0 removes whatever has that name and creates it O_EXCL (mode 0600), later chunks accept
//   only a single-link regular file of the agent's with mode 0600 (else
//   FAILED_PRECONDITION). Nothing planted at a temp name is ever written through.
// OnlineCPUMem: writes "1" to <sysfs>/devices/system/cpu/cpuN/online of offline CPUs until
//   nb_cpus were onlined (retrying up to 100 times, 50 ms apart, for CPUs still being
//   hot-plugged: then DEADLINE_EXCEEDED "onlined 1 of 2 cpus"); then, unless cpu_only, every
//   offline <sysfs>/devices/system/memory/memoryN/online. nb_cpus 0 skips the CPUs.
// SetGuestDateTime: calls `set_time` (settimeofday in the agent) with sec/usec; a usec
//   outside [0, 1e6) or a negative sec is INVALID_ARGUMENT.
#ifndef KATA_SRC_AGENT_RPC_GUEST_OPS_H_
#define KATA_SRC_AGENT_RPC_GUEST_OPS_H_

#include <sys/time.h>

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "src/libs/protocols/agent.pb.h"

namespace kata {
namespace agent {

absl::Status CopyFileUnder(const std::string& base, const grpc::CopyFileRequest& request);

absl::Status OnlineCpuMem(const std::string& sysfs_root, const grpc::OnlineCPUMemRequest& request);

using SetTimeFn = std::function<absl::Status(const struct timeval&)>;
// settimeofday(2).
absl::Status SystemSetTime(const struct timeval& tv);
absl::Status SetGuestDateTime(const SetTimeFn& set_time,
                              const grpc::SetGuestDateTimeRequest& request);

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_RPC_GUEST_OPS_H_
