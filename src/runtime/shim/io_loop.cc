#include "src/runtime/shim/io_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_util.h"
#include "src/runtime/shim/log.h"

namespace kata {
namespace shim {

IoLoop& IoLoop::Shared() {
  static IoLoop* const loop = new IoLoop();  // never destroyed: callbacks may outlive main
  return *loop;
}

IoLoop::IoLoop()
    : epoll_fd_(epoll_create1(EPOLL_CLOEXEC)), wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!epoll_fd_ || !wake_fd_) {
    SHIM_LOG(Error) << "stdio loop: " << ErrnoStatus(errno, "epoll/eventfd");
    std::abort();  // no descriptors left at start-up: nothing could be copied
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_.get();
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev);
  thread_ = std::thread([this] { Run(); });
}

IoLoop::~IoLoop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  uint64_t one = 1;
  (void)!write(wake_fd_.get(), &one, sizeof(one));
  thread_.join();
}

void IoLoop::Post(Task task) {
  {
    absl::MutexLock l(&mu_);
    tasks_.push_back(std::move(task));
  }
  uint64_t one = 1;
  (void)!write(wake_fd_.get(), &one, sizeof(one));
}

absl::Status IoLoop::Watch(int fd, uint32_t events, Callback callback) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  const bool known = watches_.count(fd) > 0;
  if (epoll_ctl(epoll_fd_.get(), known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
    return ErrnoStatus(errno, absl::StrCat("stdio loop: watch fd ", fd));
  }
  watches_[fd] = std::make_shared<Callback>(std::move(callback));
  return absl::OkStatus();
}

void IoLoop::Unwatch(int fd) {
  if (watches_.erase(fd) > 0) epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void IoLoop::RunTasks() {
  uint64_t count;
  (void)!read(wake_fd_.get(), &count, sizeof(count));
  std::deque<Task> tasks;
  {
    absl::MutexLock l(&mu_);
    tasks.swap(tasks_);
  }
  for (Task& t : tasks) t();
}

void IoLoop::Run() {
  epoll_event events[64];
  for (;;) {
    int n = RetryEintr([&] { return epoll_wait(epoll_fd_.get(), events, 64, -1); });
    if (n < 0) {
      SHIM_LOG(Error) << "stdio loop: " << ErrnoStatus(errno, "epoll_wait");
      return;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_.get()) {
        RunTasks();
        continue;
      }
      auto it = watches_.find(fd);
      if (it == watches_.end()) continue;  // unwatched by an earlier callback of this round
      std::shared_ptr<Callback> callback = it->second;
      (*callback)(events[i].events);
    }
    absl::MutexLock l(&mu_);
    if (stopping_ && tasks_.empty()) return;
  }
}

}  // namespace shim
}  // namespace kata
