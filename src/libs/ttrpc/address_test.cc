#include "src/libs/ttrpc/address.h"

#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/io.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace ttrpc {
namespace {

using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Takes ownership of the descriptor a Listen or Dial returned.
absl::StatusOr<UniqueFd> Owned(absl::StatusOr<int> fd) {
  if (!fd.ok()) return fd.status();
  return UniqueFd(*fd);
}

// Leaves a unix socket file at `path` with no listener behind it (false if it cannot).
bool MakeStaleSocket(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  return fd && bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
}

// Reads exactly n bytes (or less at end of stream / after `timeout`).
std::string ReadN(int fd, size_t n, absl::Duration timeout = absl::Seconds(10)) {
  std::string out;
  const absl::Time deadline = absl::Now() + timeout;
  while (out.size() < n) {
    struct pollfd p = {fd, POLLIN, 0};
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0 || poll(&p, 1, ms) <= 0) break;
    char buf[256];
    ssize_t r = RetryEintr([&] { return read(fd, buf, std::min(sizeof buf, n - out.size())); });
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (line.size() < 1024 && RetryEintr([&] { return read(fd, &c, 1); }) == 1) {
    if (c == '\n') return line;
    line.push_back(c);
  }
  return line;
}

// ---- ParseAddress --------------------------------------------------------------------

TEST(ParseAddressTest, UnixUrl) {
  absl::StatusOr<Address> a = ParseAddress("unix:///run/containerd/s/abc");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kUnix);
  EXPECT_EQ(a->path, "/run/containerd/s/abc");
  EXPECT_EQ(a->text, "unix:///run/containerd/s/abc");
}

TEST(ParseAddressTest, BareAbsolutePathIsUnix) {
  absl::StatusOr<Address> a = ParseAddress("/run/kata/agent.sock");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kUnix);
  EXPECT_EQ(a->path, "/run/kata/agent.sock");
}

TEST(ParseAddressTest, AbstractUnix) {
  absl::StatusOr<Address> a = ParseAddress("unix://@kata-abstract");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kUnix);
  EXPECT_EQ(a->path, "@kata-abstract");
}

TEST(ParseAddressTest, VsockAnyCid) {
  absl::StatusOr<Address> a = ParseAddress("vsock://-1:1024");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kVsock);
  EXPECT_EQ(a->cid, static_cast<uint32_t>(VMADDR_CID_ANY));
  EXPECT_EQ(a->port, 1024u);
}

TEST(ParseAddressTest, VsockCid) {
  absl::StatusOr<Address> a = ParseAddress("vsock://3:1024");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kVsock);
  EXPECT_EQ(a->cid, 3u);
  EXPECT_EQ(a->port, 1024u);
}

TEST(ParseAddressTest, VsockLargestCidAndPort) {
  absl::StatusOr<Address> a = ParseAddress("vsock://4294967295:4294967295");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->cid, 0xFFFFFFFFu);
  EXPECT_EQ(a->port, 0xFFFFFFFFu);
}

TEST(ParseAddressTest, HybridVsock) {
  absl::StatusOr<Address> a = ParseAddress("hvsock:///run/vm.sock:1024");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kHybridVsock);
  EXPECT_EQ(a->path, "/run/vm.sock");
  EXPECT_EQ(a->port, 1024u);
}

TEST(ParseAddressTest, Serial) {
  absl::StatusOr<Address> a = ParseAddress("serial:///dev/vport0p1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kSerial);
  EXPECT_EQ(a->path, "/dev/vport0p1");
}

TEST(ParseAddressTest, RejectsBadAddressesNamingThem) {
  for (const char* bad : {
           "",
           "relative/path.sock",
           "tcp://127.0.0.1:80",
           "unix://",
           "unix://relative.sock",
           "vsock://",
           "vsock://3",
           "vsock://3:",
           "vsock://:1024",
           "vsock://abc:1024",
           "vsock://3:port",
           "vsock://-2:1024",
           "vsock://4294967296:1024",
           "vsock://3:4294967296",
           "vsock://3:-1",
           "hvsock:///run/vm.sock",
           "hvsock://run/vm.sock:1024",
           "hvsock://:1024",
           "hvsock:///run/vm.sock:x",
           "serial://",
           "serial://dev/vport0p1",
       }) {
    absl::StatusOr<Address> a = ParseAddress(bad);
    EXPECT_FALSE(a.ok()) << "accepted \"" << bad << "\"";
    if (a.ok()) continue;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(a.status().message()), HasSubstr(absl::StrCat("\"", bad, "\"")));
  }
}

// ---- Listen / Dial over unix sockets -------------------------------------------------

TEST(ListenDialTest, UnixSocketCarriesBytesBothWays) {
  kata::testing::TempDir dir("/tmp");  // socket paths must fit in 108 bytes
  ASSERT_FALSE(dir.path().empty());
  absl::StatusOr<Address> a = ParseAddress(absl::StrCat("unix://", dir.Join("s.sock")));
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<UniqueFd> lfd = Owned(Listen(*a));
  ASSERT_TRUE(lfd.ok()) << lfd.status();
  absl::StatusOr<UniqueFd> cfd = Owned(Dial(*a, absl::Seconds(5)));
  ASSERT_TRUE(cfd.ok()) << cfd.status();
  UniqueFd sfd(accept(lfd->get(), nullptr, nullptr));
  ASSERT_TRUE(sfd.valid());
  ASSERT_TRUE(WriteAll(cfd->get(), "ping").ok());
  EXPECT_EQ(ReadN(sfd.get(), 4), "ping");
  ASSERT_TRUE(WriteAll(sfd.get(), "pong").ok());
  EXPECT_EQ(ReadN(cfd->get(), 4), "pong");
}

TEST(ListenDialTest, BarePathWorksLikeUnixUrl) {
  kata::testing::TempDir dir("/tmp");
  absl::StatusOr<Address> a = ParseAddress(dir.Join("bare.sock"));
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<UniqueFd> lfd = Owned(Listen(*a));
  ASSERT_TRUE(lfd.ok()) << lfd.status();
  absl::StatusOr<UniqueFd> cfd = Owned(Dial(*a, absl::Seconds(5)));
  ASSERT_TRUE(cfd.ok()) << cfd.status();
}

TEST(ListenDialTest, AbstractUnixSocket) {
  const std::string text = absl::StrCat("unix://@kata-ttrpc-address-test-", getpid(), "-",
                                        absl::ToUnixNanos(absl::Now()));
  absl::StatusOr<Address> a = ParseAddress(text);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<UniqueFd> lfd = Owned(Listen(*a));
  ASSERT_TRUE(lfd.ok()) << lfd.status();
  absl::StatusOr<UniqueFd> cfd = Owned(Dial(*a, absl::Seconds(5)));
  ASSERT_TRUE(cfd.ok()) << cfd.status();
  UniqueFd sfd(accept(lfd->get(), nullptr, nullptr));
  ASSERT_TRUE(sfd.valid());
  ASSERT_TRUE(WriteAll(cfd->get(), "x").ok());
  EXPECT_EQ(ReadN(sfd.get(), 1), "x");
}

TEST(ListenDialTest, ListenReplacesAStaleSocketFile) {
  kata::testing::TempDir dir("/tmp");
  const std::string path = dir.Join("stale.sock");
  {
    // A socket file whose listener is gone.
    ASSERT_TRUE(MakeStaleSocket(path)) << strerror(errno);
    struct stat st;
    ASSERT_EQ(lstat(path.c_str(), &st), 0);
    ASSERT_TRUE(S_ISSOCK(st.st_mode));
  }
  absl::StatusOr<Address> a = ParseAddress(absl::StrCat("unix://", path));
  ASSERT_TRUE(a.ok());
  absl::StatusOr<UniqueFd> lfd = Owned(Listen(*a));
  ASSERT_TRUE(lfd.ok()) << lfd.status();
  absl::StatusOr<UniqueFd> cfd = Owned(Dial(*a, absl::Seconds(5)));
  ASSERT_TRUE(cfd.ok()) << cfd.status();
}

TEST(ListenDialTest, ListenRefusesARegularFile) {
  kata::testing::TempDir dir("/tmp");
  const std::string path = dir.Join("regular");
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("keep me", f);
  std::fclose(f);
  const std::string text = absl::StrCat("unix://", path);
  absl::StatusOr<Address> a = ParseAddress(text);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<UniqueFd> lfd = Owned(Listen(*a));
  ASSERT_FALSE(lfd.ok());
  EXPECT_THAT(std::string(lfd.status().message()), HasSubstr(text));
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0) << "the file was removed";
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 7);
}

TEST(ListenDialTest, ListenRefusesATooLongPath) {
  const std::string text = absl::StrCat("unix:///tmp/", std::string(200, 'x'));
  absl::StatusOr<Address> a = ParseAddress(text);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<UniqueFd> lfd = Owned(Listen(*a));
  ASSERT_FALSE(lfd.ok());
  EXPECT_THAT(std::string(lfd.status().message()), HasSubstr(text));
  absl::StatusOr<UniqueFd> cfd = Owned(Dial(*a, absl::Milliseconds(100)));
  ASSERT_FALSE(cfd.ok());
  EXPECT_THAT(std::string(cfd.status().message()), HasSubstr(text));
}

TEST(ListenDialTest, ListenRefusesHybridVsockAndSerial) {
  for (const char* text : {"hvsock:///run/vm.sock:1024", "serial:///dev/vport0p1"}) {
    absl::StatusOr<Address> a = ParseAddress(text);
    ASSERT_TRUE(a.ok());
    absl::StatusOr<UniqueFd> lfd = Owned(Listen(*a));
    ASSERT_FALSE(lfd.ok()) << text;
    EXPECT_THAT(std::string(lfd.status().message()), HasSubstr(text));
  }
}

TEST(ListenDialTest, DialToAMissingSocketRetriesThenFailsWithinItsTimeout) {
  kata::testing::TempDir dir("/tmp");
  const std::string text = absl::StrCat("unix://", dir.Join("missing.sock"));
  absl::StatusOr<Address> a = ParseAddress(text);
  ASSERT_TRUE(a.ok());
  const absl::Duration timeout = absl::Milliseconds(500);
  const absl::Time start = absl::Now();
  absl::StatusOr<UniqueFd> fd = Owned(Dial(*a, timeout));
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(fd.ok());
  EXPECT_THAT(std::string(fd.status().message()), HasSubstr(text));
  // It kept trying for (most of) the timeout (the last back-off step is at most 100 ms),
  // and gave up soon after it.
  EXPECT_GE(took, timeout - absl::Milliseconds(150)) << absl::FormatDuration(took);
  EXPECT_LT(took, timeout + absl::Seconds(1)) << absl::FormatDuration(took);
}

TEST(ListenDialTest, DialConnectsOnceTheListenerAppears) {
  kata::testing::TempDir dir("/tmp");
  absl::StatusOr<Address> a = ParseAddress(absl::StrCat("unix://", dir.Join("late.sock")));
  ASSERT_TRUE(a.ok());
  UniqueFd lfd;
  std::thread listener([&] {
    absl::SleepFor(absl::Milliseconds(200));
    lfd.reset(Listen(*a).value_or(-1));
  });
  absl::StatusOr<UniqueFd> cfd = Owned(Dial(*a, absl::Seconds(10)));
  listener.join();
  ASSERT_TRUE(cfd.ok()) << cfd.status();
  ASSERT_TRUE(lfd.valid());
}

TEST(ListenDialTest, DialToAStaleSocketRetriesThenFails) {
  kata::testing::TempDir dir("/tmp");
  const std::string path = dir.Join("refused.sock");
  ASSERT_TRUE(MakeStaleSocket(path));  // connect() now gets ECONNREFUSED
  absl::StatusOr<Address> a = ParseAddress(path);
  ASSERT_TRUE(a.ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<UniqueFd> cfd = Owned(Dial(*a, absl::Milliseconds(300)));
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(cfd.ok());
  EXPECT_THAT(std::string(cfd.status().message()), HasSubstr(path));
  EXPECT_GE(took, absl::Milliseconds(150));
  EXPECT_LT(took, absl::Seconds(2));
}

// ---- Hybrid vsock: the VMM's unix socket, "CONNECT <port>\n", a reply line -----------

// A fake hybrid-vsock VMM: accepts connections until destroyed; on the i-th it reads the
// CONNECT line and answers replies[i] (the last one for every later connection; nothing if
// empty). A connection answered with an OK line then echoes one 4-byte message.
class FakeVmm {
 public:
  FakeVmm(const std::string& path, std::vector<std::string> replies)
      : replies_(std::move(replies)) {
    absl::StatusOr<Address> a = ParseAddress(absl::StrCat("unix://", path));
    if (a.ok()) lfd_.reset(Listen(*a).value_or(-1));
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeVmm() {
    stop_.Notify();
    thread_.join();
  }
  bool ok() const { return lfd_.valid(); }
  // The CONNECT lines read so far (without "\n").
  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  void Serve() {
    if (!lfd_) return;
    while (!stop_.HasBeenNotified()) {
      struct pollfd p = {lfd_.get(), POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      UniqueFd accepted(accept(lfd_.get(), nullptr, nullptr));
      if (!accepted) continue;
      const int fd = accepted.get();
      open_.push_back(std::move(accepted));
      std::string line = ReadLine(fd);
      size_t n;
      {
        absl::MutexLock lock(&mu_);
        lines_.push_back(line);
        n = lines_.size();
      }
      const std::string& reply = replies_[std::min(n, replies_.size()) - 1];
      if (reply.empty()) continue;  // silent: keeps the connection open, answers nothing
      WriteAll(fd, reply).IgnoreError();
      if (reply.find("OK") != std::string::npos) {
        std::string msg = ReadN(fd, 4, absl::Seconds(5));
        WriteAll(fd, msg).IgnoreError();
      } else {
        open_.pop_back();  // a refusing VMM drops the connection
      }
    }
  }

  const std::vector<std::string> replies_;
  UniqueFd lfd_;
  std::vector<UniqueFd> open_;  // the connections it keeps open
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

TEST(HybridVsockTest, HandshakeOkGivesAConnectedStream) {
  kata::testing::TempDir dir("/tmp");
  const std::string vm_sock = dir.Join("vm.sock");
  FakeVmm vmm(vm_sock, {"OK 1073741824\n"});
  ASSERT_TRUE(vmm.ok());
  absl::StatusOr<Address> a = ParseAddress(absl::StrCat("hvsock://", vm_sock, ":1024"));
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<UniqueFd> fd = Owned(Dial(*a, absl::Seconds(5)));
  ASSERT_TRUE(fd.ok()) << fd.status();
  // The reply line is consumed, nothing more: the stream now belongs to the caller.
  ASSERT_TRUE(WriteAll(fd->get(), "ttrp").ok());
  EXPECT_EQ(ReadN(fd->get(), 4), "ttrp");
  EXPECT_THAT(vmm.lines(), ElementsAre("CONNECT 1024"));
}

// While the guest's agent is not listening yet, the VMM refuses CONNECT: Dial retries.
TEST(HybridVsockTest, RefusedHandshakeIsRetriedUntilAccepted) {
  kata::testing::TempDir dir("/tmp");
  const std::string vm_sock = dir.Join("vm.sock");
  FakeVmm vmm(vm_sock, {"NO\n", "NO\n", "OK 7\n"});
  ASSERT_TRUE(vmm.ok());
  absl::StatusOr<Address> a = ParseAddress(absl::StrCat("hvsock://", vm_sock, ":1024"));
  ASSERT_TRUE(a.ok());
  absl::StatusOr<UniqueFd> fd = Owned(Dial(*a, absl::Seconds(10)));
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_TRUE(WriteAll(fd->get(), "abcd").ok());
  EXPECT_EQ(ReadN(fd->get(), 4), "abcd");
  EXPECT_THAT(vmm.lines(), ElementsAre("CONNECT 1024", "CONNECT 1024", "CONNECT 1024"));
}

TEST(HybridVsockTest, AlwaysRefusedHandshakeFailsWithinTheTimeoutNamingTheAddress) {
  kata::testing::TempDir dir("/tmp");
  const std::string vm_sock = dir.Join("vm.sock");
  FakeVmm vmm(vm_sock, {"NO\n"});
  ASSERT_TRUE(vmm.ok());
  const std::string text = absl::StrCat("hvsock://", vm_sock, ":1024");
  absl::StatusOr<Address> a = ParseAddress(text);
  ASSERT_TRUE(a.ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<UniqueFd> fd = Owned(Dial(*a, absl::Milliseconds(500)));
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(fd.ok());
  EXPECT_THAT(fd.status().code(),
              AnyOf(absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded))
      << fd.status();
  EXPECT_THAT(std::string(fd.status().message()), HasSubstr(text));
  EXPECT_LT(took, absl::Seconds(2)) << absl::FormatDuration(took);
  EXPECT_GE(vmm.lines().size(), 2u) << "no retry";
  for (const std::string& line : vmm.lines()) EXPECT_EQ(line, "CONNECT 1024");
}

TEST(HybridVsockTest, SilentVmmTimesOut) {
  kata::testing::TempDir dir("/tmp");
  const std::string vm_sock = dir.Join("vm.sock");
  FakeVmm vmm(vm_sock, {""});  // reads CONNECT, never answers
  ASSERT_TRUE(vmm.ok());
  const std::string text = absl::StrCat("hvsock://", vm_sock, ":2000");
  absl::StatusOr<Address> a = ParseAddress(text);
  ASSERT_TRUE(a.ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<UniqueFd> fd = Owned(Dial(*a, absl::Milliseconds(300)));
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kDeadlineExceeded) << fd.status();
  EXPECT_THAT(std::string(fd.status().message()), HasSubstr(text));
  EXPECT_LT(took, absl::Seconds(2));
  ASSERT_FALSE(vmm.lines().empty());
  EXPECT_EQ(vmm.lines()[0], "CONNECT 2000");
}

TEST(HybridVsockTest, MissingVmmSocketFailsWithinTheTimeout) {
  kata::testing::TempDir dir("/tmp");
  const std::string text = absl::StrCat("hvsock://", dir.Join("nothing.sock"), ":1024");
  absl::StatusOr<Address> a = ParseAddress(text);
  ASSERT_TRUE(a.ok());
  const absl::Time start = absl::Now();
  absl::StatusOr<UniqueFd> fd = Owned(Dial(*a, absl::Milliseconds(300)));
  ASSERT_FALSE(fd.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_THAT(std::string(fd.status().message()), HasSubstr(text));
}

// ---- serial:// -----------------------------------------------------------------------

TEST(SerialTest, DialOpensTheCharacterDevice) {
  UniqueFd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(master.valid()) << strerror(errno);
  ASSERT_EQ(grantpt(master.get()), 0);
  ASSERT_EQ(unlockpt(master.get()), 0);
  const std::string device = ptsname(master.get());
  absl::StatusOr<Address> a = ParseAddress(absl::StrCat("serial://", device));
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<UniqueFd> fd = Owned(Dial(*a, absl::Seconds(1)));
  ASSERT_TRUE(fd.ok()) << fd.status();
  // Canonical mode by default: a whole line arrives.
  ASSERT_TRUE(WriteAll(master.get(), "agent\n").ok());
  EXPECT_EQ(ReadN(fd->get(), 6), "agent\n");
}

TEST(SerialTest, MissingDeviceIsAnErrorNamingTheAddress) {
  const std::string text = "serial:///dev/no-such-virtio-port";
  absl::StatusOr<Address> a = ParseAddress(text);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<UniqueFd> fd = Owned(Dial(*a, absl::Milliseconds(100)));
  ASSERT_FALSE(fd.ok());
  EXPECT_THAT(std::string(fd.status().message()), HasSubstr(text));
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
