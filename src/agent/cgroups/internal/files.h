// Private helpers of the cgroup managers: cgroupfs file access with errors that name the
// cgroup directory and file, directory creation/removal, and a write plan that is checked
// before and rolled back after a failure.
#ifndef KATA_SRC_AGENT_CGROUPS_INTERNAL_FILES_H_
#define KATA_SRC_AGENT_CGROUPS_INTERNAL_FILES_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace internal {

// "cgroup <dir>: <what>" errors.
absl::Status CgroupError(const std::string& dir, int err, absl::string_view what);
absl::Status CgroupMessage(absl::StatusCode code, const std::string& dir, absl::string_view what);

bool FileExists(const std::string& dir, const std::string& file);
absl::StatusOr<std::string> ReadFile(const std::string& dir, const std::string& file);
// One write(2) of `value` (cgroupfs takes one value per write).
absl::Status WriteFile(const std::string& dir, const std::string& file, absl::string_view value);
// The file's single number; "max" reads as UINT64_MAX.
absl::StatusOr<uint64_t> ReadUint(const std::string& dir, const std::string& file);
// "key value" lines (cpu.stat, memory.events, ...). Lines that do not parse are skipped.
absl::StatusOr<std::map<std::string, uint64_t>> ReadKeyValues(const std::string& dir,
                                                              const std::string& file);
// The pids listed in <dir>/cgroup.procs.
absl::StatusOr<std::vector<pid_t>> ReadProcs(const std::string& dir);

// INVALID_ARGUMENT unless `path` is a relative path without "." or ".." components.
absl::Status ValidateRelativePath(absl::string_view path);

// Creates `base`/`rel` and missing parents below `base` (which must exist); appends the
// directories it created, outermost first, to `created`.
absl::Status MkdirAll(const std::string& base, absl::string_view rel,
                      std::vector<std::string>* created);
// Removes `dirs` in reverse order (innermost first); ignores ENOENT; returns the first
// error but tries every directory.
absl::Status RemoveDirs(const std::vector<std::string>& dirs);
// rmdir with a few retries on EBUSY (a process that just exited may still be accounted).
absl::Status RemoveDir(const std::string& dir);

// One planned write.
struct Write {
  std::string dir;
  std::string file;
  std::string value;
  bool restorable = true;  // false: the file is not a single value (e.g. throttle lists)
};

// Checks that every file exists (FAILED_PRECONDITION naming the first missing one, nothing
// written), saves the restorable ones, writes in order; on a failed write restores the
// saved values in reverse order (best effort) and returns the write's error.
absl::Status ApplyWrites(const std::vector<Write>& writes);

// Polls `done` every few milliseconds until it returns true, an error, or `timeout` passes
// (DEADLINE_EXCEEDED with `what`).
absl::Status WaitUntil(const std::function<absl::StatusOr<bool>()>& done, absl::Duration timeout,
                       const std::string& dir, absl::string_view what);

}  // namespace internal
}  // namespace cgroups
}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CGROUPS_INTERNAL_FILES_H_
