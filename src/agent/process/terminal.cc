#include "src/agent/process/terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "src/libs/base/eintr.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace internal {
namespace {

// Sends `fd` with one byte over the unix socket `sock` (SCM_RIGHTS); false (errno) on failure.
bool SendFd(int sock, int fd) {
  char byte = 0;
  struct iovec iov = {&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof(control));
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return RetryEintr([&] { return sendmsg(sock, &msg, MSG_NOSIGNAL); }) == 1;
}

// A new pty master from the devpts of the caller's root as it is now: /dev/ptmx (runc's rootfs
// makes it a link to pts/ptmx), else /dev/pts/ptmx, else the agent's /dev/ptmx. -1 and the
// errno of the first attempt on failure.
int OpenPtyMaster(int agent_dev_fd) {
  constexpr int kFlags = O_RDWR | O_NOCTTY | O_CLOEXEC;
  int fd = open("/dev/ptmx", kFlags);
  if (fd >= 0) return fd;
  const int first_errno = errno;
  fd = open("/dev/pts/ptmx", kFlags);
  if (fd < 0 && agent_dev_fd >= 0) fd = openat(agent_dev_fd, "ptmx", kFlags);
  if (fd < 0) errno = first_errno;
  return fd;
}

// The slave of `master`, set up as the caller's terminal (size, controlling terminal, fds
// 0-2). nullptr or the failed step (errno set).
const char* InstallSlave(int master, const TerminalPlan& plan) {
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) != 0) return "terminal: unlockpt";
  const int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) return "terminal: open the pty slave";
  const char* failed = nullptr;
  if (plan.rows != 0 || plan.cols != 0) {
    struct winsize ws = {plan.rows, plan.cols, 0, 0};
    if (ioctl(slave, TIOCSWINSZ, &ws) != 0) failed = "terminal: TIOCSWINSZ";
  }
  if (failed == nullptr && ioctl(slave, TIOCSCTTY, 0) != 0) failed = "terminal: ioctl TIOCSCTTY";
  for (int i = 0; failed == nullptr && i < 3; ++i) {
    if (dup2(slave, i) < 0) failed = "terminal: dup2";
  }
  const int err = errno;
  close(slave);
  errno = err;
  return failed;
}

}  // namespace

const char* SetupTerminalInChild(const TerminalPlan& plan) {
  const int master = OpenPtyMaster(plan.agent_dev_fd);
  if (master < 0) return "terminal: open /dev/ptmx";
  const char* failed = InstallSlave(master, plan);
  if (failed == nullptr && !SendFd(plan.console_fd, master)) {
    failed = "terminal: send the pty master";
  }
  const int err = errno;
  close(master);
  if (failed == nullptr) {
    close(plan.console_fd);
    if (plan.agent_dev_fd >= 0) close(plan.agent_dev_fd);
  }
  errno = err;
  return failed;
}

absl::StatusOr<UniqueFd> ReceivePtyMaster(int console_fd) {
  char byte;
  struct iovec iov = {&byte, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  const ssize_t n = RetryEintr([&] { return recvmsg(console_fd, &msg, MSG_CMSG_CLOEXEC); });
  if (n < 0) return ErrnoStatus(errno, "terminal: receive the pty master");
  struct cmsghdr* c = n > 0 ? CMSG_FIRSTHDR(&msg) : nullptr;
  if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
      c->cmsg_len != CMSG_LEN(sizeof(int))) {
    return absl::InternalError("terminal: the child sent no pty master");
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return UniqueFd(fd);
}

}  // namespace internal
}  // namespace agent
}  // namespace kata
