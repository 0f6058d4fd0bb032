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
    // A bind mount of the initramfs onto itself, moved over /: the root is then a mount with a
    // parent, which pivot_root(2) accepts, at no cost (the copy onto a tmpfs it replaces took
    // 58 ms of a TCG boot). The files stay where the kernel unpacked them.
    const std::string newroot = "/.kata-root";
    if (mkdir(newroot.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir " + newroot);
    }
    if (mount("/", newroot.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return ErrnoStatus(errno, "bind / on " + newroot);
    }
    if (chdir(newroot.c_str()) != 0) return ErrnoStatus(errno, "chdir " + newroot);
    if (mount(".", "/", nullptr, MS_MOVE, nullptr) != 0)
      return ErrnoStatus(errno, "move " + newroot + " to /");
    if (chroot(".") != 0) return ErrnoStatus(errno, "chroot " + newroot);
    if (chdir("/") != 0) return ErrnoStatus(errno, "chdir /");
    rmdir(newroot.c_str());  // the bind's mount point, seen through it; empty, not needed
    return true;
  }

  absl::Status PowerOff() override {
    sync();
    if (reboot(RB_POWER_OFF) != 0) return ErrnoStatus(errno, "reboot(RB_POWER_OFF)");
    return absl::OkStatus();
  }
};

}  // namespace

System& RealSystem() {
  static KernelSystem* system = new KernelSystem();
  return *system;
}

}  // namespace init
}  // namespace agent
}  // namespace kata
