// Whole-file reads and writes by path.
//
//   KATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString("/proc/self/status"));
//   KATA_RETURN_IF_ERROR(WriteStringToFile(dir + "/config.json", json));
//
// Contract: ReadFileToString reads the file to end of file (so /proc and /sys files, whose
// size is 0, work). WriteStringToFile creates the file (mode 0644 less the umask) or truncates
// it, writes `data` and closes it, reporting close errors too; it is not atomic (a reader may see
// a partial file). Symlinks are followed. Errors name the path and the cause
// ("open /x/y: ENOENT (No such file or directory)"), with the code ErrnoStatus gives the errno.
#ifndef KATA_SRC_LIBS_BASE_FILE_H_
#define KATA_SRC_LIBS_BASE_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kata {

// The whole content of the file at `path`.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Replaces the content of the file at `path` with `data`, creating the file if needed.
absl::Status WriteStringToFile(const std::string& path, absl::string_view data);

}  // namespace kata

#endif  // KATA_SRC_LIBS_BASE_FILE_H_
