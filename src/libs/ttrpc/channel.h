// Channel: one connected byte stream (unix or vsock socket, socketpair, a virtio-serial
// character device) carrying ttRPC frames in both directions.
//
// Writes are whole frames and thread-safe: concurrent WriteFrame calls never interleave.
// Reads (ReadSome) are done by one thread at a time, feeding a FrameDecoder. Shutdown() makes
// a blocked ReadSome return and later writes fail; the fd is closed by the destructor.
//
// Reads on a socket busy-poll before they sleep, adaptively (like the kernel's halt polling):
// waking a sleeping thread costs tens of microseconds (more in a VM: an inter-processor
// interrupt), while a peer that answers quickly answers within a few. A read first polls
// without blocking for the current spin window (yielding the CPU between tries, so other
// runnable threads are not held up), then sleeps. The window starts at zero, grows
// (doubling, up to the limit, kDefaultBusyPollLimit) after each sleep that data ended within
// the limit, and halves after each that lasted longer: a connection whose peer answers slowly
// or rarely (a guest under emulation, an idle client) soon spins not at all.
//
// Reader-written frames (set_reader_writes; a client's channel): while the reader is awake
// (spinning, or handling what it read, which must not block), frames that other threads write
// are queued (up to 64 KiB) and the reader writes them together: after each yield of its
// spin, when it reads again, and when it stops reading (StopReading). Callers woken by one
// read start their next calls in one system call, and the peer is woken once for them.
//
// Writes never block without bound: a write that makes no progress (the peer does not read)
// for `write_stall_timeout` fails with UNAVAILABLE "ttrpc: write made no progress for 20s
// (the peer does not read): connection closed", and the stream is shut down, so every call
// on it fails rather than hangs.
#ifndef KATA_SRC_LIBS_TTRPC_CHANNEL_H_
#define KATA_SRC_LIBS_TTRPC_CHANNEL_H_

#include <sys/uio.h>

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/ttrpc/frame.h"

namespace kata {
namespace ttrpc {

// How long a write may make no progress before the stream is given up.
inline constexpr absl::Duration kDefaultWriteStallTimeout = absl::Seconds(20);
// The longest a read busy-polls before it sleeps (above); zero turns busy-polling off.
inline constexpr absl::Duration kDefaultBusyPollLimit = absl::Microseconds(50);

class Channel {
 public:
  explicit Channel(UniqueFd fd, absl::Duration write_stall_timeout = kDefaultWriteStallTimeout);
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Writes a frame with `data` (header.length is set from data). Fails with
  // RESOURCE_EXHAUSTED if data is over kMaxFrameData, UNAVAILABLE once the stream is broken
  // or shut down.
  //
  // Writers combine: while one thread is writing, frames from others are queued and that
  // thread writes them too, in one system call, so concurrent writers cost few syscalls.
  // A frame queued behind another writer is reported OK; if the stream then breaks, the
  // reader sees it and fails the calls. With `more_coming`, the frame stays queued (up to
  // 64 KiB) until the next write without it or Flush: a server answering a batch of
  // requests writes the answers together.
  absl::Status WriteFrame(FrameHeader header, absl::string_view data, bool more_coming = false);
  // Writes whatever is queued.
  absl::Status Flush();

  // One read of whatever has arrived, waiting until `deadline`: the number of bytes (>0),
  // 0 at the end of the stream or after Shutdown, -ETIMEDOUT when the deadline passed,
  // -EINTR when `interrupt_fd` (an eventfd, if >= 0) was signalled (it is drained), or
  // another -errno. One reader at a time.
  long ReadSome(char* buf, size_t size, absl::Time deadline = absl::InfiniteFuture(),
                int interrupt_fd = -1);

  // Sets the busy-poll limit (above) before the first read; zero turns it off.
  void set_busy_poll_limit(absl::Duration limit) {
    busy_poll_limit_ns_ = absl::ToInt64Nanoseconds(limit);
    spin_ns_ = 0;
  }
  // Turns reader-written frames (above) on, before the first read. Only for a reader that
  // never blocks between its reads.
  void set_reader_writes(bool on) { reader_writes_ = on; }
  // The reader stops reading for now: what is queued is written, and later frames by their
  // own threads until it reads again.
  void StopReading() { SetReaderAwake(false); }
  // The current spin window (tests).
  absl::Duration spin_window() const { return absl::Nanoseconds(spin_ns_); }

  // Ends both directions: a blocked ReadSome returns, later writes fail. Idempotent.
  void Shutdown();

  bool is_shut_down() const { return shut_down_.load(std::memory_order_acquire); }
  // Why a write broke the stream (e.g. the stall above), or OK.
  absl::Status write_failure() const {
    absl::MutexLock lock(&write_mu_);
    return write_failure_;
  }

 private:
  const UniqueFd fd_;
  const bool is_socket_;
  const absl::Duration write_stall_timeout_;
  UniqueFd wake_fd_;  // eventfd that interrupts reads on non-socket fds
  std::atomic<bool> shut_down_{false};
  // Writes `head` + `data` + whatever is queued, then whatever others queue meanwhile.
  // Called with write_mu_ held and writing_ set; returns with both still so.
  absl::Status WriteLocked(absl::string_view head, absl::string_view data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // ReadSome without the busy-poll: waits in read() or poll().
  long ReadSomeWaiting(char* buf, size_t size, absl::Time deadline, int interrupt_fd);
  // Polls without blocking until `until_ns` (steady clock): the bytes read, 0 at the end of
  // the stream, -errno on failure, or -EAGAIN when nothing came.
  long Spin(char* buf, size_t size, int64_t until_ns);

  // Busy-polling state, used by the one reader (ReadSome callers are serialized).
  int64_t busy_poll_limit_ns_ = absl::ToInt64Nanoseconds(kDefaultBusyPollLimit);
  int64_t spin_ns_ = 0;

  // Writes all of the `iovcnt` buffers (advancing them), or fails with UNAVAILABLE.
  absl::Status WriteIov(struct iovec* iov, int iovcnt);

  mutable absl::Mutex write_mu_;
  bool reader_writes_ = false;
  bool reader_awake_ ABSL_GUARDED_BY(write_mu_) = false;  // it writes what is queued
  // Sets reader_awake_ (with reader_writes_) and writes what is queued.
  void SetReaderAwake(bool awake) ABSL_LOCKS_EXCLUDED(write_mu_);
  absl::Status FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  bool broken_ ABSL_GUARDED_BY(write_mu_) = false;
  absl::Status write_failure_ ABSL_GUARDED_BY(write_mu_);
  bool writing_ ABSL_GUARDED_BY(write_mu_) = false;  // a thread is in write()
  std::string queued_ ABSL_GUARDED_BY(write_mu_);    // frames waiting for that thread
};

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_CHANNEL_H_
