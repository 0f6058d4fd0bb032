#include "src/agent/cgroups/detect.h"

#include <errno.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "absl/strings/str_cat.h"
#include "src/agent/cgroups/v1.h"
#include "src/agent/cgroups/v2.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace cgroups {

absl::StatusOr<CgroupVersion> Detect(const std::string& root) {
  struct statfs fs;
  if (::statfs(root.c_str(), &fs) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cgroup root ", root, ": statfs"));
  }
  return fs.f_type == CGROUP2_SUPER_MAGIC ? CgroupVersion::kV2 : CgroupVersion::kV1;
}

absl::StatusOr<std::unique_ptr<CgroupManager>> NewCgroupManager(const CgroupOptions& options) {
  KATA_ASSIGN_OR_RETURN(CgroupVersion v, Detect(options.root));
  if (v == CgroupVersion::kV2) return NewV2Manager(options.root, options.enable_v2_controllers);
  return NewV1Manager(options.root);
}

}  // namespace cgroups
}  // namespace agent
}  // namespace kata
