#include "src/agent/init/system.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_util.h"

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
    std::ifstream in(path);
    if (!in) return ErrnoStatus(errno, absl::StrCat("read ", path));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  absl::Status LoadModule(const std::string& path, const std::string& params) override {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("module ", path, ": open"));
    long rc = syscall(SYS_finit_module, fd, params.c_str(), 0);
    const int err = errno;
    close(fd);
    if (rc == 0) return absl::OkStatus();
    return ErrnoStatus(err, absl::StrCat("module ", path, ": finit_module"));
  }

  absl::Status AttachConsole(const std::string& console) override {
    bool all_open = true;
    for (int fd = 0; fd <= 2; ++fd) {
      if (fcntl(fd, F_GETFD) < 0) all_open = false;
    }
    if (all_open) return absl::OkStatus();
    int fd = open(console.c_str(), O_RDWR | O_NOCTTY);  // may become fd 0: no CLOEXEC
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", console));
    for (int target = 0; target <= 2; ++target) {
      if (fcntl(target, F_GETFD) < 0) dup2(fd, target);
    }
    if (fd > 2) close(fd);
    return absl::OkStatus();
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
