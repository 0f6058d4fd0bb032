#include "src/agent/container/namespaces.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

struct NsKind {
  const char* type;  // OCI name
  const char* proc;  // /proc/<pid>/ns/<proc>
  int flag;
};
constexpr NsKind kNamespaces[] = {
    {"user", "user", CLONE_NEWUSER},       {"pid", "pid", CLONE_NEWPID},
    {"mount", "mnt", CLONE_NEWNS},         {"uts", "uts", CLONE_NEWUTS},
    {"ipc", "ipc", CLONE_NEWIPC},          {"network", "net", CLONE_NEWNET},
    {"cgroup", "cgroup", CLONE_NEWCGROUP},
};

const NsKind* FindKind(const std::string& type) {
  for (const NsKind& k : kNamespaces) {
    if (type == k.type) return &k;
  }
  return nullptr;
}

// Opens `path` read-only and close-on-exec into `fds`; the raw descriptor.
absl::StatusOr<int> OpenNamespace(const std::string& path, std::vector<UniqueFd>* fds,
                                  const std::string& what) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, what);
  fds->push_back(std::move(fd));
  return fds->back().get();
}

}  // namespace

int SpecNamespaceSet::AllFlags() const {
  int all = new_flags;
  for (const auto& [flag, path] : join) all |= flag;
  return all;
}

absl::StatusOr<SpecNamespaceSet> SpecNamespaces(const oci::Spec& spec) {
  SpecNamespaceSet out;
  if (!spec.linux || !spec.linux->namespaces) return out;
  int seen = 0;
  for (const oci::LinuxNamespace& ns : *spec.linux->namespaces) {
    const NsKind* kind = FindKind(ns.type);
    if (kind == nullptr) {
      return absl::UnimplementedError(
          absl::StrCat("linux.namespaces: type \"", ns.type, "\" is not supported"));
    }
    if ((seen & kind->flag) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("linux.namespaces: ", ns.type, " appears twice"));
    }
    seen |= kind->flag;
    if (!ns.path || ns.path->empty()) {
      out.new_flags |= kind->flag;
      continue;
    }
    if (kind->flag == CLONE_NEWNS) {
      return absl::UnimplementedError(absl::StrCat("linux.namespaces: joining the mount namespace ",
                                                   *ns.path, " is not supported"));
    }
    if ((*ns.path)[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("linux.namespaces: ", ns.type, " path \"", *ns.path, "\" is not absolute"));
    }
    out.join.emplace_back(kind->flag, *ns.path);
  }
  return out;
}

absl::StatusOr<JoinedNamespaces> OpenJoinedNamespaces(const std::string& id,
                                                      const SpecNamespaceSet& set) {
  JoinedNamespaces out;
  int join_user = -1;
  std::vector<std::pair<int, int>> opened;  // (flag, fd)
  for (const auto& [flag, path] : set.join) {
    KATA_ASSIGN_OR_RETURN(
        int fd,
        OpenNamespace(path, &out.fds, absl::StrCat("container ", id, ": namespace ", path)));
    opened.emplace_back(flag, fd);
    if (flag == CLONE_NEWPID) out.join_pid = fd;
    if (flag == CLONE_NEWUSER) join_user = fd;
  }
  out.two_step = (set.new_flags & CLONE_NEWUSER) != 0 || join_user >= 0;
  for (const auto& [flag, fd] : opened) {
    if (out.two_step) {
      if (flag != CLONE_NEWUSER) out.pre_join.push_back(fd);
    } else if (flag != CLONE_NEWPID) {
      out.join_in_child.push_back(fd);
    }
  }
  if (join_user >= 0) out.pre_join.push_back(join_user);
  if (out.two_step) out.join_pid = -1;  // in pre_join: the process library refuses both
  return out;
}

absl::StatusOr<ExecNamespaces> OpenExecNamespaces(const std::string& id, pid_t init_pid,
                                                  int all_flags, int created_flags) {
  ExecNamespaces out;
  int mnt = -1;
  int user = -1;
  std::vector<int> joined, created;
  for (const NsKind& k : kNamespaces) {
    if ((all_flags & k.flag) == 0) continue;
    const std::string path = absl::StrCat("/proc/", init_pid, "/ns/", k.proc);
    KATA_ASSIGN_OR_RETURN(
        int fd, OpenNamespace(path, &out.fds, absl::StrCat("container ", id, ": open ", path)));
    if (k.flag == CLONE_NEWPID) {
      out.pid = fd;
    } else if (k.flag == CLONE_NEWNS) {
      mnt = fd;
    } else if (k.flag == CLONE_NEWUSER) {
      user = fd;
    } else {
      ((created_flags & k.flag) != 0 ? created : joined).push_back(fd);
    }
  }
  out.join = joined;
  if (user >= 0) out.join.push_back(user);
  out.join.insert(out.join.end(), created.begin(), created.end());
  if (mnt >= 0) out.join.push_back(mnt);
  return out;
}

}  // namespace agent
}  // namespace kata
