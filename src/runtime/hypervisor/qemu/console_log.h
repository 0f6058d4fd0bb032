// The guest's serial console, kept on the host in a bounded space.
//
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<ConsoleReader> console,
//                         ConsoleReader::Start(work_dir + "/console.log", 1 << 20));
//   argv: "-chardev", StrCat("socket,id=console0,fd=", console->qemu_fd()), "-serial", ...
//   ... spawn QEMU (it inherits qemu_fd()) ...
//   console->ReleaseQemuFd();   // only QEMU holds its end now: its exit is our EOF
//   ...
//   console.reset();            // after QEMU is gone: drains what is left, joins the thread
//
// RotatingFile: an append-only file that never grows past `max_bytes`: when the next bytes
// would not fit, the file is renamed to `<path>.1` (replacing the older one) and a new empty
// file is started, so at most 2 * max_bytes are kept (the newest output). Both files are
// created 0600 (root only) with O_NOFOLLOW|O_EXCL through their directory's fd; a fresh
// RotatingFile truncates `<path>` and removes an old `<path>.1`.
//
// ConsoleReader: a connected unix socket pair; QEMU writes the console into one end
// (`-chardev socket,fd=N`, non-blocking), one thread reads the other and appends to a
// RotatingFile. The reader never stalls QEMU: the socket is non-blocking on QEMU's side (a full
// socket makes QEMU's UART drop bytes after a few retries rather than wait), and the thread
// reads as fast as the file takes it; bytes the file refuses (ENOSPC, EIO) are counted as
// dropped and reading goes on. The thread ends at EOF (QEMU exited and nobody else holds its
// end) or when the ConsoleReader is destroyed (it first drains what is already buffered).
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_CONSOLE_LOG_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_CONSOLE_LOG_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/base/unique_fd.h"

namespace kata::hypervisor::qemu {

// The smallest cap a RotatingFile accepts (a console line or two must fit).
inline constexpr uint64_t kMinConsoleLogBytes = 4096;

class RotatingFile {
 public:
  // INVALID_ARGUMENT for a relative path or max_bytes < kMinConsoleLogBytes; an errno status
  // naming the file when it cannot be created (a symlink in its place: ELOOP).
  static absl::StatusOr<std::unique_ptr<RotatingFile>> Open(const std::string& path,
                                                            uint64_t max_bytes);
  // Appends `data`, rotating as often as needed (only the newest 2 * max_bytes survive). On an
  // error the bytes not written are lost and the next Append tries again (reopening the file
  // if the rotation failed half-way).
  absl::Status Append(absl::string_view data);
  // Bytes in `<path>` now.
  uint64_t size() const { return size_; }
  uint64_t rotations() const { return rotations_; }

 private:
  RotatingFile(UniqueFd dir, std::string name, std::string path, uint64_t max_bytes)
      : dir_(std::move(dir)),
        name_(std::move(name)),
        path_(std::move(path)),
        max_bytes_(max_bytes) {}
  // <path> -> <path>.1, then a new empty <path>.
  absl::Status Rotate();
  // Creates <path> afresh (unlinking what is there), 0600.
  absl::Status CreateFile();

  const UniqueFd dir_;
  const std::string name_;  // the last component of path_
  const std::string path_;
  const uint64_t max_bytes_;
  UniqueFd fd_;  // invalid after a failed rotation, until CreateFile succeeds
  uint64_t size_ = 0;
  uint64_t rotations_ = 0;
};

class ConsoleReader {
 public:
  struct Stats {
    uint64_t bytes_read = 0;     // taken from the socket
    uint64_t bytes_dropped = 0;  // read but refused by the file
    uint64_t rotations = 0;
  };

  // The log (RotatingFile::Open's errors), the socket pair and the reading thread.
  static absl::StatusOr<std::unique_ptr<ConsoleReader>> Start(const std::string& path,
                                                              uint64_t max_bytes);
  ~ConsoleReader();
  ConsoleReader(const ConsoleReader&) = delete;
  ConsoleReader& operator=(const ConsoleReader&) = delete;

  // QEMU's end (non-blocking, close-on-exec: hand it to the child explicitly); -1 once released.
  int qemu_fd() const { return qemu_end_.get(); }
  // Closes this process's copy of QEMU's end (after QEMU has inherited it, or failed to start).
  void ReleaseQemuFd() { qemu_end_.reset(); }
  // Blocks until the thread has ended (EOF: every holder of QEMU's end closed it).
  void WaitForEof();
  // Asks the thread to drain what the socket holds now and end; returns once it has.
  // Idempotent; the destructor calls it.
  void Stop();
  Stats stats() const;

 private:
  ConsoleReader(std::unique_ptr<RotatingFile> file, UniqueFd ours, UniqueFd qemu_end,
                UniqueFd stop);
  // The thread: poll the socket and the stop eventfd; read, append; drain and end on stop.
  void Run();
  // Reads what the socket holds now into the file; false at EOF or a socket error.
  bool Drain();

  std::unique_ptr<RotatingFile> file_;  // only the thread touches it once started
  const UniqueFd ours_;
  UniqueFd qemu_end_;
  const UniqueFd stop_;  // eventfd: the destructor asks the thread to finish
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_dropped_{0};
  std::atomic<uint64_t> rotations_{0};
  std::thread thread_;
};

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_CONSOLE_LOG_H_
