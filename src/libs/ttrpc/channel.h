// Channel: one connected byte stream (unix or vsock socket, socketpair, a virtio-serial
// character device) carrying ttRPC frames in both directions.
//
// Writes are whole frames and thread-safe: concurrent WriteFrame calls never interleave.
// Reads (ReadSome) are done by one thread at a time, feeding a FrameDecoder. Shutdown() makes a blocked
// ReadFrames return and later writes fail; the fd is closed by the destructor.
#ifndef KATA_SRC_LIBS_TTRPC_CHANNEL_H_
#define KATA_SRC_LIBS_TTRPC_CHANNEL_H_

#include <atomic>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/ttrpc/frame.h"

namespace kata {
namespace ttrpc {

class Channel {
 public:
  // Takes ownership of `fd`.
  explicit Channel(int fd);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Writes a frame with `data` (header.length is set from data). Fails with
  // RESOURCE_EXHAUSTED if data is over kMaxFrameData, UNAVAILABLE once the stream is broken
  // or shut down.
  absl::Status WriteFrame(FrameHeader header, absl::string_view data);

  // One read of whatever has arrived, waiting until `deadline`: the number of bytes (>0),
  // 0 at the end of the stream or after Shutdown, -ETIMEDOUT when the deadline passed, or
  // another -errno. One reader at a time.
  long ReadSome(char* buf, size_t size, absl::Time deadline = absl::InfiniteFuture());

  // Ends both directions: a blocked ReadFrames returns, later writes fail. Idempotent.
  void Shutdown();

  bool is_shut_down() const { return shut_down_.load(std::memory_order_acquire); }

 private:
  const int fd_;
  const bool is_socket_;
  int wake_fd_ = -1;  // eventfd that interrupts reads on non-socket fds
  std::atomic<bool> shut_down_{false};
  absl::Mutex write_mu_;
  bool broken_ ABSL_GUARDED_BY(write_mu_) = false;
};

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_CHANNEL_H_
