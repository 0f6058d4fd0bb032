// Whole-buffer reads and writes on a file descriptor.
//
//   KATA_RETURN_IF_ERROR(WriteAll(pipe_fd, payload));
//   KATA_ASSIGN_OR_RETURN(std::string out, ReadAll(stdout_fd));
//
// Contract: both retry EINTR and short transfers, and expect a blocking descriptor (EAGAIN on a
// non-blocking one is an error). Neither closes `fd`. Errors are ErrnoStatus values naming the
// descriptor and the cause ("write fd 7: EPIPE (Broken pipe)"). On error, part of the data may
// already have been written (WriteAll) or consumed (ReadAll).
#ifndef KATA_SRC_LIBS_BASE_IO_H_
#define KATA_SRC_LIBS_BASE_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kata {

// Writes all of `data` to `fd`.
absl::Status WriteAll(int fd, absl::string_view data);

// Reads `fd` until end of file and returns everything read.
absl::StatusOr<std::string> ReadAll(int fd);

}  // namespace kata

#endif  // KATA_SRC_LIBS_BASE_IO_H_
