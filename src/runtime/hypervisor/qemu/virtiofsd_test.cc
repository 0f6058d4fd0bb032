// virtiofsd for one VM, with Debian's real daemon (/usr/lib/qemu/virtiofsd, root): listening
// before it returns, sandboxed to the directory, ended and cleaned up by the destructor; a
// daemon that cannot run leaves nothing.
#include "src/runtime/hypervisor/qemu/virtiofsd.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/runtime/hypervisor/qemu/command_line.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::HasSubstr;

constexpr char kDaemon[] = "/usr/lib/qemu/virtiofsd";

VmConfig Config(const kata::testing::TempDir& dir) {
  VmConfig c;
  c.shared_fs = SharedFsKind::kVirtioFs;
  c.virtiofsd_path = kDaemon;
  c.shared_dir = dir.Join("shared");
  c.work_dir = dir.path();
  mkdir(c.shared_dir.c_str(), 0700);
  return c;
}

bool Connects(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

TEST(VirtiofsdTest, ListensBeforeItReturnsAndEndsWithItsOwner) {
  ASSERT_EQ(access(kDaemon, X_OK), 0) << kDaemon << " missing: tools/setup installs qemu";
  kata::testing::TempDir dir("/tmp");  // short: a unix socket path holds 107 bytes
  const VmConfig c = Config(dir);
  const std::string socket_path = PathsFor(c).virtiofs_socket;
  absl::StatusOr<std::unique_ptr<Virtiofsd>> fs = Virtiofsd::Start(c, {});
  ASSERT_TRUE(fs.ok()) << fs.status();
  const pid_t pid = (*fs)->pid();
  const std::string argv = absl::StrJoin((*fs)->argv(), " ");
  EXPECT_THAT(argv, HasSubstr("-o source=" + c.shared_dir));
  EXPECT_THAT(argv, HasSubstr("-o sandbox=namespace"));
  EXPECT_THAT(argv, HasSubstr("-o cache=auto"));
  struct stat st;
  ASSERT_EQ(stat(socket_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(Connects(socket_path));  // at once: the socket was listening before the daemon
  EXPECT_TRUE((*fs)->running());
  fs->reset();
  EXPECT_NE(access(socket_path.c_str(), F_OK), 0);
  EXPECT_NE(kill(pid, 0), 0);  // reaped: no such process (the pid is not reused this fast)
}

TEST(VirtiofsdTest, ExtraArgumentsFollowOursAndABrokenDaemonLeavesNothing) {
  kata::testing::TempDir dir("/tmp");
  VmConfig c = Config(dir);
  c.virtio_fs_cache = "none";
  c.virtiofsd_extra_args = {"-o", "posix_lock"};
  const std::vector<std::string> argv = Virtiofsd::CommandLine(c, 7);
  EXPECT_EQ(argv[0], kDaemon);
  EXPECT_EQ(argv[1], "--fd=7");
  EXPECT_THAT(absl::StrJoin(argv, " "), HasSubstr("-o cache=none"));
  EXPECT_EQ(argv[argv.size() - 2], "-o");
  EXPECT_EQ(argv.back(), "posix_lock");

  c.virtiofsd_path = dir.Join("no-such-virtiofsd");
  absl::StatusOr<std::unique_ptr<Virtiofsd>> fs = Virtiofsd::Start(c, {});
  ASSERT_FALSE(fs.ok());
  EXPECT_THAT(std::string(fs.status().message()), HasSubstr("start virtiofsd"));
  EXPECT_NE(access(PathsFor(c).virtiofs_socket.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace kata::hypervisor::qemu
