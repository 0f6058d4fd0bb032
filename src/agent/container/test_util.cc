#include "src/agent/container/test_util.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/oci/spec.h"
#include "src/libs/oci/spec_proto.h"

namespace kata {
namespace agent {
namespace testing {

absl::StatusOr<std::string> MakeBusyboxRootfs(const std::string& dir) {
  const std::string rootfs = dir + "/rootfs";
  for (const char* d : {"", "/bin", "/proc", "/dev", "/sys", "/tmp", "/etc"}) {
    if (mkdir((rootfs + d).c_str(), 0755) != 0) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", rootfs, d));
    }
  }
  absl::StatusOr<std::string> busybox = ReadFileToString("/bin/busybox");
  if (!busybox.ok()) {
    return AnnotateStatus(busybox.status(),
                          "the test rootfs needs /bin/busybox (apt-get install busybox-static)");
  }
  KATA_RETURN_IF_ERROR(WriteStringToFile(rootfs + "/bin/busybox", *busybox));
  if (chmod((rootfs + "/bin/busybox").c_str(), 0755) != 0) {
    return ErrnoStatus(errno, "chmod busybox");
  }
  for (const char* app : {"sh", "echo", "cat", "sleep", "hostname"}) {
    if (symlink("busybox", (rootfs + "/bin/" + app).c_str()) != 0) {
      return ErrnoStatus(errno, absl::StrCat("symlink ", app));
    }
  }
  return rootfs;
}

grpc::CreateContainerRequest BusyboxContainerRequest(const std::string& id,
                                                     const std::string& rootfs,
                                                     const std::string& cgroup_path,
                                                     std::vector<std::string> args, bool terminal) {
  oci::Spec spec;
  spec.oci_version = "1.0.2";
  spec.process.emplace();
  spec.process->args = std::move(args);
  spec.process->env = oci::Strings{"PATH=/bin"};
  spec.process->cwd = "/";
  spec.process->terminal = terminal;
  spec.root.emplace();
  spec.root->path = rootfs;
  spec.hostname = "c1";
  spec.mounts.emplace();
  spec.mounts->push_back({"/proc", std::string("proc"), std::string("proc"), oci::Strings{}});
  spec.mounts->push_back(
      {"/dev", std::string("tmpfs"), std::string("tmpfs"), oci::Strings{"nosuid", "mode=755"}});
  spec.linux.emplace();
  spec.linux->cgroups_path = "/" + cgroup_path;
  spec.linux->resources.emplace();
  spec.linux->resources->memory.emplace();
  spec.linux->resources->memory->limit = 64 << 20;
  spec.linux->namespaces.emplace();
  for (const char* ns : {"pid", "mount", "uts", "ipc"}) {
    spec.linux->namespaces->push_back({ns, std::nullopt, {}});
  }
  grpc::CreateContainerRequest req;
  req.set_container_id(id);
  req.set_exec_id(id);
  *req.mutable_oci() = oci::SpecToProto(spec);
  return req;
}

size_t MountCount() {
  const std::string s = kata::testing::ReadFileOrDie("/proc/self/mountinfo");
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

bool CgroupParentExists(const std::string& cgroup_parent) {
  struct stat st;
  if (stat(absl::StrCat("/sys/fs/cgroup/", cgroup_parent).c_str(), &st) == 0) return true;
  DIR* d = opendir("/sys/fs/cgroup");
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (stat(absl::StrCat("/sys/fs/cgroup/", e->d_name, "/", cgroup_parent).c_str(), &st) == 0) {
      found = true;
    }
  }
  closedir(d);
  return found;
}

}  // namespace testing
}  // namespace agent
}  // namespace kata
