#include "src/runtime/sandbox/layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/libs/base/file.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"
#include "src/runtime/sandbox/host_mounts.h"
#include "src/runtime/sandbox/ids.h"

namespace kata::runtime {
namespace {

namespace fs = std::filesystem;

constexpr char kPidFile[] = "vmm.pid";
// The sandbox's and the VM's directories: no other host user may enter them.
constexpr mode_t kStateDirMode = 0700;
// Directories inside the share (below a kStateDirMode directory; the guest reads them).
constexpr mode_t kShareDirMode = 0755;

absl::Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("mkdir ", dir));
  return absl::OkStatus();
}

// Makes `dir` (not its parents) with exactly `mode`; ALREADY_EXISTS when anything is there.
absl::Status MakeDir(const std::string& dir, mode_t mode) {
  const fs::path p(dir);
  KATA_ASSIGN_OR_RETURN(UniqueFd parent, OpenDirNoFollow(p.parent_path().string()));
  return MakeDirAt(parent.get(), p.filename().string(), mode, dir).status();
}

bool IsUnder(const std::string& path, absl::string_view root) {
  return path == root || absl::StartsWith(path, absl::StrCat(root, "/"));
}

// /proc, /sys and /dev are the guest's own, never shared from the host.
bool IsKernelPath(const std::string& path) {
  return IsUnder(path, "/proc") || IsUnder(path, "/sys") || IsUnder(path, "/dev");
}

// Mounts `dir` on itself, shared, and binds it read-only at `view` as its slave: what is
// mounted below `dir` later appears below `view`, with its own flags; nothing goes back.
absl::Status MakeReadOnlyView(const std::string& dir, const std::string& view) {
  struct Step {
    const char* source;
    const std::string& target;
    unsigned long flags;
    const char* what;
  };
  const Step steps[] = {
      {dir.c_str(), dir, MS_BIND, "bind on itself"},
      {nullptr, dir, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, "remount nosuid,nodev"},
      {nullptr, dir, MS_PRIVATE, "make private"},
      {nullptr, dir, MS_SHARED, "make shared"},
      {dir.c_str(), view, MS_BIND, "bind"},
      {nullptr, view, MS_SLAVE, "make slave"},
      {nullptr, view, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
       "remount ro,nosuid,nodev"},
  };
  for (const Step& s : steps) {
    if (mount(s.source, s.target.c_str(), nullptr, s.flags, nullptr) != 0) {
      return ErrnoStatus(errno, absl::StrCat(s.what, " ", s.target));
    }
  }
  return absl::OkStatus();
}

// The mount and device of `name` in `dir_fd` (not followed).
struct Where {
  bool is_dir = false;
  dev_t dev = 0;
  uint64_t mnt_id = 0;
};
absl::StatusOr<Where> WhereIs(int dir_fd, const char* name, int flags, const std::string& path) {
  struct statx stx;
  if (statx(dir_fd, name, flags | AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MNT_ID, &stx) != 0) {
    return ErrnoStatus(errno, absl::StrCat("stat ", path));
  }
  return Where{S_ISDIR(stx.stx_mode), makedev(stx.stx_dev_major, stx.stx_dev_minor),
               stx.stx_mnt_id};
}

bool SameMount(const Where& a, const Where& b) { return a.dev == b.dev && a.mnt_id == b.mnt_id; }

// Deletes what is in the directory open as `dir_fd` (on mount `where`), through directory
// descriptors, never following a symlink; refuses to enter a directory on another mount.
absl::Status RemoveContents(int dir_fd, const Where& where, const std::string& path) {
  UniqueFd list_fd(fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  DIR* d = list_fd ? fdopendir(list_fd.get()) : nullptr;
  if (d == nullptr) return ErrnoStatus(errno, absl::StrCat("list ", path));
  list_fd.release();
  absl::Cleanup close_dir = [d] { closedir(d); };
  while (struct dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    const std::string child = absl::StrCat(path, "/", name);
    KATA_ASSIGN_OR_RETURN(Where w, WhereIs(dir_fd, name.c_str(), 0, child));
    if (w.is_dir) {
      if (!SameMount(w, where)) {
        return absl::FailedPreconditionError(
            absl::StrCat("remove ", child, ": a mount is there; not deleting through it"));
      }
      UniqueFd sub(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return ErrnoStatus(errno, absl::StrCat("open ", child));
      KATA_ASSIGN_OR_RETURN(Where opened, WhereIs(sub.get(), "", AT_EMPTY_PATH, child));
      if (!SameMount(opened, where)) {
        return absl::FailedPreconditionError(
            absl::StrCat("remove ", child, ": mounted while removing; not deleting through it"));
      }
      KATA_RETURN_IF_ERROR(RemoveContents(sub.get(), where, child));
    }
    if (unlinkat(dir_fd, name.c_str(), w.is_dir ? AT_REMOVEDIR : 0) != 0) {
      return ErrnoStatus(errno, absl::StrCat("remove ", child));
    }
  }
  return absl::OkStatus();
}

// Removes `dir` and everything below it, never through a mount: unmounts what is at or below
// `dir` and each of `views` (other paths of the same tree), then refuses (FAILED_PRECONDITION,
// nothing deleted) while anything is still mounted there. A symlink at `dir` is removed, not
// followed. OK when there is nothing.
absl::Status RemoveTree(const std::string& dir, const std::vector<std::string>& views = {}) {
  std::vector<std::string> all = views;
  all.push_back(dir);
  absl::Status unmounted;
  for (const std::string& d : all) {
    absl::Status s = UnmountUnder(d);
    if (unmounted.ok()) unmounted = s;
  }
  for (const std::string& d : all) {
    KATA_ASSIGN_OR_RETURN(std::vector<std::string> left, MountPointsUnder(d));
    if (!left.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "remove ", dir, ": still mounted: ", absl::StrJoin(left, ", "),
          unmounted.ok() ? "" : absl::StrCat(" (", unmounted.message(), ")"), "; nothing deleted"));
    }
  }
  const fs::path p(dir);
  const std::string name = p.filename().string();
  UniqueFd parent(open(p.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!parent) {
    return errno == ENOENT ? absl::OkStatus() : ErrnoStatus(errno, absl::StrCat("remove ", dir));
  }
  absl::StatusOr<Where> w = WhereIs(parent.get(), name.c_str(), 0, dir);
  if (absl::IsNotFound(w.status())) return absl::OkStatus();
  KATA_RETURN_IF_ERROR(w.status());
  if (w->is_dir) {
    KATA_ASSIGN_OR_RETURN(Where up, WhereIs(parent.get(), "", AT_EMPTY_PATH, dir));
    UniqueFd d(openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d) return ErrnoStatus(errno, absl::StrCat("open ", dir));
    KATA_ASSIGN_OR_RETURN(Where opened, WhereIs(d.get(), "", AT_EMPTY_PATH, dir));
    if (!SameMount(opened, up)) {
      return absl::FailedPreconditionError(
          absl::StrCat("remove ", dir, ": a mount is there; not deleting through it"));
    }
    KATA_RETURN_IF_ERROR(RemoveContents(d.get(), opened, dir));
  }
  if (unlinkat(parent.get(), name.c_str(), w->is_dir ? AT_REMOVEDIR : 0) != 0) {
    return ErrnoStatus(errno, absl::StrCat("remove ", dir));
  }
  return absl::OkStatus();
}

// Whether the VMM's command line (NUL-separated arguments) names exactly `dir`: as a whole
// argument, or followed by '/' or ',' after the start of an argument or a ':', '=' or ','.
bool NamesDir(const std::string& cmdline, const std::string& dir) {
  for (absl::string_view arg : absl::StrSplit(cmdline, '\0')) {
    for (size_t pos = arg.find(dir); pos != absl::string_view::npos; pos = arg.find(dir, pos + 1)) {
      const size_t end = pos + dir.size();
      const bool starts =
          pos == 0 || absl::string_view(":=,").find(arg[pos - 1]) != absl::string_view::npos;
      const bool ends = end == arg.size() || arg[end] == '/' || arg[end] == ',';
      if (starts && ends) return true;
    }
  }
  return false;
}

bool HasOption(const std::optional<oci::Strings>& options, absl::string_view o) {
  if (!options.has_value()) return false;
  return std::find(options->begin(), options->end(), o) != options->end();
}

// Kills `pid` and waits (bounded) until it is gone. A pidfd tells when a process that is not
// our child ends, without polling /proc.
void KillAndAwait(pid_t pid) {
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (kill(pid, SIGKILL) != 0 || !pidfd) return;
  struct pollfd p = {pidfd.get(), POLLIN, 0};
  poll(&p, 1, 5000);
}

}  // namespace

SandboxLayout::SandboxLayout(std::string sandbox_id, SandboxPaths paths)
    : id_(std::move(sandbox_id)),
      sandbox_dir_(absl::StrCat(paths.shared_root, "/", id_)),
      shared_dir_(absl::StrCat(sandbox_dir_, "/shared")),
      mounts_dir_(absl::StrCat(sandbox_dir_, "/mounts")),
      vm_dir_(absl::StrCat(paths.vm_root, "/", id_)) {}

hypervisor::VmLayout SandboxLayout::ForVm() const {
  return {id_, shared_dir_, kShareMountTag, vm_dir_};
}

::grpc::Storage SandboxLayout::GuestShareStorage(ShareKind kind) const {
  ::grpc::Storage share;
  share.set_source(kShareMountTag);
  if (kind == ShareKind::kVirtioFs) {
    share.set_driver("virtio-fs");
    share.set_fstype("virtiofs");
    share.add_options("nodev");
  } else {
    share.set_driver("9p");
    share.set_fstype("9p");
    for (const char* opt : {"trans=virtio", "version=9p2000.L", "cache=mmap", "nodev"}) {
      share.add_options(opt);
    }
  }
  share.set_mount_point(kGuestSharedDir);
  return share;
}

absl::Status SandboxLayout::Create() {
  const std::string ctx = absl::StrCat("sandbox ", id_);
  for (const std::string& d : {sandbox_dir_, vm_dir_}) {
    if (access(d.c_str(), F_OK) == 0 || errno != ENOENT) {
      return absl::AlreadyExistsError(
          absl::StrCat(ctx, ": ", d,
                       " exists (a sandbox with this id is running, or one left it: "
                       "CleanupSandbox removes leftovers)"));
    }
  }
  for (const std::string& root :
       {fs::path(sandbox_dir_).parent_path().string(), fs::path(vm_dir_).parent_path().string()}) {
    KATA_RETURN_IF_ERROR(AnnotateStatus(MakeDirs(root), ctx));
  }
  KATA_RETURN_IF_ERROR(AnnotateStatus(MakeDir(sandbox_dir_, kStateDirMode), ctx));
  absl::Cleanup undo = [this] { Remove().IgnoreError(); };
  KATA_RETURN_IF_ERROR(AnnotateStatus(MakeDir(vm_dir_, kStateDirMode), ctx));
  KATA_RETURN_IF_ERROR(AnnotateStatus(MakeDir(mounts_dir_, kShareDirMode), ctx));
  KATA_RETURN_IF_ERROR(AnnotateStatus(MakeDir(shared_dir_, kShareDirMode), ctx));
  KATA_RETURN_IF_ERROR(AnnotateStatus(MakeReadOnlyView(mounts_dir_, shared_dir_), ctx));
  std::move(undo).Cancel();
  return absl::OkStatus();
}

absl::Status SandboxLayout::RecordVmmPid(pid_t pid) {
  return WriteStringToFile(absl::StrCat(vm_dir_, "/", kPidFile), absl::StrCat(pid, "\n"));
}

absl::Status SandboxLayout::MountRootfs(const ContainerConfig& config, const MountTarget& target) {
  const std::string ctx = absl::StrCat("container ", config.id);
  if (!config.rootfs_mounts.empty()) {
    return AnnotateStatus(MountAll(config.rootfs_mounts, target), ctx);
  }
  std::string source = config.rootfs_dir;
  if (source.empty() && config.spec.root.has_value()) source = config.spec.root->path;
  if (source.empty()) {
    return absl::InvalidArgumentError(ctx + ": no rootfs (no mounts, no root.path)");
  }
  if (source[0] != '/') {
    if (config.bundle.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx, ": rootfs \"", source, "\" is relative and there is no bundle"));
    }
    source = absl::StrCat(config.bundle, "/", source);
  }
  UniqueFd fd(open(source.c_str(), O_PATH | O_CLOEXEC));
  struct stat st;
  if (!fd || fstat(fd.get(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat(ctx, ": rootfs ", source));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": rootfs ", source, " is not a directory"));
  }
  return AnnotateStatus(BindMountFd(fd.get(), source, target, {.recursive = true}), ctx);
}

absl::StatusOr<oci::Spec> SandboxLayout::ShareContainer(const ContainerConfig& config,
                                                        bool share_rootfs) {
  const std::string& cid = config.id;
  const std::string ctx = absl::StrCat("container ", cid);
  const std::string dir = absl::StrCat(mounts_dir_, "/", cid);
  // Everything is made and mounted in the host-only tree, through descriptors: a symlink
  // found there is never followed (and a name already taken fails).
  absl::StatusOr<UniqueFd> mounts = OpenDirNoFollow(mounts_dir_);
  if (!mounts.ok()) return AnnotateStatus(mounts.status(), ctx);
  absl::StatusOr<UniqueFd> cdir = MakeDirAt(mounts->get(), cid, kShareDirMode, dir);
  if (!cdir.ok()) return AnnotateStatus(cdir.status(), ctx);
  absl::Cleanup undo = [&] { UnshareContainer(cid).IgnoreError(); };
  const std::string rootfs = dir + "/rootfs";
  KATA_RETURN_IF_ERROR(
      AnnotateStatus(MakeDirAt(cdir->get(), "rootfs", kShareDirMode, rootfs).status(), ctx));
  if (share_rootfs) KATA_RETURN_IF_ERROR(MountRootfs(config, {cdir->get(), "rootfs", rootfs}));
  oci::Spec spec = config.spec;
  KATA_RETURN_IF_ERROR(AnnotateStatus(ShareVolumes(cid, cdir->get(), &spec), ctx));
  std::move(undo).Cancel();
  return spec;
}

// Binds each host path that `spec` bind-mounts into the container (a volume; not /proc, /sys
// or /dev, compared after resolving the path) to mounts/<cid>/volumes/<n>-<basename> and
// points the mount's source at the guest's view of it, as Kata does for shared-directory mounts.
absl::Status SandboxLayout::ShareVolumes(const std::string& cid, int cid_fd, oci::Spec* spec) {
  if (!spec->mounts.has_value()) return absl::OkStatus();
  const std::string dir = absl::StrCat(mounts_dir_, "/", cid, "/volumes");
  UniqueFd volumes;
  int n = 0;
  for (oci::Mount& m : *spec->mounts) {
    const bool bind = m.type.value_or("") == "bind" || HasOption(m.options, "bind") ||
                      HasOption(m.options, "rbind");
    const std::string source = m.source.value_or("");
    if (!bind || source.empty() || source[0] != '/') continue;
    if (IsKernelPath(fs::path(source).lexically_normal().string())) continue;
    UniqueFd src(open(source.c_str(), O_PATH | O_CLOEXEC));
    if (!src) return ErrnoStatus(errno, absl::StrCat("bind mount source ", source));
    // Where it really is (a symlink to /proc, /../sys): what the bind would take.
    std::error_code ec;
    const fs::path resolved = fs::read_symlink(absl::StrCat("/proc/self/fd/", src.get()), ec);
    if (ec) return ErrnoStatus(ec.value(), absl::StrCat("resolve bind mount source ", source));
    if (IsKernelPath(resolved.string())) continue;
    struct stat st;
    if (fstat(src.get(), &st) != 0) {
      return ErrnoStatus(errno, absl::StrCat("bind mount source ", source));
    }
    if (S_ISBLK(st.st_mode)) continue;  // a block volume: hot-plugged (host_devices.h)
    if (!volumes) {
      KATA_ASSIGN_OR_RETURN(volumes, MakeDirAt(cid_fd, "volumes", kShareDirMode, dir));
    }
    const std::string name = absl::StrCat(n++, "-", fs::path(m.destination).filename().string());
    const std::string target = absl::StrCat(dir, "/", name);
    if (S_ISDIR(st.st_mode)) {
      KATA_RETURN_IF_ERROR(MakeDirAt(volumes.get(), name, kShareDirMode, target).status());
    } else {
      UniqueFd f(openat(volumes.get(), name.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
      if (!f) return ErrnoStatus(errno, absl::StrCat("create ", target));
    }
    KATA_RETURN_IF_ERROR(BindMountFd(
        src.get(), source, {volumes.get(), name, target},
        {.recursive = HasOption(m.options, "rbind"), .read_only = HasOption(m.options, "ro")}));
    m.source = absl::StrCat(kGuestSharedDir, cid, "/volumes/", name);
  }
  return absl::OkStatus();
}

absl::Status SandboxLayout::UnshareContainer(const std::string& cid) {
  // The guest's view first (copies), then the host tree (its directories are the view's).
  return RemoveTree(absl::StrCat(mounts_dir_, "/", cid), {absl::StrCat(shared_dir_, "/", cid)});
}

absl::Status SandboxLayout::Remove() {
  absl::Status first = RemoveTree(sandbox_dir_);
  absl::Status s = RemoveTree(vm_dir_);
  if (first.ok()) first = s;
  return first;
}

absl::Status CleanupSandbox(const std::string& sandbox_id, const SandboxPaths& paths) {
  KATA_RETURN_IF_ERROR(CheckId("sandbox id", sandbox_id));
  SandboxLayout layout(sandbox_id, paths);
  absl::StatusOr<std::string> recorded =
      ReadFileToString(absl::StrCat(layout.vm_dir(), "/", kPidFile));
  int pid = 0;
  if (recorded.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*recorded), &pid) && pid > 1) {
    // Only a VMM that is still ours: its command line names this sandbox's directory.
    absl::StatusOr<std::string> cmdline = ReadFileToString(absl::StrCat("/proc/", pid, "/cmdline"));
    if (cmdline.ok() && NamesDir(*cmdline, layout.vm_dir())) KillAndAwait(pid);
  }
  return AnnotateStatus(layout.Remove(), absl::StrCat("sandbox ", sandbox_id, ": cleanup"));
}

}  // namespace kata::runtime
