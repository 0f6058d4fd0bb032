// Root-only tests of rootfs.h. SAFETY: every case runs in a forked child that first
// unshares its mount namespace and makes "/" recursively private, and works under the
// test's temp dir; the parent only reads the child's report (a pipe) and exit code.
#include "src/agent/rootfs/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/io.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace rootfs {
namespace {

constexpr int kSkipExit = 77;
constexpr long kMqueueMagic = 0x19800202;  // not in <linux/magic.h>

// What the child reports: one line per failed check, to `fd` (not owned).
class Report {
 public:
  explicit Report(int fd) : fd_(fd) {}
  void Check(bool ok, const std::string& what) {
    if (ok) return;
    Write(absl::StrCat("FAIL ", what, " (errno ", strerror(errno), ")\n"));
    ++failures_;
  }
  void Write(const std::string& s) { WriteAll(fd_, s).IgnoreError(); }
  int failures() const { return failures_; }

 private:
  int fd_;
  int failures_ = 0;
};

struct ChildResult {
  int exit_code = -1;
  std::string output;
};

// Runs `body` in a child with a private mount namespace. The child exits kSkipExit when it
// may not unshare (the test then fails saying so), 1 when a check failed, 0 otherwise.
ChildResult RunInMountNamespace(const std::function<void(Report&)>& body) {
  ChildResult result;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return result;
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  pid_t pid = fork();
  if (pid < 0) return result;
  if (pid == 0) {
    read_end.reset();
    Report report(write_end.get());
    if (unshare(CLONE_NEWNS) != 0) {
      report.Write(absl::StrCat("unshare(CLONE_NEWNS): ", strerror(errno), "\n"));
      _exit(kSkipExit);
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      report.Write(absl::StrCat("make / rprivate: ", strerror(errno), "\n"));
      _exit(kSkipExit);
    }
    body(report);
    _exit(report.failures() == 0 ? 0 : 1);
  }
  write_end.reset();
  result.output = ReadAll(read_end.get()).value_or("(cannot read the child's report)");
  int status = 0;
  if (waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

bool WriteFile(const std::string& path, const std::string& content) {
  return WriteStringToFile(path, content).ok();
}

// The file's content, or "<error>" when it cannot be read.
std::string ReadOrError(const std::string& path) {
  return ReadFileToString(path).value_or("<error>");
}

// errno of creating `path`, 0 on success.
int CreateErrno(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  return fd ? 0 : errno;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

bool IsTmpfs(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

oci::Mount MakeMount(const std::string& dest, const std::string& type, const std::string& source,
                     oci::Strings options) {
  oci::Mount m;
  m.destination = dest;
  m.type = type;
  m.source = source;
  m.options = std::move(options);
  return m;
}

class RootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A test that cannot run here fails loudly: these run as root (tools/test requires it).
    ASSERT_EQ(geteuid(), 0u) << "rootfs tests need root";
    ASSERT_EQ(mkdir(rootfs_.c_str(), 0755), 0);
  }

  // In the child: a fresh tmpfs on the rootfs (so device nodes work whatever the temp dir's
  // mount flags) holding the given directories.
  bool MakeRootfs(Report& r, std::initializer_list<const char*> dirs) {
    bool ok = mount("tmpfs", rootfs_.c_str(), "tmpfs", 0, "mode=755") == 0;
    r.Check(ok, "mount tmpfs on rootfs");
    for (const char* d : dirs) {
      bool made = mkdir((rootfs_ + "/" + d).c_str(), 0755) == 0;
      r.Check(made, absl::StrCat("mkdir ", d));
      ok = ok && made;
    }
    return ok;
  }

  void ExpectChildOk(const ChildResult& result) {
    ASSERT_NE(result.exit_code, kSkipExit)
        << "cannot make a private mount namespace here: " << result.output;
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(result.output, "");
  }

  kata::testing::TempDir dir_;  // the children's mounts live in their own namespaces
  const std::string base_ = dir_.path();
  const std::string rootfs_ = base_ + "/rootfs";
};

// The spec of FullSetupFromInside: every kind of mount, a device, masked and read-only paths,
// a read-only root; the host side of the binds under `base`.
oci::Spec FullSetupSpec(const std::string& base, const std::string& rootfs) {
  oci::Spec spec;
  spec.root = oci::Root{};
  spec.root->path = rootfs;
  spec.root->readonly = true;
  spec.mounts = std::vector<oci::Mount>{
      MakeMount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
      MakeMount("/tmp", "tmpfs", "tmpfs", {"nosuid", "mode=1777", "size=65536k"}),
      MakeMount("/ro", "bind", base + "/host_ro", {"rbind", "ro", "rprivate"}),
      MakeMount("/rw", "bind", base + "/host_rw", {"bind"}),
      MakeMount("/etc/hosts", "bind", base + "/hostfile", {"bind", "ro"}),
      MakeMount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
  };
  spec.linux = oci::Linux{};
  oci::LinuxDevice null_dev;
  null_dev.path = "/dev/null";
  null_dev.type = "c";
  null_dev.major = 1;
  null_dev.minor = 3;
  null_dev.file_mode = 0666;
  null_dev.uid = 0;
  null_dev.gid = 0;
  spec.linux->devices = std::vector<oci::LinuxDevice>{null_dev};
  spec.linux->masked_paths = oci::Strings{"/secret", "/maskdir", "/does/not/exist"};
  spec.linux->readonly_paths = oci::Strings{"/rw/sub", "/missing"};
  return spec;
}

// In the child, after SetupRootfs of FullSetupSpec: what the container sees.
void CheckFullSetup(Report& r, const std::string& base) {
  r.Check(Exists("/proc/self"), "/proc/self exists");
  r.Check(!Exists(base), "the host's temp dir is not visible after pivot_root");
  struct stat st;
  r.Check(stat("/tmp", &st) == 0 && (st.st_mode & 07777) == 01777, "/tmp has mode 1777");
  r.Check(IsTmpfs("/tmp"), "/tmp is a tmpfs");
  r.Check(CreateErrno("/tmp/ok") == 0, "/tmp is writable");
  r.Check(ReadOrError("/ro/hello") == "hello", "read /ro/hello");
  r.Check(CreateErrno("/ro/new") == EROFS, "write to the ro bind fails with EROFS");
  r.Check(absl::StartsWith(ReadOrError("/etc/hosts"), "127.0.0.1"), "file bind /etc/hosts");
  r.Check(CreateErrno("/etc/hosts") == EROFS, "file bind /etc/hosts is read-only");
  r.Check(ReadOrError("/secret").empty(), "masked /secret reads empty");
  r.Check(!Exists("/maskdir/inside"), "masked /maskdir is empty");
  r.Check(CreateErrno("/maskdir/new") == EROFS, "masked /maskdir is read-only");
  r.Check(CreateErrno("/rw/new") == 0, "/rw is writable");
  r.Check(CreateErrno("/rw/sub/new") == EROFS, "readonly path /rw/sub fails with EROFS");
  r.Check(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
              minor(st.st_rdev) == 3 && (st.st_mode & 07777) == 0666,
          "/dev/null is char 1:3 mode 0666");
  r.Check(CreateErrno("/dev/null") == 0, "/dev/null opens for writing");
  char link[64] = {};
  r.Check(readlink("/dev/ptmx", link, sizeof(link) - 1) > 0 && std::string(link) == "pts/ptmx",
          "/dev/ptmx -> pts/ptmx");
  r.Check(Exists("/dev/fd") && Exists("/dev/stdin") && Exists("/dev/stderr"),
          "/dev/fd and std symlinks");
  struct statfs fs;
  r.Check(statfs("/dev/mqueue", &fs) == 0 && fs.f_type == kMqueueMagic, "/dev/mqueue");
  r.Check(CreateErrno("/newfile") == EROFS, "writing / fails with EROFS");
  char cwd[16] = {};
  r.Check(getcwd(cwd, sizeof(cwd)) != nullptr && std::string(cwd) == "/", "cwd is /");
}

TEST_F(RootfsTest, FullSetupFromInside) {
  // Host side of the bind mounts, made by the parent.
  const std::string host_ro = base_ + "/host_ro";
  const std::string host_rw = base_ + "/host_rw";
  ASSERT_EQ(mkdir(host_ro.c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(host_ro + "/hello", "hello"));
  ASSERT_EQ(mkdir(host_rw.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((host_rw + "/sub").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(base_ + "/hostfile", "127.0.0.1 localhost\n"));
  const oci::Spec spec = FullSetupSpec(base_, rootfs_);

  ChildResult result = RunInMountNamespace([&](Report& r) {
    if (!MakeRootfs(r, {"dev", "maskdir"})) return;
    r.Check(WriteFile(rootfs_ + "/secret", "top secret"), "write /secret");
    r.Check(WriteFile(rootfs_ + "/maskdir/inside", "x"), "write /maskdir/inside");
    // Where device nodes may not be created (a user namespace), the host's are bound.
    Options options;
    const std::string probe = rootfs_ + "/dev/probe";
    options.mknod = mknod(probe.c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0;
    unlink(probe.c_str());
    absl::Status s = SetupRootfs(spec, rootfs_, options);
    r.Check(s.ok(), absl::StrCat("SetupRootfs: ", s.ToString()));
    if (!s.ok()) return;
    CheckFullSetup(r, base_);
  });
  ExpectChildOk(result);
}

TEST_F(RootfsTest, DotDotDestinationIsRejected) {
  oci::Spec spec;
  spec.mounts = std::vector<oci::Mount>{
      MakeMount("../../escape", "tmpfs", "tmpfs", {}),
  };
  ChildResult result = RunInMountNamespace([&](Report& r) {
    if (!MakeRootfs(r, {})) return;
    absl::Status s = PrepareRootfs(spec, rootfs_, Options{});
    r.Check(s.code() == absl::StatusCode::kInvalidArgument,
            absl::StrCat("rejected with INVALID_ARGUMENT: ", s.ToString()));
    r.Check(absl::StrContains(s.message(), "../../escape"), "error names the path");
    r.Check(!Exists(base_ + "/escape") && !Exists("/escape"), "nothing created outside");
  });
  ExpectChildOk(result);
  EXPECT_FALSE(Exists(base_ + "/escape"));
}

TEST_F(RootfsTest, SymlinkDestinationIsConfined) {
  const std::string outside = base_ + "/outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0755), 0);
  oci::Spec spec;
  spec.mounts = std::vector<oci::Mount>{
      MakeMount("/evil/m", "tmpfs", "tmpfs", {}),
      MakeMount("/etc/evil2/m2", "tmpfs", "tmpfs", {}),
  };
  ChildResult result = RunInMountNamespace([&](Report& r) {
    if (!MakeRootfs(r, {"etc"})) return;
    r.Check(symlink(outside.c_str(), (rootfs_ + "/evil").c_str()) == 0, "symlink evil");
    r.Check(symlink("../../../../../../../outside", (rootfs_ + "/etc/evil2").c_str()) == 0,
            "symlink evil2");
    absl::Status s = PrepareRootfs(spec, rootfs_, Options{});
    r.Check(s.ok(), absl::StrCat("PrepareRootfs: ", s.ToString()));
    r.Check(!Exists(outside + "/m") && !Exists(outside + "/m2"), "nothing mounted outside");
    r.Check(IsTmpfs(rootfs_ + outside + "/m"), "absolute symlink confined to the rootfs");
    r.Check(IsTmpfs(rootfs_ + "/outside/m2"), "relative symlink confined to the rootfs");
  });
  ExpectChildOk(result);
  EXPECT_FALSE(Exists(outside + "/m"));
  EXPECT_FALSE(Exists(outside + "/m2"));
}

// The mount points of the calling process's namespace (/proc/self/mountinfo, field 5).
std::vector<std::string> MountPoints() {
  std::vector<std::string> out;
  for (absl::string_view line :
       absl::StrSplit(ReadOrError("/proc/self/mountinfo"), '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() > 4) out.emplace_back(f[4]);
  }
  return out;
}

// runc's CVE-2021-30465 class: the destination, a directory when it was resolved, is a
// symlink to the outside by the time of the mount. A thread keeps exchanging directory "a"
// with symlink "b" -> outside while "/a" is mounted again and again: each attempt mounts
// inside the rootfs or fails, nothing is ever mounted outside.
TEST_F(RootfsTest, DestinationSwappedForASymlinkNeverMountsOutside) {
  const std::string outside = base_ + "/outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0755), 0);
  ChildResult result = RunInMountNamespace([&](Report& r) {
    if (!MakeRootfs(r, {"a"})) return;
    const std::string a = rootfs_ + "/a", b = rootfs_ + "/b";
    r.Check(symlink(outside.c_str(), b.c_str()) == 0, "symlink b");
    std::atomic<bool> stop{false};
    std::thread flipper([&] {
      while (!stop.load()) renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE);
    });
    const oci::Mount m = MakeMount("/a", "tmpfs", "tmpfs", {});
    int escaped = 0, mounted = 0;
    for (int i = 0; i < 3000; ++i) {
      if (MountInRoot(m, rootfs_).ok()) ++mounted;
      std::vector<std::string> mps = MountPoints();
      for (auto it = mps.rbegin(); it != mps.rend(); ++it) {
        if (*it == outside || absl::StartsWith(*it, outside + "/")) ++escaped;
        if (*it == outside || absl::StartsWith(*it, rootfs_ + "/")) {
          umount2(it->c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
        }
      }
    }
    stop.store(true);
    flipper.join();
    r.Check(escaped == 0, absl::StrCat("mounted outside the rootfs ", escaped, " times"));
    r.Check(mounted > 0, "no mount succeeded at all");
  });
  ExpectChildOk(result);
}

TEST_F(RootfsTest, ErrorNamesTypePathAndErrno) {
  oci::Spec spec;
  spec.mounts = std::vector<oci::Mount>{MakeMount("/x", "nosuchfs", "none", {})};
  ChildResult result = RunInMountNamespace([&](Report& r) {
    if (!MakeRootfs(r, {})) return;
    absl::Status s = PrepareRootfs(spec, rootfs_, Options{});
    r.Check(
        absl::StrContains(s.message(), absl::StrCat("mount nosuchfs on ", rootfs_, "/x: ENODEV")),
        absl::StrCat("error message: ", s.ToString()));
  });
  ExpectChildOk(result);
}

TEST_F(RootfsTest, DevicesByBindMountWhenMknodIsNotAllowed) {
  oci::Spec spec;
  spec.linux = oci::Linux{};
  oci::LinuxDevice zero;
  zero.path = "/dev/zero";
  zero.type = "c";
  zero.major = 1;
  zero.minor = 5;
  spec.linux->devices = std::vector<oci::LinuxDevice>{zero};
  ChildResult result = RunInMountNamespace([&](Report& r) {
    if (!MakeRootfs(r, {})) return;
    Options options;
    options.mknod = false;
    absl::Status s = PrepareRootfs(spec, rootfs_, options);
    r.Check(s.ok(), absl::StrCat("PrepareRootfs: ", s.ToString()));
    struct stat st;
    r.Check(stat((rootfs_ + "/dev/zero").c_str(), &st) == 0 && S_ISCHR(st.st_mode) &&
                major(st.st_rdev) == 1 && minor(st.st_rdev) == 5,
            "/dev/zero bound from the host");
  });
  ExpectChildOk(result);
}

}  // namespace
}  // namespace rootfs
}  // namespace kata
