// Taking a process's clean file pages out of its memory: QEMU keeps the guest kernel and
// initrd files mapped for as long as it runs (its loader's ROM blobs point into the mapped
// kernel ELF, fw_cfg into the initrd, both for a reset), though once the guest has booted it
// runs from its own copy in guest RAM. process_madvise(2) with MADV_PAGEOUT on those mappings
// drops their pages from QEMU's RSS (the page cache drops them too); a later reset reads them
// back from the files.
//
//   KATA_ASSIGN_OR_RETURN(PageOutResult r, PageOutFileMappings(qemu_pid, {kernel, initrd}));
//
// Contracts: files are matched by device and inode (the path QEMU was given, a symlink or a
// renamed file do not matter); only the mappings of those files are advised; the pages stay
// valid (a clean file page is re-read on the next access), so this is a hint that never breaks
// the process. Needs pidfd_open and process_madvise (Linux 5.10) and the right to advise the
// process (CAP_SYS_NICE and ptrace read access: root over its child): UNIMPLEMENTED when the
// kernel lacks them, PERMISSION_DENIED without the right, NOT_FOUND for a file that cannot be
// stat'ed or a process that is gone; each naming the pid and the cause.
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_PAGE_OUT_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_PAGE_OUT_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kata::hypervisor::qemu {

// One line of /proc/PID/maps that maps a file (inode != 0).
struct FileMapping {
  uint64_t start = 0;  // [start, end) in the process's address space
  uint64_t end = 0;
  dev_t dev = 0;  // the file's device (makedev(major, minor)) and inode
  ino_t inode = 0;
};

// The file mappings in the text of a /proc/PID/maps file (anonymous and special mappings
// skipped). INVALID_ARGUMENT quoting the first malformed line.
absl::StatusOr<std::vector<FileMapping>> ParseFileMappings(absl::string_view maps);

struct PageOutResult {
  size_t mappings = 0;  // mappings of the files found in the process
  size_t bytes = 0;     // their total size (what was advised; resident or not)
};

// MADV_PAGEOUT on every mapping in process `pid` of the files at `paths` (empty paths
// skipped). No mapping found: OK with zeros.
absl::StatusOr<PageOutResult> PageOutFileMappings(pid_t pid, const std::vector<std::string>& paths);

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_PAGE_OUT_H_
