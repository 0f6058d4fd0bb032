// The real containerd-shim-kata-v2 binary (argv[1]): `start` re-executes it as the daemon with
// the listening socket as fd 3. Issue 11 item 6: that socket leaked into QEMU (the daemon's
// child), so after the shim died containerd could still connect and hung. Here: every fd of
// the running daemon beyond stdio is close-on-exec (nothing reaches a child it spawns), and
// once the daemon is killed its socket refuses connections. Root (/run/containerd/s).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/runtime/shim/socket_address.h"

namespace kata::shim {
namespace {

std::string g_shim;  // argv[1]

// Runs `argv` with cwd `dir`, stdin /dev/null; returns its stdout (exit status in *status).
std::string RunIn(const std::string& dir, const std::vector<std::string>& argv, int* status) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return "";
  const pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(126);
    const int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    dup2(out[1], 1);
    std::vector<char*> cargv;
    for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  close(out[1]);
  std::string got;
  char buf[512];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
  close(out[0]);
  waitpid(pid, status, 0);
  return got;
}

// fd -> the "flags:" of /proc/<pid>/fdinfo/<fd> (octal; O_CLOEXEC shows FD_CLOEXEC).
std::map<int, int> FdFlags(pid_t pid) {
  std::map<int, int> flags;
  const std::string dir = absl::StrCat("/proc/", pid, "/fdinfo");
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    int fd = 0;
    if (!absl::SimpleAtoi(e.path().filename().string(), &fd)) continue;
    absl::StatusOr<std::string> info = ReadFileToString(e.path().string());
    if (!info.ok()) continue;  // closed meanwhile
    for (absl::string_view line : absl::StrSplit(*info, '\n')) {
      if (absl::ConsumePrefix(&line, "flags:")) {
        flags[fd] = static_cast<int>(
            std::strtol(std::string(absl::StripAsciiWhitespace(line)).c_str(), nullptr, 8));
      }
    }
  }
  return flags;
}

bool Connects(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof(addr.sun_path) - 1));
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

// A daemon started by `shim start` in `dir` (a bundle with a config.json), as containerd does.
struct Daemon {
  std::vector<std::string> common;  // the shim's flags, for `start` and `delete`
  std::string path;                 // its socket
  pid_t pid = 0;
};

void StartDaemon(const kata::testing::TempDir& dir, const std::string& id, Daemon* d) {
  ASSERT_EQ(geteuid(), 0u) << "the shim listens under /run/containerd/s: run as root";
  ASSERT_FALSE(g_shim.empty()) << "pass the containerd-shim-kata-v2 binary as argv[1]";
  ASSERT_TRUE(
      WriteStringToFile(
          dir.Join("config.json"),
          R"({"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["true"],"cwd":"/"},)"
          R"("root":{"path":"rootfs"}})")
          .ok());
  const std::string containerd = dir.Join("containerd.sock");
  d->common = {g_shim, "-namespace", "kata-fd-test", "-address", containerd,
               "-id",  id,           "-bundle",      dir.path()};
  std::vector<std::string> start = d->common;
  start.push_back("start");
  int status = -1;
  const std::string address = RunIn(dir.path(), start, &status);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "start: status " << status;
  d->path = SocketPath(address);
  ASSERT_EQ(address, SocketAddress(containerd, "kata-fd-test", id));
  absl::StatusOr<std::string> pid_text = ReadFileToString(dir.Join("shim.pid"));
  ASSERT_TRUE(pid_text.ok()) << pid_text.status();
  ASSERT_TRUE(absl::SimpleAtoi(*pid_text, &d->pid));
  ASSERT_TRUE(Connects(d->path)) << "the daemon does not serve on " << d->path;
}

TEST(ShimFdTest, TheDaemonsFdsAreCloseOnExecAndItsSocketDiesWithIt) {
  kata::testing::TempDir dir("/tmp");
  Daemon d;
  ASSERT_NO_FATAL_FAILURE(StartDaemon(dir, absl::StrCat("shimfd", getpid()), &d));
  const pid_t daemon = d.pid;
  const std::string& path = d.path;
  const std::vector<std::string>& common = d.common;
  int status = -1;
  // The socket listens from `start` on; the daemon serves once its accept thread runs.
  const std::string tasks = absl::StrCat("/proc/", daemon, "/task");
  auto threads = [&] {
    size_t n = 0;
    for (const auto& t : std::filesystem::directory_iterator(tasks)) n += t.exists() ? 1 : 0;
    return n;
  };
  for (int i = 0; i < 500 && threads() < 2; ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_GE(threads(), 2u) << "the daemon " << daemon << " never started serving";

  // Every fd the daemon holds beyond 0-2 (fd 3 it was given included) is close-on-exec. Only
  // fds held in two samples count: a library may open a file for an instant (the time zone,
  // via fopen without "e"); ChildProcess closes such strays in QEMU anyway (process_test).
  const std::map<int, int> first = FdFlags(daemon);
  ASSERT_TRUE(first.count(3)) << "the daemon has no fd 3";
  EXPECT_NE(first.at(3) & O_CLOEXEC, 0) << "the daemon's listening socket (fd 3) is inherited";
  absl::SleepFor(absl::Milliseconds(300));
  for (const auto& [fd, f] : FdFlags(daemon)) {
    if (fd <= 2 || first.count(fd) == 0 || (first.at(fd) & O_CLOEXEC) != 0) continue;
    std::error_code ec;
    EXPECT_NE(f & O_CLOEXEC, 0)
        << "fd " << fd << " of the daemon ("
        << std::filesystem::read_symlink(absl::StrCat("/proc/", daemon, "/fd/", fd), ec).string()
        << ") is inherited by its children";
  }

  // The shim crashes: nothing else holds its listening socket, so it refuses connections.
  ASSERT_EQ(kill(daemon, SIGKILL), 0);
  for (int i = 0; i < 200 && kill(daemon, 0) == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_FALSE(Connects(path));
  EXPECT_EQ(errno, ECONNREFUSED);
  // `delete` (what containerd runs after a dead shim) cleans up.
  std::vector<std::string> del = common;
  del.push_back("delete");
  RunIn(dir.path(), del, &status);
  unlink(path.c_str());
}

// SIGTERM (or SIGINT) stops the daemon the way Task.Shutdown does: it stops serving, removes
// its socket and exits. (The main thread waits for the signal itself, on a signalfd.)
TEST(ShimFdTest, SigtermStopsTheDaemonWhichRemovesItsSocketAndExits) {
  for (const int sig : {SIGTERM, SIGINT}) {
    kata::testing::TempDir dir("/tmp");
    Daemon d;
    ASSERT_NO_FATAL_FAILURE(StartDaemon(dir, absl::StrCat("shimterm", getpid(), "-", sig), &d));
    ASSERT_EQ(kill(d.pid, sig), 0);
    bool gone = false;
    for (int i = 0; i < 1000 && !gone; ++i) {
      // Exited: no process, or a zombie its new parent has not reaped yet.
      absl::StatusOr<std::string> stat = ReadFileToString(absl::StrCat("/proc/", d.pid, "/stat"));
      gone = !stat.ok() || absl::StrContains(*stat, ") Z ");
      if (!gone) absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_TRUE(gone) << "signal " << sig << ": the daemon " << d.pid << " still runs after 10 s";
    EXPECT_FALSE(std::filesystem::exists(d.path)) << "signal " << sig << ": " << d.path;
    int status = -1;
    std::vector<std::string> del = d.common;
    del.push_back("delete");
    RunIn(dir.path(), del, &status);
    unlink(d.path.c_str());
  }
}

}  // namespace
}  // namespace kata::shim

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) kata::shim::g_shim = std::filesystem::absolute(argv[1]).string();
  return RUN_ALL_TESTS();
}
