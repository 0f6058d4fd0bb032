#include "src/agent/container/container.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/agent/rootfs/rootfs.h"
#include "src/agent/security/process_security.h"
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
    {"user", "user", CLONE_NEWUSER},  {"pid", "pid", CLONE_NEWPID},
    {"mount", "mnt", CLONE_NEWNS},
    {"uts", "uts", CLONE_NEWUTS},     {"ipc", "ipc", CLONE_NEWIPC},
    {"network", "net", CLONE_NEWNET}, {"cgroup", "cgroup", CLONE_NEWCGROUP},
};

// The namespaces of `spec`: new ones as clone flags, joined ones (a `path`) by flag.
struct Namespaces {
  int new_flags = 0;
  std::vector<std::pair<int, std::string>> join;  // (flag, path)
};

// linux.uidMappings/gidMappings checked as runc does (present if and only if a new user
// namespace is requested; container root mapped) and as the kernel will (size > 0, no
// overflow of the 32-bit id space, no overlapping ranges, at most 340 lines); the contents of
// /proc/<pid>/{uid,gid}_map. Both "" without a new user namespace.
absl::Status IdMap(const char* field, const std::optional<std::vector<oci::LinuxIdMapping>>& maps,
                   bool new_user, std::string* out) {
  const bool has = maps && !maps->empty();
  if (!new_user) {
    if (has) {
      return absl::InvalidArgumentError(absl::StrCat(
          "linux.", field, " is set but no new user namespace is requested (a joined one keeps "
          "its own mappings)"));
    }
    return absl::OkStatus();
  }
  if (!has) {
    return absl::InvalidArgumentError(
        absl::StrCat("linux.", field, " is required with a new user namespace"));
  }
  if (maps->size() > 340) {
    return absl::InvalidArgumentError(absl::StrCat("linux.", field, ": more than 340 ranges"));
  }
  constexpr uint64_t kIds = uint64_t{1} << 32;
  bool root = false;
  for (size_t i = 0; i < maps->size(); ++i) {
    const oci::LinuxIdMapping& m = (*maps)[i];
    const std::string what = absl::StrCat("linux.", field, "[", i, "] (", m.container_id, " ",
                                          m.host_id, " ", m.size, ")");
    if (m.size == 0) return absl::InvalidArgumentError(absl::StrCat(what, ": size is 0"));
    if (uint64_t{m.container_id} + m.size > kIds || uint64_t{m.host_id} + m.size > kIds) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": overflows the 32-bit id range"));
    }
    for (size_t j = 0; j < i; ++j) {
      const oci::LinuxIdMapping& o = (*maps)[j];
      auto overlap = [](uint64_t a, uint64_t an, uint64_t b, uint64_t bn) {
        return a < b + bn && b < a + an;
      };
      if (overlap(m.container_id, m.size, o.container_id, o.size) ||
          overlap(m.host_id, m.size, o.host_id, o.size)) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": overlaps range ", j));
      }
    }
    if (m.container_id == 0) root = true;
    absl::StrAppend(out, m.container_id, " ", m.host_id, " ", m.size, "\n");
  }
  if (!root) {
    return absl::InvalidArgumentError(
        absl::StrCat("linux.", field, ": container id 0 (root) is not mapped"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Namespaces> SpecNamespaces(const oci::Spec& spec) {
  Namespaces out;
  if (!spec.linux || !spec.linux->namespaces) return out;
  int seen = 0;
  for (const oci::LinuxNamespace& ns : *spec.linux->namespaces) {
    const NsKind* kind = nullptr;
    for (const NsKind& k : kNamespaces) {
      if (ns.type == k.type) kind = &k;
    }
    if (kind == nullptr) {
      return absl::UnimplementedError(
          absl::StrCat("linux.namespaces: type \"", ns.type, "\" is not supported"));
    }
    if ((seen & kind->flag) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("linux.namespaces: ", ns.type, " appears twice"));
    }
    seen |= kind->flag;
    if (ns.path && !ns.path->empty()) {
      if (kind->flag == CLONE_NEWNS) {
        return absl::UnimplementedError(absl::StrCat(
            "linux.namespaces: joining the mount namespace ", *ns.path, " is not supported"));
      }
      if ((*ns.path)[0] != '/') {
        return absl::InvalidArgumentError(absl::StrCat("linux.namespaces: ", ns.type, " path \"",
                                                       *ns.path, "\" is not absolute"));
      }
      out.join.emplace_back(kind->flag, *ns.path);
    } else {
      out.new_flags |= kind->flag;
    }
  }
  return out;
}

// linux.sysctl as (path under /proc/sys, value), checked as runc does: only sysctls of a
// namespace the container has of its own (ipc: kernel.msg*, kernel.sem, kernel.shm*,
// fs.mqueue.*; net: net.*; uts: kernel.hostname, kernel.domainname).
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Sysctls(const oci::Spec& spec,
                                                                         int all_ns) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!spec.linux || !spec.linux->sysctl) return out;
  for (const auto& [key, value] : *spec.linux->sysctl) {
    const absl::string_view k = key;
    int needs = 0;
    if (absl::StartsWith(k, "kernel.msg") || k == "kernel.sem" || absl::StartsWith(k, "kernel.shm") ||
        absl::StartsWith(k, "fs.mqueue.")) {
      needs = CLONE_NEWIPC;
    } else if (absl::StartsWith(k, "net.")) {
      needs = CLONE_NEWNET;
    } else if (k == "kernel.hostname" || k == "kernel.domainname") {
      needs = CLONE_NEWUTS;
    }
    if (needs == 0 || (all_ns & needs) == 0 || k.find("..") != absl::string_view::npos ||
        k.find('/') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "linux.sysctl \"", key, "\" is not allowed (not in a namespace of the container)"));
    }
    std::string path = absl::StrCat("/proc/sys/", key);
    for (size_t i = strlen("/proc/sys/"); i < path.size(); ++i) {
      if (path[i] == '.') path[i] = '/';
    }
    out.emplace_back(std::move(path), value);
  }
  return out;
}

absl::StatusOr<std::string> CgroupPath(const std::string& id, const oci::Spec& spec,
                                       const ContainerOptions& options) {
  std::string path;
  if (spec.linux && spec.linux->cgroups_path && !spec.linux->cgroups_path->empty()) {
    path = *spec.linux->cgroups_path;
    if (path.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("linux.cgroupsPath \"", path, "\": systemd cgroup paths are not supported"));
    }
    while (!path.empty() && path[0] == '/') path.erase(0, 1);
    if (path.empty()) return absl::InvalidArgumentError("linux.cgroupsPath is \"/\"");
  } else {
    path = absl::StrCat(options.cgroup_parent, "/", id);
  }
  return path;
}

ProcessOptions BaseOptions(const oci::Process& p) {
  ProcessOptions o;
  if (p.args) o.argv = *p.args;
  if (p.env) o.env = *p.env;
  o.cwd = p.cwd.empty() ? "/" : p.cwd;
  ProcessUser user;
  user.uid = p.user.uid;
  user.gid = p.user.gid;
  if (p.user.additional_gids) {
    user.additional_gids.assign(p.user.additional_gids->begin(), p.user.additional_gids->end());
  }
  o.user = user;
  o.terminal = p.terminal.value_or(false);
  if (o.terminal && p.console_size) {
    o.rows = static_cast<uint16_t>(std::min<uint64_t>(p.console_size->height, 65535));
    o.cols = static_cast<uint16_t>(std::min<uint64_t>(p.console_size->width, 65535));
  }
  return o;
}

absl::Status CheckArgs(const oci::Process& p) {
  if (!p.args || p.args->empty() || (*p.args)[0].empty()) {
    return absl::InvalidArgumentError("process.args is empty");
  }
  return absl::OkStatus();
}

// Waits for `p` up to `deadline` (InfiniteFuture: forever). True when it
// exited.
bool WaitUntil(Process& p, absl::Time deadline) {
  while (!p.TryWait().has_value()) {
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

absl::Status ValidateId(absl::string_view id, absl::string_view what) {
  auto ok_first = [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); };
  auto ok_rest = [&](char c) { return ok_first(c) || c == '_' || c == '.' || c == '-'; };
  bool valid = !id.empty() && id.size() <= 64 && ok_first(id[0]);
  for (size_t i = 1; valid && i < id.size(); ++i) valid = ok_rest(id[i]);
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", what, " \"", absl::CHexEscape(id),
                                                   "\": want [A-Za-z0-9][A-Za-z0-9_.-]{0,63}"));
  }
  return absl::OkStatus();
}

absl::string_view StateName(Container::State state) {
  switch (state) {
    case Container::State::kCreated:
      return "created";
    case Container::State::kPaused:
      return "paused";
    case Container::State::kRunning:
      return "running";
    case Container::State::kStopped:
      return "stopped";
    case Container::State::kRemoved:
      return "removed";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<Container>> Container::Create(const std::string& id,
                                                             const std::string& exec_id,
                                                             const oci::Spec& spec,
                                                             const ContainerOptions& options) {
  KATA_RETURN_IF_ERROR(ValidateId(id, "container id"));
  KATA_RETURN_IF_ERROR(ValidateId(exec_id, "exec id"));
  if (!spec.process) return absl::InvalidArgumentError("spec has no process");
  KATA_RETURN_IF_ERROR(CheckArgs(*spec.process));
  if (!spec.root || spec.root->path.empty()) {
    return absl::InvalidArgumentError("spec has no root.path");
  }
  std::string rootfs = spec.root->path;
  if (rootfs[0] != '/') rootfs = absl::StrCat(options.bundle_root, "/", id, "/", rootfs);
  struct stat st;
  if (stat(rootfs.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("rootfs ", rootfs));
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("rootfs ", rootfs, " is not a directory"));
  }
  KATA_ASSIGN_OR_RETURN(Namespaces nss, SpecNamespaces(spec));
  const int flags = nss.new_flags;
  const bool new_user = (flags & CLONE_NEWUSER) != 0;
  std::string uid_map, gid_map;
  {
    static const std::optional<std::vector<oci::LinuxIdMapping>> kNone;
    absl::Status st = IdMap("uidMappings", spec.linux ? spec.linux->uid_mappings : kNone,
                            new_user, &uid_map);
    if (st.ok()) {
      st = IdMap("gidMappings", spec.linux ? spec.linux->gid_mappings : kNone, new_user,
                 &gid_map);
    }
    if (!st.ok()) return AnnotateStatus(st, absl::StrCat("container ", id));
  }
  if ((flags & CLONE_NEWNS) == 0) {
    return absl::InvalidArgumentError("linux.namespaces: a mount namespace is required");
  }
  int all_ns = flags;
  for (const auto& [flag, path] : nss.join) all_ns |= flag;
  std::string hostname = spec.hostname.value_or("");
  if (!hostname.empty() && (all_ns & CLONE_NEWUTS) == 0) {
    return absl::InvalidArgumentError("hostname set without a uts namespace");
  }
  KATA_ASSIGN_OR_RETURN(auto sysctls, Sysctls(spec, all_ns));
  std::string domainname = spec.domainname.value_or("");
  if (!domainname.empty() && (all_ns & CLONE_NEWUTS) == 0) {
    return absl::InvalidArgumentError("domainname set without a uts namespace");
  }
  // Namespaces joined by path: opened here, joined in the child (pid: by the process
  // library, before fork).
  std::vector<int> join_fds;
  int join_pid_fd = -1;
  int join_user_fd = -1;
  absl::Cleanup close_join = [&] {
    for (int fd : join_fds) close(fd);
  };
  for (const auto& [flag, path] : nss.join) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return ErrnoStatus(errno, absl::StrCat("container ", id, ": namespace ", path));
    }
    join_fds.push_back(fd);
    if (flag == CLONE_NEWPID) join_pid_fd = fd;
    if (flag == CLONE_NEWUSER) join_user_fd = fd;
  }
  // With a user namespace (new or joined) the init is started in two steps (process.h): the
  // namespaces joined by path are entered before the clone, the joined user namespace last
  // (the others may be owned by the agent's user namespace, where only the agent is
  // privileged), so every new namespace is owned by the container's user namespace.
  const bool userns = new_user || join_user_fd >= 0;
  std::vector<int> join_in_child;
  std::vector<int> pre_join;
  for (int fd : join_fds) {
    if (userns) {
      if (fd != join_user_fd) pre_join.push_back(fd);
    } else if (fd != join_pid_fd) {
      join_in_child.push_back(fd);
    }
  }
  if (join_user_fd >= 0) pre_join.push_back(join_user_fd);
  KATA_ASSIGN_OR_RETURN(std::string cg_path, CgroupPath(id, spec, options));
  absl::StatusOr<std::shared_ptr<const security::SeccompFilter>> seccomp =
      security::CompileSeccomp(spec);
  if (!seccomp.ok()) return AnnotateStatus(seccomp.status(), absl::StrCat("container ", id));
  absl::StatusOr<security::ProcessSecurity> sec =
      security::ProcessSecurity::Prepare(*spec.process, *seccomp);
  if (!sec.ok()) return AnnotateStatus(sec.status(), absl::StrCat("container ", id));

  std::unique_ptr<Container> c(new Container());
  c->id_ = id;
  c->init_exec_id_ = exec_id;
  c->clone_flags_ = all_ns;
  c->new_ns_flags_ = flags;
  c->seccomp_ = *seccomp;

  KATA_ASSIGN_OR_RETURN(c->cgroup_, cgroups::NewCgroupManager(options.cgroups));
  oci::LinuxResources resources;
  if (spec.linux && spec.linux->resources) resources = *spec.linux->resources;
  KATA_RETURN_IF_ERROR(
      AnnotateStatus(c->cgroup_->Create(cg_path, resources), absl::StrCat("container ", id)));
  cgroups::CgroupManager* cg = c->cgroup_.get();
  Container* raw = c.get();
  absl::Cleanup destroy_cgroup = [cg, raw] {
    cg->Destroy().IgnoreError();
    raw->state_ = State::kRemoved;  // nothing left for ~Container to remove
  };

  int gate[2];
  if (pipe2(gate, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe");
  absl::Cleanup close_gate_r = [&] { close(gate[0]); };
  c->gate_fd_ = gate[1];  // closed by ~Container on failure

  ProcessOptions po = BaseOptions(*spec.process);
  po.clone_flags = flags;
  if (userns) {
    po.pre_join_ns_fds = pre_join;
    po.uid_map = uid_map;
    po.gid_map = gid_map;
  } else {
    po.join_pid_ns_fd = join_pid_fd;
  }
  po.keep_fds = join_in_child;
  po.exec_gate_fd = gate[0];
  po.parent_hook = [cg](pid_t pid) { return cg->AddProcess(pid); };
  const oci::Spec* spec_ptr = &spec;  // the child has its own copy of the agent's memory
  po.post_user_hook = [sec = *sec]() { return sec.ApplyAfterUserSwitch(); };
  po.early_hook = [sec = *sec]() { return sec.ApplyEarly(); };
  rootfs::Options rootfs_options;
  // mknod is not allowed in a user namespace: bind-mount the agent's device nodes (runc).
  rootfs_options.mknod = !userns;
  po.child_hook = [spec_ptr, rootfs, rootfs_options, hostname, domainname, join_in_child,
                   sysctls, sec = *std::move(sec)]() -> absl::Status {
    for (int fd : join_in_child) {
      if (setns(fd, 0) != 0) return ErrnoStatus(errno, "setns (linux.namespaces path)");
    }
    // Sysctls apply to the namespaces of the writer: write them now that they are ours.
    for (const auto& [path, value] : sysctls) {
      int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return ErrnoStatus(errno, absl::StrCat("sysctl ", path));
      ssize_t n = write(fd, value.data(), value.size());
      int err = errno;
      close(fd);
      if (n != static_cast<ssize_t>(value.size())) {
        return ErrnoStatus(n < 0 ? err : EIO, absl::StrCat("sysctl ", path));
      }
    }
    if (!domainname.empty() && setdomainname(domainname.data(), domainname.size()) != 0) {
      return ErrnoStatus(errno, "setdomainname");
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return ErrnoStatus(errno, "make / rprivate");
    }
    KATA_RETURN_IF_ERROR(rootfs::SetupRootfs(*spec_ptr, rootfs, rootfs_options));
    if (!hostname.empty()) {
      // A uts namespace joined from the sandbox already has it, and from inside a user
      // namespace it cannot be changed (EPERM): set it only when it differs.
      char current[256] = {};
      if ((gethostname(current, sizeof(current) - 1) != 0 || hostname != current) &&
          sethostname(hostname.data(), hostname.size()) != 0) {
        return ErrnoStatus(errno, "sethostname");
      }
    }
    return sec.ApplyBeforeUserSwitch();
  };
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Start(std::move(po));
  if (!p.ok()) return AnnotateStatus(p.status(), absl::StrCat("container ", id));
  c->processes_[exec_id] = std::shared_ptr<Process>(std::move(*p));
  std::move(destroy_cgroup).Cancel();
  return c;
}

Container::~Container() {
  bool removed;
  {
    std::lock_guard<std::mutex> l(mu_);
    removed = state_ == State::kRemoved;
  }
  if (!removed) Remove(absl::ZeroDuration()).IgnoreError();
  if (gate_fd_ >= 0) close(gate_fd_);
}

Container::State Container::state() {
  std::lock_guard<std::mutex> l(mu_);
  return StateLocked();
}

Container::State Container::StateLocked() {
  if (state_ == State::kRunning) {
    auto it = processes_.find(init_exec_id_);
    if (it != processes_.end() && it->second->TryWait().has_value()) state_ = State::kStopped;
  }
  return state_;
}

absl::Status Container::Start() {
  std::lock_guard<std::mutex> l(mu_);
  State s = StateLocked();
  if (s != State::kCreated) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", id_, " is ", StateName(s), ", not created"));
  }
  char go = 1;
  ssize_t n;
  do {
    n = write(gate_fd_, &go, 1);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(gate_fd_);
  gate_fd_ = -1;
  if (n != 1) return ErrnoStatus(err, absl::StrCat("container ", id_, ": start"));
  state_ = State::kRunning;
  return absl::OkStatus();
}

absl::Status Container::Exec(const std::string& exec_id, const oci::Process& process) {
  KATA_RETURN_IF_ERROR(ValidateId(exec_id, "exec id"));
  KATA_RETURN_IF_ERROR(CheckArgs(process));
  std::lock_guard<std::mutex> l(mu_);
  State s = StateLocked();
  if (s != State::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", id_, " is ", StateName(s), ", not running"));
  }
  if (processes_.count(exec_id) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("container ", id_, ": exec id ", exec_id, " exists"));
  }
  pid_t init = processes_[init_exec_id_]->pid();
  // Open the init's namespaces here (the child may not allocate much) and join
  // in the child.
  std::vector<int> fds;
  absl::Cleanup close_fds = [&] {
    for (int fd : fds) close(fd);
  };
  int pid_ns = -1;
  int mnt_ns = -1;
  int user_ns = -1;
  // setns in the child in this order: the namespaces the init joined by path (they may be
  // owned by the agent's user namespace), the user namespace, the ones the init created
  // (owned by that user namespace), mount last (it changes root and cwd).
  std::vector<int> joined, created, join;
  for (const NsKind& k : kNamespaces) {
    if ((clone_flags_ & k.flag) == 0) continue;
    std::string path = absl::StrCat("/proc/", init, "/ns/", k.proc);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("container ", id_, ": open ", path));
    fds.push_back(fd);
    if (k.flag == CLONE_NEWPID) {
      pid_ns = fd;
    } else if (k.flag == CLONE_NEWNS) {
      mnt_ns = fd;
    } else if (k.flag == CLONE_NEWUSER) {
      user_ns = fd;
    } else {
      ((new_ns_flags_ & k.flag) != 0 ? created : joined).push_back(fd);
    }
  }
  join = joined;
  if (user_ns >= 0) join.push_back(user_ns);
  join.insert(join.end(), created.begin(), created.end());
  if (mnt_ns >= 0) join.push_back(mnt_ns);
  absl::StatusOr<security::ProcessSecurity> sec =
      security::ProcessSecurity::Prepare(process, seccomp_);
  if (!sec.ok()) {
    return AnnotateStatus(sec.status(), absl::StrCat("container ", id_, ": exec ", exec_id));
  }
  ProcessOptions po = BaseOptions(process);
  po.join_pid_ns_fd = pid_ns;
  po.keep_fds = join;
  cgroups::CgroupManager* cg = cgroup_.get();
  po.parent_hook = [cg](pid_t pid) { return cg->AddProcess(pid); };
  po.post_user_hook = [sec = *sec]() { return sec.ApplyAfterUserSwitch(); };
  po.early_hook = [sec = *sec]() { return sec.ApplyEarly(); };
  po.child_hook = [join, sec = *std::move(sec)]() -> absl::Status {
    for (int fd : join) {
      if (setns(fd, 0) != 0) return ErrnoStatus(errno, "setns");
    }
    return sec.ApplyBeforeUserSwitch();
  };
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Start(std::move(po));
  if (!p.ok()) {
    return AnnotateStatus(p.status(), absl::StrCat("container ", id_, ": exec ", exec_id));
  }
  processes_[exec_id] = std::shared_ptr<Process>(std::move(*p));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Process>> Container::GetProcess(const std::string& exec_id) {
  std::lock_guard<std::mutex> l(mu_);
  if (state_ == State::kRemoved) {
    return absl::FailedPreconditionError(absl::StrCat("container ", id_, " is removed"));
  }
  auto it = processes_.find(exec_id);
  if (it == processes_.end()) {
    return absl::NotFoundError(
        absl::StrCat("container ", id_, ": no process with exec id \"", exec_id, "\""));
  }
  return it->second;
}

absl::Status Container::Signal(const std::string& exec_id, int sig) {
  if (!exec_id.empty()) {
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Process> p, GetProcess(exec_id));
    return p->Signal(sig);
  }
  std::lock_guard<std::mutex> l(mu_);
  if (state_ == State::kRemoved) {
    return absl::FailedPreconditionError(absl::StrCat("container ", id_, " is removed"));
  }
  KATA_ASSIGN_OR_RETURN(std::vector<pid_t> pids, cgroup_->Pids());
  for (pid_t pid : pids) kill(pid, sig);
  return absl::OkStatus();
}

absl::StatusOr<int> Container::Wait(const std::string& exec_id) {
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Process> p, GetProcess(exec_id));
  return p->Wait();
}

absl::Status Container::Remove(absl::Duration timeout) {
  std::lock_guard<std::mutex> l(mu_);
  if (state_ == State::kRemoved) {
    return absl::FailedPreconditionError(absl::StrCat("container ", id_, " is removed"));
  }
  absl::Time deadline =
      timeout == absl::ZeroDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  if (state_ == State::kPaused) {
    // Frozen processes do not act on SIGKILL: thaw first.
    KATA_RETURN_IF_ERROR(
        AnnotateStatus(cgroup_->Thaw(absl::Seconds(5)), absl::StrCat("container ", id_)));
    state_ = State::kRunning;
  }
  for (auto& [name, p] : processes_) p->Signal(SIGKILL).IgnoreError();
  // Without a pid namespace, descendants outlive the init: kill what is left in
  // the cgroup.
  absl::StatusOr<std::vector<pid_t>> pids = cgroup_->Pids();
  if (pids.ok()) {
    for (pid_t pid : *pids) kill(pid, SIGKILL);
  }
  for (auto& [name, p] : processes_) {
    if (!WaitUntil(*p, deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat("container ", id_, ": process ", name, " did not exit"));
    }
  }
  // The kernel may list a just-reaped process for a moment: retry briefly.
  absl::Status st;
  for (int i = 0; i < 200; ++i) {
    st = cgroup_->Destroy();
    if (st.code() != absl::StatusCode::kFailedPrecondition || absl::Now() >= deadline) break;
    pids = cgroup_->Pids();
    if (pids.ok()) {
      for (pid_t pid : *pids) kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!st.ok()) return AnnotateStatus(st, absl::StrCat("container ", id_));
  processes_.clear();
  state_ = State::kRemoved;
  return absl::OkStatus();
}

absl::Status Container::Pause(absl::Duration timeout) {
  std::lock_guard<std::mutex> l(mu_);
  State s = StateLocked();
  if (s != State::kRunning) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", id_, " is ", StateName(s), ", not running"));
  }
  KATA_RETURN_IF_ERROR(
      AnnotateStatus(cgroup_->Freeze(timeout), absl::StrCat("container ", id_, ": pause")));
  state_ = State::kPaused;
  return absl::OkStatus();
}

absl::Status Container::Resume(absl::Duration timeout) {
  std::lock_guard<std::mutex> l(mu_);
  State s = StateLocked();
  if (s != State::kPaused) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", id_, " is ", StateName(s), ", not paused"));
  }
  KATA_RETURN_IF_ERROR(
      AnnotateStatus(cgroup_->Thaw(timeout), absl::StrCat("container ", id_, ": resume")));
  state_ = State::kRunning;
  return absl::OkStatus();
}

absl::StatusOr<cgroups::CgroupStats> Container::Stats() {
  std::lock_guard<std::mutex> l(mu_);
  if (state_ == State::kRemoved) {
    return absl::FailedPreconditionError(absl::StrCat("container ", id_, " is removed"));
  }
  absl::StatusOr<cgroups::CgroupStats> st = cgroup_->Stats();
  if (!st.ok()) return AnnotateStatus(st.status(), absl::StrCat("container ", id_));
  return st;
}

absl::Status Container::Update(const oci::LinuxResources& resources) {
  std::lock_guard<std::mutex> l(mu_);
  if (state_ == State::kRemoved) {
    return absl::FailedPreconditionError(absl::StrCat("container ", id_, " is removed"));
  }
  return AnnotateStatus(cgroup_->Apply(resources), absl::StrCat("container ", id_, ": update"));
}

absl::StatusOr<uint64_t> Container::OomKillCount() {
  std::lock_guard<std::mutex> l(mu_);
  if (state_ == State::kRemoved) {
    return absl::FailedPreconditionError(absl::StrCat("container ", id_, " is removed"));
  }
  return cgroup_->OomKillCount();
}

}  // namespace agent
}  // namespace kata
