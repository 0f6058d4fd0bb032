#include "src/runtime/sandbox/layout.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

absl::Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), absl::StrCat("mkdir ", dir));
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& dir) {
  // Never follow into something still mounted: unmount first.
  absl::Status s = UnmountUnder(dir);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec && s.ok()) s = ErrnoStatus(ec.value(), absl::StrCat("remove ", dir));
  return s;
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

::grpc::Storage SandboxLayout::GuestShareStorage() const {
  ::grpc::Storage share;
  share.set_driver("9p");
  share.set_source(kShareMountTag);
  share.set_fstype("9p");
  for (const char* opt : {"trans=virtio", "version=9p2000.L", "cache=mmap", "nodev"}) {
    share.add_options(opt);
  }
  share.set_mount_point(kGuestSharedDir);
  return share;
}

absl::Status SandboxLayout::Create() {
  const std::string ctx = absl::StrCat("sandbox ", id_);
  for (const std::string& d : {sandbox_dir_, vm_dir_}) {
    if (access(d.c_str(), F_OK) == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat(ctx, ": ", d,
                       " exists (a sandbox with this id is running, or one left it: "
                       "CleanupSandbox removes leftovers)"));
    }
  }
  absl::Cleanup undo = [this] { Remove().IgnoreError(); };
  for (const std::string& d : {shared_dir_, mounts_dir_, vm_dir_}) {
    KATA_RETURN_IF_ERROR(AnnotateStatus(MakeDirs(d), ctx));
  }
  std::move(undo).Cancel();
  return absl::OkStatus();
}

absl::Status SandboxLayout::RecordVmmPid(pid_t pid) {
  return WriteStringToFile(absl::StrCat(vm_dir_, "/", kPidFile), absl::StrCat(pid, "\n"));
}

absl::StatusOr<std::string> SandboxLayout::RootfsSource(const ContainerConfig& config) {
  const std::string ctx = absl::StrCat("container ", config.id);
  if (!config.rootfs_mounts.empty()) {
    const std::string host_rootfs = absl::StrCat(mounts_dir_, "/", config.id, "/rootfs");
    KATA_RETURN_IF_ERROR(AnnotateStatus(MakeDirs(host_rootfs), ctx));
    KATA_RETURN_IF_ERROR(AnnotateStatus(MountAll(config.rootfs_mounts, host_rootfs), ctx));
    return host_rootfs;
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
  struct stat st;
  if (stat(source.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat(ctx, ": rootfs ", source));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx, ": rootfs ", source, " is not a directory"));
  }
  return source;
}

absl::StatusOr<oci::Spec> SandboxLayout::ShareContainer(const ContainerConfig& config) {
  const std::string& cid = config.id;
  const std::string ctx = absl::StrCat("container ", cid);
  absl::Cleanup undo = [&] { UnshareContainer(cid).IgnoreError(); };
  KATA_ASSIGN_OR_RETURN(std::string source, RootfsSource(config));
  const std::string shared_rootfs = absl::StrCat(shared_dir_, "/", cid, "/rootfs");
  KATA_RETURN_IF_ERROR(AnnotateStatus(MakeDirs(shared_rootfs), ctx));
  KATA_RETURN_IF_ERROR(AnnotateStatus(BindMount(source, shared_rootfs, {.recursive = true}), ctx));
  oci::Spec spec = config.spec;
  KATA_RETURN_IF_ERROR(AnnotateStatus(ShareVolumes(cid, &spec), ctx));
  std::move(undo).Cancel();
  return spec;
}

// Binds each host path that `spec` bind-mounts into the container (a volume; not /proc, /sys
// or /dev) to shared/<cid>/volumes/<n>-<basename> and points the mount's source at the guest's
// view of it, as Kata does for shared-directory mounts.
absl::Status SandboxLayout::ShareVolumes(const std::string& cid, oci::Spec* spec) {
  if (!spec->mounts.has_value()) return absl::OkStatus();
  const std::string dir = absl::StrCat(shared_dir_, "/", cid, "/volumes");
  int n = 0;
  for (oci::Mount& m : *spec->mounts) {
    const bool bind = m.type.value_or("") == "bind" || HasOption(m.options, "bind") ||
                      HasOption(m.options, "rbind");
    const std::string source = m.source.value_or("");
    if (!bind || source.empty() || source[0] != '/') continue;
    if (absl::StartsWith(source, "/proc") || absl::StartsWith(source, "/sys") ||
        absl::StartsWith(source, "/dev")) {
      continue;
    }
    struct stat st;
    if (stat(source.c_str(), &st) != 0) {
      return ErrnoStatus(errno, absl::StrCat("bind mount source ", source));
    }
    const std::string name = absl::StrCat(n++, "-", fs::path(m.destination).filename().string());
    const std::string target = absl::StrCat(dir, "/", name);
    KATA_RETURN_IF_ERROR(MakeDirs(dir));
    if (S_ISDIR(st.st_mode)) {
      KATA_RETURN_IF_ERROR(MakeDirs(target));
    } else {
      KATA_RETURN_IF_ERROR(WriteStringToFile(target, ""));
    }
    KATA_RETURN_IF_ERROR(BindMount(
        source, target,
        {.recursive = HasOption(m.options, "rbind"), .read_only = HasOption(m.options, "ro")}));
    m.source = absl::StrCat(kGuestSharedDir, cid, "/volumes/", name);
  }
  return absl::OkStatus();
}

absl::Status SandboxLayout::UnshareContainer(const std::string& cid) {
  absl::Status first = RemoveTree(absl::StrCat(shared_dir_, "/", cid));
  absl::Status s = RemoveTree(absl::StrCat(mounts_dir_, "/", cid));
  if (first.ok()) first = s;
  return first;
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
    if (cmdline.ok() && absl::StrContains(*cmdline, layout.vm_dir())) KillAndAwait(pid);
  }
  return AnnotateStatus(layout.Remove(), absl::StrCat("sandbox ", sandbox_id, ": cleanup"));
}

}  // namespace kata::runtime
