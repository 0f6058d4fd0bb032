#include "src/libs/ttrpc/address.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace ttrpc {
namespace {

absl::Status Bad(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("ttrpc address \"", text, "\": ", why));
}

absl::StatusOr<sockaddr_un> UnixAddr(const Address& a, socklen_t* len) {
  sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  if (a.path.size() >= sizeof(sa.sun_path)) {
    return Bad(a.text, absl::StrCat("socket path longer than ", sizeof(sa.sun_path) - 1));
  }
  std::memcpy(sa.sun_path, a.path.data(), a.path.size());
  if (a.path[0] == '@') sa.sun_path[0] = '\0';
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + a.path.size() +
                                (a.path[0] == '@' ? 0 : 1));
  return sa;
}

// The socket address of a unix or vsock address.
absl::Status SocketAddress(const Address& a, sockaddr_storage* sa, socklen_t* len) {
  *sa = {};
  if (a.kind == Address::Kind::kVsock) {
    auto* vm = reinterpret_cast<sockaddr_vm*>(sa);
    vm->svm_family = AF_VSOCK;
    vm->svm_cid = a.cid;
    vm->svm_port = a.port;
    *len = sizeof(sockaddr_vm);
    return absl::OkStatus();
  }
  KATA_ASSIGN_OR_RETURN(sockaddr_un un, UnixAddr(a, len));
  std::memcpy(sa, &un, sizeof un);
  return absl::OkStatus();
}

// Connects once: the connected socket, or none and the errno in *err.
UniqueFd ConnectOnce(const Address& a, int* err) {
  sockaddr_storage sa;
  socklen_t len = 0;
  if (!SocketAddress(a, &sa, &len).ok()) {
    *err = ENAMETOOLONG;
    return UniqueFd();
  }
  UniqueFd fd(socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  // Not retried on EINTR: the connection then goes on without us (a second connect fails).
  if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
    *err = errno;
    return UniqueFd();
  }
  return fd;
}

// The hybrid-vsock handshake: "CONNECT <port>\n", then a line that contains "OK".
absl::Status HybridHandshake(int fd, const Address& a, absl::Time deadline) {
  const std::string hello = absl::StrCat("CONNECT ", a.port, "\n");
  if (send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size())) {
    return ErrnoStatus(errno, absl::StrCat("ttrpc dial ", a.text, ": send CONNECT"));
  }
  std::string line;
  char c;
  while (line.size() < 256) {
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    struct pollfd p = {fd, POLLIN, 0};
    int r = ms <= 0 ? 0 : poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("ttrpc dial ", a.text, ": no answer to CONNECT"));
    }
    ssize_t n = RetryEintr([&] { return read(fd, &c, 1); });
    if (n <= 0)
      return absl::UnavailableError(absl::StrCat("ttrpc dial ", a.text, ": closed during CONNECT"));
    if (c == '\n') break;
    line.push_back(c);
  }
  if (!absl::StrContains(line, "OK")) {
    return absl::UnavailableError(absl::StrCat("ttrpc dial ", a.text, ": CONNECT refused: ", line));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Address> ParseAddress(absl::string_view text) {
  Address a;
  a.text = std::string(text);
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "unix://") || absl::StartsWith(text, "/")) {
    a.kind = Address::Kind::kUnix;
    a.path = std::string(rest);
    if (a.path.empty()) return Bad(text, "empty socket path");
    if (a.path[0] != '/' && a.path[0] != '@')
      return Bad(text, "socket path must be absolute or @abstract");
    return a;
  }
  if (absl::ConsumePrefix(&rest, "serial://")) {
    a.kind = Address::Kind::kSerial;
    a.path = std::string(rest);
    if (a.path.empty() || a.path[0] != '/') return Bad(text, "device path must be absolute");
    return a;
  }
  const bool hybrid = absl::ConsumePrefix(&rest, "hvsock://");
  if (hybrid || absl::ConsumePrefix(&rest, "vsock://")) {
    size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) return Bad(text, "expected ...:PORT");
    if (!absl::SimpleAtoi(rest.substr(colon + 1), &a.port)) return Bad(text, "bad port");
    absl::string_view head = rest.substr(0, colon);
    if (hybrid) {
      a.kind = Address::Kind::kHybridVsock;
      a.path = std::string(head);
      if (a.path.empty() || a.path[0] != '/') return Bad(text, "VMM socket path must be absolute");
      return a;
    }
    a.kind = Address::Kind::kVsock;
    int64_t cid;
    if (!absl::SimpleAtoi(head, &cid) || cid < -1 || cid > 0xffffffffLL)
      return Bad(text, "bad CID");
    a.cid = cid == -1 ? VMADDR_CID_ANY : static_cast<uint32_t>(cid);
    return a;
  }
  return Bad(text, "expected unix://, vsock://, hvsock:// or serial://");
}

absl::StatusOr<int> Dial(const Address& a, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  if (a.kind == Address::Kind::kSerial) {
    int fd = open(a.path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("ttrpc dial ", a.text));
    return fd;
  }
  absl::Duration backoff = absl::Milliseconds(2);
  for (;;) {
    int err = 0;
    UniqueFd fd = ConnectOnce(a, &err);
    if (fd) {
      if (a.kind != Address::Kind::kHybridVsock) return fd.release();
      absl::Status s = HybridHandshake(fd.get(), a, deadline);
      if (s.ok()) return fd.release();
      fd.reset();
      // The VMM refuses or drops CONNECT while the guest's port is not listening yet
      // (the VM is booting): retry until the deadline, as Kata's dialer does.
      if (absl::Now() + backoff > deadline) return s;
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Milliseconds(100));
      continue;
    }
    const bool retry = err == ECONNREFUSED || err == ENOENT || err == EAGAIN || err == ECONNRESET ||
                       err == ETIMEDOUT;
    if (!retry || absl::Now() + backoff > deadline) {
      return ErrnoStatus(err, absl::StrCat("ttrpc dial ", a.text));
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Milliseconds(100));
  }
}

absl::StatusOr<int> Listen(const Address& a) {
  if (a.kind != Address::Kind::kUnix && a.kind != Address::Kind::kVsock) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttrpc listen ", a.text, ": cannot listen on this kind of address"));
  }
  sockaddr_storage sa;
  socklen_t len = 0;
  KATA_RETURN_IF_ERROR(SocketAddress(a, &sa, &len));
  if (a.kind == Address::Kind::kUnix && a.path[0] != '@') {
    struct stat st;
    if (lstat(a.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return absl::AlreadyExistsError(
            absl::StrCat("ttrpc listen ", a.text, ": a non-socket file is in the way"));
      }
      unlink(a.path.c_str());
    }
  }
  UniqueFd fd(socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("ttrpc listen ", a.text, ": socket"));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0 || listen(fd.get(), 128) != 0) {
    return ErrnoStatus(errno, absl::StrCat("ttrpc listen ", a.text));
  }
  return fd.release();
}

}  // namespace ttrpc
}  // namespace kata
