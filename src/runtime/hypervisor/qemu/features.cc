#include "src/runtime/hypervisor/qemu/features.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "src/libs/base/file.h"
#include "src/libs/base/io.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"
#include "src/runtime/hypervisor/qemu/process.h"

namespace kata::hypervisor::qemu {
namespace {

constexpr absl::Duration kProbeTimeout = absl::Seconds(10);

// QEMU's complaint: its output without the QMP lines.
std::string Complaint(const std::string& output) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "{")) continue;
    absl::StrAppend(&out, out.empty() ? "" : "; ", line);
  }
  return out;
}

// OK if `binary` starts with `extra` and quits when asked; else QEMU's complaint.
absl::Status TryOptions(const std::string& binary, const std::vector<std::string>& extra) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(errno, "probe pipe");
  UniqueFd in_read(p[0]);
  UniqueFd in_write(p[1]);
  // Fits in the pipe's buffer: written and closed before QEMU starts.
  if (absl::Status s =
          WriteAll(in_write.get(), "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n");
      !s.ok()) {
    return s;
  }
  in_write.reset();
  UniqueFd out(memfd_create("qemu-probe", MFD_CLOEXEC));
  if (!out) return ErrnoStatus(errno, "probe memfd");
  std::vector<std::string> argv = {binary, "-machine", "none", "-nodefaults", "-display",
                                   "none", "-S",       "-qmp", "stdio"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<ChildProcess>> child = ChildProcess::Spawn(
      argv, {.log_path = absl::StrCat("/proc/self/fd/", out.get()), .stdin_fd = in_read.get()});
  if (!child.ok()) return child.status();
  if (!(*child)->WaitFor(kProbeTimeout)) {
    (*child)->Kill();
    return absl::DeadlineExceededError(
        absl::StrCat(binary, " did not quit within ", absl::FormatDuration(kProbeTimeout)));
  }
  if ((*child)->wait_status() == 0) return absl::OkStatus();
  const std::string said =
      Complaint(ReadFileToString(absl::StrCat("/proc/self/fd/", out.get())).value_or(""));
  return absl::FailedPreconditionError(
      absl::StrCat(binary, " ", (*child)->exit_description(), ": ", said));
}

std::vector<std::string> RemapOption() {
  return {"-fsdev", "local,id=probe,path=/,security_model=none,readonly=on,multidevs=remap"};
}

}  // namespace

QemuFeatures ProbeQemuFeatures(const std::string& binary, const std::string& sandbox) {
  QemuFeatures f;
  if (!sandbox.empty()) {
    // The usual case, both accepted, in one run.
    std::vector<std::string> both = RemapOption();
    both.insert(both.end(), {"-sandbox", sandbox});
    if (TryOptions(binary, both).ok()) {
      f.sandbox = f.multidevs_remap = true;
      return f;
    }
    absl::Status s = TryOptions(binary, {"-sandbox", sandbox});
    f.sandbox = s.ok();
    if (!s.ok()) f.sandbox_error = std::string(s.message());
  }
  f.multidevs_remap = TryOptions(binary, RemapOption()).ok();
  return f;
}

std::string FeaturesCacheKey(const std::string& binary, const std::string& sandbox) {
  struct stat st;
  if (stat(binary.c_str(), &st) != 0) return "";
  return absl::StrCat(binary, "|", st.st_dev, "|", st.st_ino, "|", st.st_size, "|",
                      int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec, "|", sandbox);
}

namespace {

// The file: "kata-cpp qemu features v1", the key, then sandbox, multidevs (0/1) and the
// sandbox error, one per line. Anything else is not a cache hit.
constexpr char kCacheHeader[] = "kata-cpp qemu features v1";

std::optional<QemuFeatures> ReadFeaturesCache(const std::string& file, const std::string& key) {
  absl::StatusOr<std::string> text = ReadFileToString(file);
  if (!text.ok()) return std::nullopt;
  std::vector<std::string> lines = absl::StrSplit(*text, '\n');
  if (lines.size() != 6 || lines[0] != kCacheHeader || lines[1] != key || !lines[5].empty() ||
      (lines[2] != "0" && lines[2] != "1") || (lines[3] != "0" && lines[3] != "1")) {
    return std::nullopt;
  }
  QemuFeatures f;
  f.sandbox = lines[2] == "1";
  f.multidevs_remap = lines[3] == "1";
  f.sandbox_error = lines[4];
  return f;
}

void WriteFeaturesCache(const std::string& file, const std::string& key, const QemuFeatures& f) {
  std::string error = f.sandbox_error;
  std::replace(error.begin(), error.end(), '\n', ' ');
  const std::string text = absl::StrCat(kCacheHeader, "\n", key, "\n", f.sandbox ? 1 : 0, "\n",
                                        f.multidevs_remap ? 1 : 0, "\n", error, "\n");
  const std::string tmp = absl::StrCat(file, ".", getpid(), ".tmp");
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return;
  if (!WriteAll(fd.get(), text).ok() || rename(tmp.c_str(), file.c_str()) != 0) {
    unlink(tmp.c_str());
  }
}

}  // namespace

QemuFeatures FileCachedQemuFeatures(const std::string& binary, const std::string& sandbox,
                                    const std::string& cache_file) {
  const std::string key = FeaturesCacheKey(binary, sandbox);
  if (key.empty()) return ProbeQemuFeatures(binary, sandbox);
  if (std::optional<QemuFeatures> f = ReadFeaturesCache(cache_file, key); f.has_value()) {
    return *f;
  }
  QemuFeatures f = ProbeQemuFeatures(binary, sandbox);
  // Only when the binary is still the one probed.
  if (FeaturesCacheKey(binary, sandbox) == key) WriteFeaturesCache(cache_file, key, f);
  return f;
}

QemuFeatures CachedQemuFeatures(const std::string& binary, const std::string& sandbox,
                                const std::string& cache_file) {
  static auto* const mu = new absl::Mutex;
  static auto* const cache = new std::map<std::pair<std::string, std::string>, QemuFeatures>;
  absl::MutexLock lock(mu);
  auto key = std::make_pair(binary, sandbox);
  auto it = cache->find(key);
  if (it != cache->end()) return it->second;
  QemuFeatures f = cache_file.empty() ? ProbeQemuFeatures(binary, sandbox)
                                      : FileCachedQemuFeatures(binary, sandbox, cache_file);
  return cache->emplace(key, std::move(f)).first->second;
}

}  // namespace kata::hypervisor::qemu
