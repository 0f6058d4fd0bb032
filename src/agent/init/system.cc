#include "src/agent/init/system.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {
namespace init {
namespace {

class KernelSystem : public System {
 public:
  absl::Status MkdirAll(const std::string& path) override {
    for (size_t pos = 1; pos <= path.size(); ++pos) {
      if (pos != path.size() && path[pos] != '/') continue;
      const std::string prefix = path.substr(0, pos);
      if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoStatus(errno, absl::StrCat("mkdir ", prefix));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Mount(const std::string& source, const std::string& target,
                     const std::string& fstype, unsigned long flags,
                     const std::string& data) override {
    if (mount(source.c_str(), target.c_str(), fstype.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) == 0) {
      return absl::OkStatus();
    }
    const int err = errno;
    const std::string what = absl::StrCat("mount ", fstype, " on ", target);
    if (err == EBUSY) return absl::AlreadyExistsError(absl::StrCat(what, ": already mounted"));
    return ErrnoStatus(err, what);
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    return ReadFileToString(path);
  }

  absl::Status LoadModule(const std::string& path, const std::string& params) override {
    const UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return ErrnoStatus(errno, absl::StrCat("module ", path, ": open"));
    if (syscall(SYS_finit_module, fd.get(), params.c_str(), 0) == 0) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("module ", path, ": finit_module"));
  }

  absl::Status AttachConsole(const std::string& console, bool replace) override {
    bool all_open = true;
    for (int fd = 0; fd <= 2; ++fd) {
      if (fcntl(fd, F_GETFD) < 0) all_open = false;
    }
    if (all_open && !replace) return absl::OkStatus();
    UniqueFd fd(open(console.c_str(), O_RDWR | O_NOCTTY));  // may become fd 0: no CLOEXEC
    if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", console));
    for (int target = 0; target <= 2; ++target) {
      if (fd.get() == target) continue;
      if (replace || fcntl(target, F_GETFD) < 0) dup2(fd.get(), target);
    }
    if (fd.get() <= 2) fd.release();  // it is one of the standard descriptors now
    return absl::OkStatus();
  }

  absl::StatusOr<bool> SwitchRootFromInitramfs() override {
    struct statfs fs;
    if (statfs("/", &fs) != 0) return ErrnoStatus(errno, "statfs /");
    if (fs.f_type != RAMFS_MAGIC && fs.f_type != TMPFS_MAGIC) return false;
    const std::string newroot = "/.kata-root";
    if (mkdir(newroot.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir " + newroot);
    }
    if (mount("tmpfs", newroot.c_str(), "tmpfs", 0, "mode=0755") != 0) {
      return ErrnoStatus(errno, "mount tmpfs on " + newroot);
    }
    absl::Status copied = CopyTree("/", newroot, {".kata-root"});
    if (!copied.ok()) {
      umount2(newroot.c_str(), MNT_DETACH);
      return copied;
    }
    // Free the initramfs: nothing else is mounted yet, so everything but newroot is on it.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/", ec)) {
      if (e.path() == newroot) continue;
      std::filesystem::remove_all(e.path(), ec);
    }
    if (chdir(newroot.c_str()) != 0) return ErrnoStatus(errno, "chdir " + newroot);
    if (mount(".", "/", nullptr, MS_MOVE, nullptr) != 0)
      return ErrnoStatus(errno, "move " + newroot + " to /");
    if (chroot(".") != 0) return ErrnoStatus(errno, "chroot " + newroot);
    if (chdir("/") != 0) return ErrnoStatus(errno, "chdir /");
    return true;
  }

  absl::Status PowerOff() override {
    sync();
    if (reboot(RB_POWER_OFF) != 0) return ErrnoStatus(errno, "reboot(RB_POWER_OFF)");
    return absl::OkStatus();
  }
};

}  // namespace

absl::Status CopyTree(const std::string& src, const std::string& dst,
                      const std::vector<std::string>& skip) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::recursive_directory_iterator it(src, fs::directory_options::none, ec), end;
  if (ec) return absl::InternalError(absl::StrCat("copy ", src, ": ", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) return absl::InternalError(absl::StrCat("copy ", src, ": ", ec.message()));
    const fs::path rel = it->path().lexically_relative(src);
    if (it.depth() == 0 && std::find(skip.begin(), skip.end(), rel.string()) != skip.end()) {
      it.disable_recursion_pending();
      continue;
    }
    const std::string from = it->path().string();
    const std::string to = (fs::path(dst) / rel).string();
    struct stat st;
    if (lstat(from.c_str(), &st) != 0) return ErrnoStatus(errno, "lstat " + from);
    const mode_t perm = st.st_mode & 07777;
    if (S_ISDIR(st.st_mode)) {
      if (mkdir(to.c_str(), perm) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir " + to);
      chmod(to.c_str(), perm);
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = readlink(from.c_str(), target.data(), target.size());
      if (n < 0) return ErrnoStatus(errno, "readlink " + from);
      target.resize(static_cast<size_t>(n));
      if (symlink(target.c_str(), to.c_str()) != 0) return ErrnoStatus(errno, "symlink " + to);
    } else if (S_ISREG(st.st_mode)) {
      if (!fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec)) {
        return absl::InternalError(absl::StrCat("copy ", from, " to ", to, ": ", ec.message()));
      }
      chmod(to.c_str(), perm);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
      if (mknod(to.c_str(), st.st_mode, st.st_rdev) != 0) return ErrnoStatus(errno, "mknod " + to);
    }
  }
  return absl::OkStatus();
}

System& RealSystem() {
  static KernelSystem* system = new KernelSystem();
  return *system;
}

}  // namespace init
}  // namespace agent
}  // namespace kata
