// Small helpers for building absl::Status values with useful messages.
//
//   return ErrnoStatus(errno, absl::StrCat("container ", id, ": mount /proc"));
//     -> e.g. INTERNAL/NOT_FOUND/... "container c1: mount /proc: EBUSY (Device or resource busy)"
//   return AnnotateStatus(status, "device /dev/vda");
//     -> same code, "device /dev/vda: <original message>"
#ifndef KATA_SRC_LIBS_BASE_STATUS_UTIL_H_
#define KATA_SRC_LIBS_BASE_STATUS_UTIL_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kata {

// A status for a failed system call: the code follows the errno (ENOENT -> NOT_FOUND,
// EEXIST -> ALREADY_EXISTS, EACCES/EPERM -> PERMISSION_DENIED, EINVAL -> INVALID_ARGUMENT,
// EBUSY/EAGAIN -> UNAVAILABLE, ...), the message is "<what>: <ENAME> (<strerror>)".
absl::Status ErrnoStatus(int err, absl::string_view what);

// `status` with `context` prepended to its message ("context: message"); OK stays OK.
absl::Status AnnotateStatus(const absl::Status& status, absl::string_view context);

}  // namespace kata

#endif  // KATA_SRC_LIBS_BASE_STATUS_UTIL_H_
