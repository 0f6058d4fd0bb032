// kata::UniqueFd: sole owner of a file descriptor, closed when the owner goes away.
//
//   UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
//   if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", path));
//   ... read(fd.get(), ...) ...            // closed at the end of the scope
//   int raw = fd.release();                // hand it to someone else: no longer closed here
//
// Contract: move-only; -1 (or any negative value) means "no descriptor". The destructor and
// reset() close the descriptor they drop (close(2) once, never retried: on Linux the descriptor
// is gone even when close reports EINTR) and leave errno as it was, so a caller may still read
// errno after an early return that destroyed a UniqueFd. Not thread-safe (like an int).
#ifndef KATA_SRC_LIBS_BASE_UNIQUE_FD_H_
#define KATA_SRC_LIBS_BASE_UNIQUE_FD_H_

namespace kata {

class UniqueFd {
 public:
  UniqueFd() = default;
  // Takes ownership of `fd` (negative: holds nothing).
  explicit UniqueFd(int fd) : fd_(fd < 0 ? -1 : fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  // The descriptor, or -1; still owned by this object.
  int get() const { return fd_; }
  // Gives up ownership: returns the descriptor (or -1) and holds nothing.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the held descriptor (if any, and if it is not `fd`) and takes ownership of `fd`.
  void reset(int fd = -1);

  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

 private:
  int fd_ = -1;
};

}  // namespace kata

#endif  // KATA_SRC_LIBS_BASE_UNIQUE_FD_H_
