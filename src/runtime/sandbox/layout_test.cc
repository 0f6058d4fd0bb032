// SandboxLayout against what a hostile guest (or a container that mounted the share) can do
// to the share, with real mounts and directories. Root.
#include "src/runtime/sandbox/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/sandbox/host_mounts.h"

namespace kata::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Per-mount options of every mount point at or below `dir` (the topmost one for a path).
std::map<std::string, std::vector<std::string>> MountOptionsUnder(const std::string& dir) {
  std::map<std::string, std::vector<std::string>> out;
  std::string info = kata::testing::ReadFileOrDie("/proc/self/mountinfo");
  for (absl::string_view line : absl::StrSplit(info, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() < 6) continue;
    if (f[4] == dir || absl::StartsWith(f[4], dir + "/")) {
      out[f[4]] = absl::StrSplit(f[5], ',');
    }
  }
  return out;
}

// errno of mkdir(path), 0 on success.
int MkdirErrno(const std::string& path) { return mkdir(path.c_str(), 0755) == 0 ? 0 : errno; }

class LayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test mounts: run it as root";
    tmp_ = dir_.path();
    ASSERT_EQ(chmod(tmp_.c_str(), 0755), 0);  // so only the sandbox's own modes keep others out
    paths_.shared_root = tmp_ + "/sandboxes";
    paths_.vm_root = tmp_ + "/vm";
    rootfs_ = tmp_ + "/rootfs";
    outside_ = tmp_ + "/outside";
    fs::create_directories(rootfs_);
    fs::create_directories(outside_);
    ASSERT_TRUE(WriteStringToFile(rootfs_ + "/marker", "rootfs\n").ok());
    ASSERT_TRUE(WriteStringToFile(outside_ + "/keep", "host data\n").ok());
  }

  void TearDown() override {
    UnmountUnder(tmp_).IgnoreError();
    EXPECT_THAT(*MountPointsUnder(tmp_), IsEmpty());
  }

  ContainerConfig Config(const std::string& id) {
    ContainerConfig c;
    c.id = id;
    c.rootfs_dir = rootfs_;
    return c;
  }

  static oci::Mount Bind(const std::string& source, const std::string& dest,
                         std::vector<std::string> options = {"rbind"}) {
    oci::Mount m;
    m.destination = dest;
    m.type = "bind";
    m.source = source;
    m.options = std::move(options);
    return m;
  }

  // The host data outside the sandbox is as the test left it, and nothing is mounted there.
  void ExpectOutsideUntouched() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(outside_)) {
      names.push_back(e.path().filename().string());
    }
    EXPECT_THAT(names, ::testing::ElementsAre("keep"));
    EXPECT_THAT(*MountPointsUnder(outside_), IsEmpty());
  }

  std::string Dir() const { return paths_.shared_root + "/s1"; }

  kata::testing::TempDir dir_{"/tmp"};
  std::string tmp_, rootfs_, outside_;
  SandboxPaths paths_;
};

// The guest writes through shared/ (its 9p export): the share's own directories are
// read-only; the container's rootfs stays writable.
TEST_F(LayoutTest, GuestCannotWriteTheShareOutsideTheRootfs) {
  SandboxLayout layout("s1", paths_);
  ASSERT_TRUE(layout.Create().ok());
  ASSERT_TRUE(layout.ShareContainer(Config("c1")).ok());
  const std::string shared = layout.shared_dir();
  EXPECT_EQ(kata::testing::ReadFileOrDie(shared + "/c1/rootfs/marker"), "rootfs\n");
  EXPECT_EQ(MkdirErrno(shared + "/c2"), EROFS);
  EXPECT_EQ(MkdirErrno(shared + "/c1/volumes"), EROFS);
  EXPECT_NE(symlink(outside_.c_str(), (shared + "/c2").c_str()), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_NE(rmdir((shared + "/c1/rootfs").c_str()), 0);
  // The rootfs bind keeps its own (rw) flag in the guest's view.
  ASSERT_TRUE(WriteStringToFile(shared + "/c1/rootfs/new", "x").ok());
  EXPECT_TRUE(fs::exists(rootfs_ + "/new"));
  ASSERT_TRUE(layout.Remove().ok());
  EXPECT_FALSE(fs::exists(Dir()));
  ExpectOutsideUntouched();
}

// A symlink planted where the next container's directories go: nothing is created or
// mounted outside the sandbox; the next container fails cleanly, later ones work.
TEST_F(LayoutTest, PlantedSymlinksAreNeverFollowed) {
  SandboxLayout layout("s1", paths_);
  ASSERT_TRUE(layout.Create().ok());
  ASSERT_TRUE(layout.ShareContainer(Config("c1")).ok());
  // Through the guest's view: refused.
  EXPECT_NE(symlink(outside_.c_str(), (layout.shared_dir() + "/c2").c_str()), 0);
  // As if one got there anyway (the host tree itself).
  const std::string mounts = Dir() + "/mounts";
  ASSERT_EQ(symlink(outside_.c_str(), (mounts + "/c2").c_str()), 0);
  ASSERT_EQ(mkdir((mounts + "/c3").c_str(), 0755), 0);
  ASSERT_EQ(symlink(outside_.c_str(), (mounts + "/c3/volumes").c_str()), 0);
  fs::create_directories(tmp_ + "/vol");
  for (const char* cid : {"c2", "c3"}) {
    ContainerConfig c = Config(cid);
    c.spec.mounts = std::vector<oci::Mount>{Bind(tmp_ + "/vol", "/data")};
    absl::StatusOr<oci::Spec> s = layout.ShareContainer(c);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kAlreadyExists) << cid << ": " << s.status();
    EXPECT_THAT(s.status().message(), HasSubstr(absl::StrCat("container ", cid)));
    ExpectOutsideUntouched();
  }
  ContainerConfig c4 = Config("c4");
  c4.spec.mounts = std::vector<oci::Mount>{Bind(tmp_ + "/vol", "/data")};
  ASSERT_TRUE(layout.ShareContainer(c4).ok());
  EXPECT_TRUE(fs::exists(layout.shared_dir() + "/c4/volumes/0-data"));
  ASSERT_TRUE(layout.Remove().ok());  // the planted links go, their targets stay
  EXPECT_FALSE(fs::exists(Dir()));
  ExpectOutsideUntouched();
}

// Item 3: state directories 0700, every mount below the sandbox nosuid,nodev, the share's
// top read-only and the rootfs writable; another host user cannot even list the sandbox.
TEST_F(LayoutTest, ModesAndMountOptionsKeepOtherUsersAndDevicesOut) {
  SandboxLayout layout("s1", paths_);
  ASSERT_TRUE(layout.Create().ok());
  fs::create_directories(tmp_ + "/vol");
  ContainerConfig c = Config("c1");
  c.spec.mounts = std::vector<oci::Mount>{Bind(tmp_ + "/vol", "/data")};
  ASSERT_TRUE(layout.ShareContainer(c).ok());
  struct stat st;
  ASSERT_EQ(stat(Dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat(layout.vm_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  auto mounts = MountOptionsUnder(Dir());
  EXPECT_EQ(mounts.size(), 6u);  // mounts/, shared/, a rootfs and a volume in each
  for (const auto& [mp, options] : mounts) {
    EXPECT_THAT(options, ::testing::IsSupersetOf({"nosuid", "nodev"})) << mp;
  }
  EXPECT_THAT(mounts[layout.shared_dir()], ::testing::Contains("ro"));
  EXPECT_THAT(mounts[layout.shared_dir() + "/c1/rootfs"], ::testing::Contains("rw"));
  // ls exits 2 when it cannot open the directory; the same command lists what nobody may.
  const auto ls_as_nobody = [](const std::string& d) {
    int rc =
        system(absl::StrCat("/usr/sbin/runuser -u nobody -- /bin/ls ", d, " >/dev/null").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(ls_as_nobody(tmp_), 0);
  EXPECT_EQ(ls_as_nobody(paths_.shared_root), 0);
  EXPECT_EQ(ls_as_nobody(Dir()), 2);
  EXPECT_EQ(ls_as_nobody(layout.vm_dir()), 2);
  ASSERT_TRUE(layout.Remove().ok());
}

// Item 2: a mount hidden under a later one (the guest cannot do this, a buggy host can):
// removal unmounts both and never deletes through the hidden one.
TEST_F(LayoutTest, RemoveNeverDeletesThroughAHiddenMount) {
  SandboxLayout layout("s1", paths_);
  ASSERT_TRUE(layout.Create().ok());
  ASSERT_TRUE(layout.ShareContainer(Config("c1")).ok());
  const std::string a = Dir() + "/mounts/c1/a";
  fs::create_directories(a + "/m");
  ASSERT_EQ(mount(outside_.c_str(), (a + "/m").c_str(), nullptr, MS_BIND, nullptr), 0);
  ASSERT_EQ(mount("tmpfs", a.c_str(), "tmpfs", 0, nullptr), 0);
  ASSERT_TRUE(layout.UnshareContainer("c1").ok());
  ExpectOutsideUntouched();
  EXPECT_FALSE(fs::exists(Dir() + "/mounts/c1"));
  ASSERT_TRUE(layout.Remove().ok());
}

// Item 2: a mount that cannot be unmounted (locked into a less privileged mount namespace)
// makes removal refuse, with the reason, and delete nothing.
TEST_F(LayoutTest, RemoveRefusesWhileSomethingStaysMounted) {
  SandboxLayout layout("s1", paths_);
  ASSERT_TRUE(layout.Create().ok());
  ASSERT_TRUE(layout.ShareContainer(Config("c1")).ok());
  const std::string canary = Dir() + "/mounts/c1/canary";
  fs::create_directories(canary);
  ASSERT_EQ(mount(outside_.c_str(), canary.c_str(), nullptr, MS_BIND, nullptr), 0);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    // A user namespace mapping root to root: the copied mounts are locked in place.
    std::string result = "setup failed";
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0 &&
        WriteStringToFile("/proc/self/setgroups", "deny").ok() &&
        WriteStringToFile("/proc/self/uid_map", "0 0 1").ok() &&
        WriteStringToFile("/proc/self/gid_map", "0 0 1").ok()) {
      absl::Status locked = umount2(canary.c_str(), MNT_DETACH) == 0
                                ? absl::InternalError("canary not locked")
                                : absl::OkStatus();
      absl::Status s = locked.ok() ? layout.Remove() : locked;
      result = s.ToString();
    } else {
      result = absl::StrCat("setup failed: errno ", errno);
    }
    (void)!write(pipe_fds[1], result.data(), result.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string result;
  char buf[512];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof(buf))) > 0) result.append(buf, n);
  close(pipe_fds[0]);
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_THAT(result, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(result, HasSubstr("still mounted: "));
  EXPECT_THAT(result, HasSubstr(canary));
  EXPECT_THAT(result, HasSubstr("nothing deleted"));
  ExpectOutsideUntouched();
  EXPECT_EQ(kata::testing::ReadFileOrDie(Dir() + "/shared/c1/rootfs/marker"), "rootfs\n");
  ASSERT_TRUE(layout.Remove().ok());  // here (not locked) it works
  EXPECT_FALSE(fs::exists(Dir()));
  ExpectOutsideUntouched();
}

// Item 5: /proc, /sys and /dev are recognized after resolving; a look-alike is a volume.
TEST_F(LayoutTest, KernelPathsAreComparedResolved) {
  SandboxLayout layout("s1", paths_);
  ASSERT_TRUE(layout.Create().ok());
  ASSERT_EQ(symlink("/proc", (tmp_ + "/proc-link").c_str()), 0);
  char lookalike[] = "/procdata-kata-test-XXXXXX";
  ASSERT_NE(mkdtemp(lookalike), nullptr);
  ContainerConfig c = Config("c1");
  c.spec.mounts = std::vector<oci::Mount>{Bind("/../proc", "/a"), Bind(tmp_ + "/proc-link", "/b"),
                                          Bind("/sys/../dev", "/c"), Bind(lookalike, "/d")};
  absl::StatusOr<oci::Spec> spec = layout.ShareContainer(c);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const auto& m = *spec->mounts;
  EXPECT_EQ(m[0].source, "/../proc");
  EXPECT_EQ(m[1].source, tmp_ + "/proc-link");
  EXPECT_EQ(m[2].source, "/sys/../dev");
  EXPECT_EQ(m[3].source, "/run/kata-containers/shared/containers/c1/volumes/0-d");
  EXPECT_THAT(*MountPointsUnder(Dir() + "/mounts/c1/volumes"),
              ::testing::ElementsAre(Dir() + "/mounts/c1/volumes/0-d"));
  ASSERT_TRUE(layout.Remove().ok());
  rmdir(lookalike);
}

// Item 5: rbind,ro is read-only all the way down, in the host tree and the guest's view.
TEST_F(LayoutTest, ReadOnlyRbindIsReadOnlyRecursively) {
  SandboxLayout layout("s1", paths_);
  ASSERT_TRUE(layout.Create().ok());
  const std::string vol = tmp_ + "/vol";
  fs::create_directories(vol + "/sub");
  ASSERT_EQ(mount("tmpfs", (vol + "/sub").c_str(), "tmpfs", 0, nullptr), 0);
  ContainerConfig c = Config("c1");
  c.spec.mounts = std::vector<oci::Mount>{Bind(vol, "/data", {"rbind", "ro"})};
  ASSERT_TRUE(layout.ShareContainer(c).ok());
  for (const std::string& view : {Dir() + "/mounts", layout.shared_dir()}) {
    const std::string data = view + "/c1/volumes/0-data";
    EXPECT_EQ(MkdirErrno(data + "/x"), EROFS) << view;
    EXPECT_EQ(MkdirErrno(data + "/sub/x"), EROFS) << view;
  }
  ASSERT_TRUE(layout.Remove().ok());
  EXPECT_TRUE(fs::exists(vol + "/sub"));
  ASSERT_EQ(umount2((vol + "/sub").c_str(), MNT_DETACH), 0);
}

// A stand-in VMM whose command line names `arg`; killed by the test when still there.
pid_t SpawnNaming(const std::string& arg) {
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", "sleep 60; :", arg.c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 500; ++i) {  // until it has exec'd
    absl::StatusOr<std::string> cmdline = ReadFileToString(absl::StrCat("/proc/", pid, "/cmdline"));
    if (cmdline.ok() && absl::StrContains(*cmdline, arg)) break;
    usleep(10 * 1000);
  }
  return pid;
}

bool Gone(pid_t pid) { return waitpid(pid, nullptr, WNOHANG) == pid; }

// Item 5: CleanupSandbox kills only a VMM that names exactly this sandbox's VM directory.
TEST_F(LayoutTest, CleanupSandboxMatchesTheExactVmDirectory) {
  SandboxLayout abc("abc", paths_);
  ASSERT_TRUE(abc.Create().ok());
  pid_t other = SpawnNaming(absl::StrCat("unix:", paths_.vm_root, "/abcd/qmp.sock"));
  ASSERT_GT(other, 0);
  ASSERT_TRUE(abc.RecordVmmPid(other).ok());
  ASSERT_TRUE(CleanupSandbox("abc", paths_).ok());
  usleep(200 * 1000);
  EXPECT_FALSE(Gone(other)) << "abc's cleanup killed abcd's VMM";
  EXPECT_FALSE(fs::exists(abc.vm_dir()));
  kill(other, SIGKILL);
  waitpid(other, nullptr, 0);

  ASSERT_TRUE(abc.Create().ok());
  pid_t ours = SpawnNaming(absl::StrCat("file:", paths_.vm_root, "/abc/console.log"));
  ASSERT_GT(ours, 0);
  ASSERT_TRUE(abc.RecordVmmPid(ours).ok());
  ASSERT_TRUE(CleanupSandbox("abc", paths_).ok());
  int status = 0;
  ASSERT_EQ(waitpid(ours, &status, 0), ours);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(fs::exists(abc.vm_dir()));
}

}  // namespace
}  // namespace kata::runtime
