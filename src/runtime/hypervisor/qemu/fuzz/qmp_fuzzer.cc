// libFuzzer target for the QMP client (../qmp.h) reading what QEMU sends. QEMU runs the guest,
// so its monitor output is as untrusted as the guest: the input is the byte stream a QMP server
// writes (greeting, replies, events, in any order, then EOF), played by an in-process server
// on a unix socket while a QmpClient connects, negotiates, runs two commands and takes two
// events. The client's command ids are predictable ("kata-1" for qmp_capabilities, then
// "kata-2" query-status, "kata-3" device_del), so the corpus can answer them.
//
// Checked: no crash, no sanitizer report, and no hang (the server closes its side after the
// input, so every call ends; libFuzzer's -timeout catches one that does not).
// Built by `tools/fuzz/run.sh qmp`; :qmp_fuzzer_regression replays corpus/ under `bazel test`.
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/runtime/hypervisor/qemu/qmp.h"

namespace {

using kata::hypervisor::qemu::QmpClient;

void Die(const char* what) {
  std::fprintf(stderr, "qmp_fuzzer: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

// The listening socket, made once per process in a fresh directory under /tmp (Bazel's
// TEST_TMPDIR is too long for a socket path), removed at exit.
struct Listener {
  std::string dir, path;
  int fd = -1;
};

void RemoveSocket();

const Listener& GetListener() {
  static const Listener* const listener = [] {
    std::string dir = "/tmp/qmp-fuzz-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) Die("mkdtemp");
    auto* l = new Listener;
    l->dir = dir;
    l->path = dir + "/qmp.sock";
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0) Die("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (l->path.size() >= sizeof(addr.sun_path)) Die("socket path too long");
    std::memcpy(addr.sun_path, l->path.c_str(), l->path.size() + 1);
    if (bind(l->fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Die("bind");
    if (listen(l->fd, 4) != 0) Die("listen");
    return l;
  }();
  static const bool registered = std::atexit(RemoveSocket) == 0;
  (void)registered;
  return *listener;
}

void RemoveSocket() {
  const Listener& l = GetListener();
  unlink(l.path.c_str());
  rmdir(l.dir.c_str());
}

// The server's side of one connection: sends `data`, closes its writing side, then reads
// (and drops) what the client sends until the client closes.
void Serve(int listen_fd, const std::string& data) {
  int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) Die("accept");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the client closed first (EPIPE)
    off += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
  }
  close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Listener& listener = GetListener();
  std::thread server(Serve, listener.fd, std::string(reinterpret_cast<const char*>(data), size));
  {
    absl::StatusOr<std::unique_ptr<QmpClient>> client =
        QmpClient::Connect(listener.path, absl::Seconds(5));
    if (client.ok()) {
      QmpClient& qmp = **client;
      (void)qmp.qemu_version();
      (void)qmp.Execute("query-status", "", absl::Seconds(5));
      (void)qmp.Execute("device_del", R"({"id":"blk0"})", absl::Seconds(5));
      (void)qmp.WaitEvent("DEVICE_DELETED", absl::ZeroDuration(),
                          kata::hypervisor::qemu::DeviceDeletedMatcher("blk0"));
      (void)qmp.WaitEvent("SHUTDOWN", absl::ZeroDuration());
      qmp.Close();
    }
  }  // the client's socket is closed here, which ends the server's read
  server.join();
  return 0;
}
