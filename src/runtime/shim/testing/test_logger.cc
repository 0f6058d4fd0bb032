// A containerd logging binary for tests (binary_log_test): `test_logger file PATH [mode M]`.
// Writes PATH.meta (its argv, environment, what fd 0 is), closes fd 5 (ready), then copies
// fd 3 to PATH.out and fd 4 to PATH.err until both reach EOF, appends "eof" to PATH.meta and
// exits 0. On SIGTERM it appends "sigterm" and exits 0. Modes:
//   never-ready   never closes fd 5 (and waits for a signal);
//   linger        after EOF, waits for a signal instead of exiting;
//   ignore-term   ignores SIGTERM (and lingers): only SIGKILL ends it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

extern char** environ;

namespace {

int g_meta = -1;

void Append(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void OnTerm(int) {
  static const char kMsg[] = "sigterm\n";
  ssize_t n = write(g_meta, kMsg, sizeof(kMsg) - 1);
  (void)n;
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string path, mode;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "file") == 0) path = argv[i + 1];
    if (std::strcmp(argv[i], "mode") == 0) mode = argv[i + 1];
  }
  if (path.empty()) return 2;
  g_meta = open((path + ".meta").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  int out = open((path + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err = open((path + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (g_meta < 0 || out < 0 || err < 0) return 3;
  std::string meta = "argv:";
  for (int i = 1; i < argc; ++i) meta += std::string(" ") + argv[i];
  meta += "\n";
  for (char** e = environ; *e != nullptr; ++e) meta += std::string("env: ") + *e + "\n";
  char fd0[256] = {};
  ssize_t l = readlink("/proc/self/fd/0", fd0, sizeof(fd0) - 1);
  meta += "fd0: " + std::string(fd0, l > 0 ? static_cast<size_t>(l) : 0) + "\n";
  Append(g_meta, meta);
  signal(SIGTERM, mode == "ignore-term" ? SIG_IGN : OnTerm);
  if (mode == "never-ready") {
    for (;;) pause();
  }
  close(5);  // ready

  pollfd fds[2] = {{3, POLLIN, 0}, {4, POLLIN, 0}};
  int dest[2] = {out, err};
  int open_streams = 2;
  while (open_streams > 0) {
    if (poll(fds, 2, -1) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        fds[i].fd = -1;
        --open_streams;
        continue;
      }
      Append(dest[i], std::string(buf, static_cast<size_t>(n)));
    }
  }
  Append(g_meta, "eof\n");
  if (mode == "linger" || mode == "ignore-term") {
    for (;;) pause();
  }
  return 0;
}
