// kata::RetryEintr: repeat a system call interrupted by a signal.
//
//   ssize_t n = RetryEintr([&] { return read(fd, buf, size); });
//   pid_t pid = RetryEintr([&] { return waitpid(child, &status, 0); });
//
// Contract: calls f() and calls it again as long as it returns -1 with errno == EINTR; returns
// the first other result, with errno as f() left it. f() must return an integer type (int,
// ssize_t, pid_t, ...). Do not wrap close(2) (on Linux the descriptor is released even when it
// reports EINTR; retrying could close a descriptor another thread has just opened).
#ifndef KATA_SRC_LIBS_BASE_EINTR_H_
#define KATA_SRC_LIBS_BASE_EINTR_H_

#include <errno.h>

#include <type_traits>

namespace kata {

template <typename F>
auto RetryEintr(F&& f) -> decltype(f()) {
  using Result = decltype(f());
  static_assert(std::is_integral<Result>::value, "RetryEintr: f() must return an integer");
  Result result;
  do {
    result = f();
  } while (result == -1 && errno == EINTR);
  return result;
}

}  // namespace kata

#endif  // KATA_SRC_LIBS_BASE_EINTR_H_
