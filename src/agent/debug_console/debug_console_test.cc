// The debug console with the host's /bin/sh: over a unix listen address (as vsock) and over a
// socketpair standing in for a virtio-serial port.
#include "src/agent/debug_console/debug_console.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/io.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/ttrpc/address.h"

namespace kata {
namespace agent {
namespace {

using ::testing::HasSubstr;

// What the host reads until the end marker (and the marker's exit code), or until `timeout`
// (code -1 then).
struct Read {
  std::string text;
  int code = -1;
};
Read ReadSession(int fd, absl::Duration timeout = absl::Seconds(30)) {
  Read r;
  const absl::Time deadline = absl::Now() + timeout;
  char buf[4096];
  while (absl::Now() < deadline) {
    const size_t at = r.text.find(kSessionEndPrefix);
    if (at != std::string::npos) {
      const size_t end = r.text.find(kSessionEndSuffix, at);
      if (end != std::string::npos) {
        const size_t from = at + strlen(kSessionEndPrefix);
        if (!absl::SimpleAtoi(r.text.substr(from, end - from), &r.code)) r.code = -2;
        r.text.resize(at);
        return r;
      }
    }
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    r.text.append(buf, static_cast<size_t>(n));
  }
  return r;
}

UniqueFd Connect(const std::string& address) {
  absl::StatusOr<ttrpc::Address> a = ttrpc::ParseAddress(address);
  EXPECT_TRUE(a.ok()) << a.status();
  absl::StatusOr<int> fd = ttrpc::Dial(*a, absl::Seconds(5));
  EXPECT_TRUE(fd.ok()) << fd.status();
  return UniqueFd(fd.ok() ? *fd : -1);
}

DebugConsole::Options Sh() {
  DebugConsole::Options o;
  o.shell = {"/bin/sh"};
  o.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "PS1=$ "};
  return o;
}

// Gone or a zombie: the process no longer runs.
bool Ended(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadFileToString(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return true;
  const size_t paren = stat->rfind(')');
  return paren != std::string::npos && stat->size() > paren + 2 && (*stat)[paren + 2] == 'Z';
}

pid_t WaitPidFile(const std::string& path) {
  for (int i = 0; i < 300; ++i) {
    absl::StatusOr<std::string> s = ReadFileToString(path);
    int pid = 0;
    if (s.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*s), &pid) && pid > 0) return pid;
    usleep(20000);
  }
  return -1;
}

TEST(DebugConsoleTest, ListenSessionsRunTheShellAndEndWithItsExitCode) {
  kata::testing::TempDir dir("/tmp");
  const std::string addr = absl::StrCat("unix://", dir.Join("dc.sock"));
  absl::StatusOr<AgentAddress> where = ParseAgentAddress(addr);
  ASSERT_TRUE(where.ok()) << where.status();
  absl::StatusOr<std::unique_ptr<DebugConsole>> console = DebugConsole::Start(*where, Sh());
  ASSERT_TRUE(console.ok()) << console.status();

  UniqueFd c = Connect(addr);
  ASSERT_TRUE(c);
  ASSERT_TRUE(WriteAll(c.get(), "echo $((6*7))MARK; tty; exit 3\n").ok());
  Read r = ReadSession(c.get());
  EXPECT_EQ(r.code, 3) << r.text;
  EXPECT_THAT(r.text, HasSubstr("42MARK"));
  EXPECT_THAT(r.text, HasSubstr("/dev/pts/"));  // a terminal of its own
  c.reset();

  // The next host gets a new shell.
  c = Connect(addr);
  ASSERT_TRUE(c);
  ASSERT_TRUE(WriteAll(c.get(), "echo again\nexit\n").ok());
  r = ReadSession(c.get());
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_THAT(r.text, HasSubstr("again"));
  EXPECT_EQ((*console)->sessions(), 2);
  (*console)->Stop();
}

TEST(DebugConsoleTest, AHostThatGoesTakesTheShellAndItsJobsWithIt) {
  kata::testing::TempDir dir("/tmp");
  const std::string addr = absl::StrCat("unix://", dir.Join("dc.sock"));
  absl::StatusOr<AgentAddress> where = ParseAgentAddress(addr);
  ASSERT_TRUE(where.ok());
  absl::StatusOr<std::unique_ptr<DebugConsole>> console = DebugConsole::Start(*where, Sh());
  ASSERT_TRUE(console.ok()) << console.status();
  UniqueFd c = Connect(addr);
  ASSERT_TRUE(c);
  ASSERT_TRUE(WriteAll(c.get(), absl::StrCat("sleep 1000 & echo $! > ", dir.Join("bg.pid"),
                                             "; echo $$ > ", dir.Join("sh.pid"), "\n"))
                  .ok());
  const pid_t bg = WaitPidFile(dir.Join("bg.pid"));
  const pid_t sh = WaitPidFile(dir.Join("sh.pid"));
  ASSERT_GT(bg, 0);
  ASSERT_GT(sh, 0);
  EXPECT_FALSE(Ended(sh));
  c.reset();  // the host goes
  bool ended = false;
  for (int i = 0; i < 500 && !ended; ++i) {
    ended = Ended(sh) && Ended(bg);
    if (!ended) usleep(20000);
  }
  EXPECT_TRUE(ended) << "shell " << sh << " or its job " << bg << " still runs";

  // Stop while a session runs returns and takes that shell too.
  c = Connect(addr);
  ASSERT_TRUE(WriteAll(c.get(), absl::StrCat("echo $$ > ", dir.Join("sh2.pid"), "\n")).ok());
  const pid_t sh2 = WaitPidFile(dir.Join("sh2.pid"));
  ASSERT_GT(sh2, 0);
  (*console)->Stop();
  EXPECT_TRUE(Ended(sh2));
}

TEST(DebugConsoleTest, SerialPortSessionAndAShellThatCannotStart) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd host(sv[0]), port(sv[1]);
  ASSERT_EQ(fcntl(port.get(), F_SETFL, O_NONBLOCK), 0);
  DebugConsole::Options o = Sh();
  o.open_device = [&](const std::string&) -> absl::StatusOr<UniqueFd> {
    return UniqueFd(fcntl(port.get(), F_DUPFD_CLOEXEC, 3));
  };
  absl::StatusOr<AgentAddress> where = ParseAgentAddress("serial:///dev/vport9p9");
  ASSERT_TRUE(where.ok());
  absl::StatusOr<std::unique_ptr<DebugConsole>> console = DebugConsole::Start(*where, o);
  ASSERT_TRUE(console.ok()) << console.status();
  EXPECT_EQ((*console)->endpoint(), "/dev/vport9p9");
  ASSERT_TRUE(WriteAll(host.get(), "echo hi-from-serial; exit 5\n").ok());
  Read r = ReadSession(host.get());
  EXPECT_EQ(r.code, 5) << r.text;
  EXPECT_THAT(r.text, HasSubstr("hi-from-serial"));
  // The same host stays, sending only the ^D of its stdin's end: no new shell.
  ASSERT_TRUE(WriteAll(host.get(), "\x04").ok());
  usleep(300000);
  EXPECT_EQ((*console)->sessions(), 1);
  // A host that talks (a new client whose connection came with the old one's close): a new
  // session at once, its input not lost.
  ASSERT_TRUE(WriteAll(host.get(), "echo second-session; exit 6\n").ok());
  r = ReadSession(host.get());
  EXPECT_EQ(r.code, 6) << r.text;
  EXPECT_THAT(r.text, HasSubstr("second-session"));
  EXPECT_EQ((*console)->sessions(), 2);
  (*console)->Stop();

  // A shell that cannot start: the host is told, with code 127.
  o.shell = {"/no/such/shell"};
  console = DebugConsole::Start(*where, o);
  ASSERT_TRUE(console.ok()) << console.status();
  r = ReadSession(host.get());
  EXPECT_EQ(r.code, 127) << r.text;
  EXPECT_THAT(r.text, HasSubstr("/no/such/shell"));
}

TEST(DebugConsoleTest, BadAddressesFailWithTheAddress) {
  absl::StatusOr<AgentAddress> where = ParseAgentAddress("serial://no.such.port");
  ASSERT_TRUE(where.ok());
  kata::testing::TempDir dir;
  DebugConsole::Options o = Sh();
  o.roots = {dir.path(), dir.path()};
  absl::StatusOr<std::unique_ptr<DebugConsole>> console = DebugConsole::Start(*where, o);
  ASSERT_FALSE(console.ok());
  EXPECT_THAT(console.status().message(), HasSubstr("no.such.port"));
}

}  // namespace
}  // namespace agent
}  // namespace kata
