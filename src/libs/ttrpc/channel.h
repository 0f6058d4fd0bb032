// Channel: one connected byte stream (unix or vsock socket, socketpair, a virtio-serial
// character device) carrying ttRPC frames in both directions.
//
// Writes are whole frames and thread-safe: concurrent WriteFrame calls never interleave.
// Reading is done by one owner thread with ReadFrames. Shutdown() makes a blocked
// ReadFrames return and later writes fail; the fd is closed by the destructor.
#ifndef KATA_SRC_LIBS_TTRPC_CHANNEL_H_
#define KATA_SRC_LIBS_TTRPC_CHANNEL_H_

#include <atomic>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
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

  // Reads until the stream ends (OK on a clean end of stream) or fails (UNAVAILABLE),
  // feeding `sink` (see FrameDecoder). Call from one thread only.
  template <class Sink> absl::Status ReadFrames(Sink& sink);

  // Ends both directions: a blocked ReadFrames returns, later writes fail. Idempotent.
  void Shutdown();

  bool is_shut_down() const { return shut_down_.load(std::memory_order_acquire); }

 private:
  // One read into buf: >0 bytes, 0 at end of stream (or after Shutdown), <0 -errno.
  long ReadSome(char* buf, size_t size);

  const int fd_;
  const bool is_socket_;
  int wake_fd_ = -1;  // eventfd that interrupts reads on non-socket fds
  std::atomic<bool> shut_down_{false};
  absl::Mutex write_mu_;
  bool broken_ ABSL_GUARDED_BY(write_mu_) = false;
};

template <class Sink> absl::Status Channel::ReadFrames(Sink& sink) {
  FrameDecoder decoder;
  constexpr size_t kBufferSize = 64 << 10;
  std::unique_ptr<char[]> buf(new char[kBufferSize]);
  for (;;) {
    long n = ReadSome(buf.get(), kBufferSize);
    if (n == 0) return absl::OkStatus();
    if (n < 0) return absl::UnavailableError("ttrpc: read failed");
    decoder.Feed(absl::string_view(buf.get(), static_cast<size_t>(n)), sink);
  }
}

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_CHANNEL_H_
