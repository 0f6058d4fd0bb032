// The shim's one event loop for stdio: a thread that runs posted tasks and file descriptor
// readiness callbacks (epoll), so copying the stdio of every process costs no thread of its own.
//
//   IoLoop& loop = IoLoop::Shared();           // the shim's loop, started on first use
//   loop.Post([] { ... });                     // runs on the loop's thread, in order
//   // on the loop's thread:
//   KATA_RETURN_IF_ERROR(loop.Watch(fd, EPOLLOUT, [](uint32_t events) { ... }));
//   loop.Unwatch(fd);
//
// Contracts:
//   - Post is thread-safe; Watch and Unwatch are called on the loop's thread (in a task or a
//     callback; a callback may unwatch its own descriptor).
//   - Tasks and callbacks run one after another on the one thread, so they must not block.
//   - Watches are level-triggered and last until Unwatch (which must come before the
//     descriptor is closed). Watch of a descriptor epoll refuses (a regular file) is an error.
//   - The destructor runs the tasks already posted, then joins the thread; Shared() is never
//     destroyed. A callback must tolerate a spurious event (EAGAIN on its descriptor).
#ifndef KATA_SRC_RUNTIME_SHIM_IO_LOOP_H_
#define KATA_SRC_RUNTIME_SHIM_IO_LOOP_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace shim {

class IoLoop {
 public:
  using Task = absl::AnyInvocable<void()>;
  using Callback = absl::AnyInvocable<void(uint32_t events)>;

  // The process's loop (the shim's): created and started on first use.
  static IoLoop& Shared();

  IoLoop();
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  void Post(Task task);
  absl::Status Watch(int fd, uint32_t events, Callback callback);
  void Unwatch(int fd);

 private:
  void Run();
  void RunTasks();

  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;  // eventfd: a task was posted
  absl::Mutex mu_;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The loop thread's own: shared so that a callback that unwatches itself lives on until it
  // returns.
  std::map<int, std::shared_ptr<Callback>> watches_;
  std::thread thread_;
};

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_IO_LOOP_H_
