#include "src/libs/device/spec_update.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/libs/base/status_macros.h"

namespace kata {
namespace device {
namespace {

// (type, major, minor) of a device as the spec names it. The type views a string of the spec,
// which lives (unchanged) as long as the map that holds the key.
using DeviceTriple = std::tuple<absl::string_view, int64_t, int64_t>;

// Empty when the update is well formed, else what is wrong with it.
std::string ProblemWith(absl::string_view container_path, const DevUpdate& update) {
  if (container_path.empty()) return "device \"\": empty container path";
  const char type = update.info.cgroup_type;
  if (type != 'b' && type != 'c') {
    return absl::StrCat("device ", container_path, ": cgroup type '",
                        absl::CEscape(absl::string_view(&type, 1)), "' is not 'b' or 'c'");
  }
  if (update.final_path.has_value() && update.final_path->empty()) {
    return absl::StrCat("device ", container_path, ": final path is set but empty");
  }
  return "";
}

absl::Status ValidateUpdates(const SpecUpdates& updates) {
  std::vector<std::string> problems;
  for (const auto& [path, update] : updates) {
    std::string problem = ProblemWith(path, update);
    if (!problem.empty()) problems.push_back(std::move(problem));
  }
  if (problems.empty()) return absl::OkStatus();
  std::sort(problems.begin(), problems.end());
  return absl::InvalidArgumentError(
      absl::StrCat("malformed device updates: ", absl::StrJoin(problems, "; ")));
}

absl::Status RequireLinux(const oci::Spec& spec) {
  if (spec.linux.has_value()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "spec has no linux section: cannot update its devices for the guest");
}

// One `linux.devices` entry chosen for an update.
struct Match {
  size_t entry;                       // index in linux.devices
  const std::string* container_path;  // key of the update
  const DevUpdate* update;
};

}  // namespace

absl::Status AddUpdate(SpecUpdates& updates, absl::string_view container_path, DevUpdate update) {
  std::string problem = ProblemWith(container_path, update);
  if (!problem.empty()) return absl::InvalidArgumentError(problem);
  auto [it, inserted] = updates.try_emplace(container_path, std::move(update));
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat(
        "device ", container_path, ": conflicting updates for the same container path"));
  }
  return absl::OkStatus();
}

absl::Status UpdateSpecDevices(oci::Spec& spec, const SpecUpdates& updates) {
  KATA_RETURN_IF_ERROR(RequireLinux(spec));
  KATA_RETURN_IF_ERROR(ValidateUpdates(updates));
  oci::Linux& section = *spec.linux;
  if (updates.empty()) return absl::OkStatus();

  // Pass 1, read only: pick the entry of each update and record its host triple. Nothing
  // is changed before every check has passed, so any error leaves the spec as it was.
  std::vector<Match> matches;
  matches.reserve(updates.size());
  absl::flat_hash_map<DeviceTriple, size_t> by_host;  // host triple -> index in matches
  by_host.reserve(updates.size());
  absl::flat_hash_set<absl::string_view> applied;  // container paths already matched
  applied.reserve(updates.size());
  if (section.devices.has_value()) {
    const std::vector<oci::LinuxDevice>& devices = *section.devices;
    for (size_t i = 0; i < devices.size(); ++i) {
      const oci::LinuxDevice& dev = devices[i];
      auto update = updates.find(dev.path);
      if (update == updates.end()) continue;
      // Each update applies to one entry only: the first with its path.
      if (!applied.insert(update->first).second) continue;
      auto [host, inserted] =
          by_host.try_emplace(DeviceTriple(dev.type, dev.major, dev.minor), matches.size());
      if (!inserted) {
        return absl::AlreadyExistsError(absl::StrCat(
            "device ", dev.path, ": host device ", dev.type, " ", dev.major, ":", dev.minor,
            " is also that of device ", *matches[host->second].container_path,
            "; two updates for one host device conflict"));
      }
      matches.push_back(Match{i, &update->first, &update->second});
    }
  }

  if (matches.size() != updates.size()) {
    std::vector<absl::string_view> missing;
    for (const auto& [path, update] : updates) {
      if (!applied.contains(path)) missing.push_back(path);
    }
    std::sort(missing.begin(), missing.end());
    return absl::NotFoundError(absl::StrCat(missing.size() == 1 ? "device " : "devices ",
                                            absl::StrJoin(missing, ", "),
                                            ": not found in the spec's linux.devices"));
  }

  // Pass 2, cannot fail: rewrite the entries, then every rule in one pass against the host
  // triples recorded above (so a rule already given guest numbers is never looked up again).
  // The keys of by_host view the entries' type strings, which are not modified.
  std::vector<oci::LinuxDevice>& devices = *section.devices;
  for (const Match& match : matches) {
    oci::LinuxDevice& dev = devices[match.entry];
    dev.major = match.update->info.major;
    dev.minor = match.update->info.minor;
    if (match.update->final_path.has_value()) dev.path = *match.update->final_path;
  }
  if (section.resources.has_value() && section.resources->devices.has_value()) {
    for (oci::LinuxDeviceCgroup& rule : *section.resources->devices) {
      if (!rule.type.has_value() || *rule.type == "a" || !rule.major.has_value() ||
          !rule.minor.has_value()) {
        continue;  // a wildcard: it names no single device
      }
      auto host = by_host.find(DeviceTriple(*rule.type, *rule.major, *rule.minor));
      if (host == by_host.end()) continue;
      const DeviceInfo& guest = matches[host->second].update->info;
      rule.major = guest.major;
      rule.minor = guest.minor;
    }
  }
  return absl::OkStatus();
}

absl::Status AppendGuestDeviceAllowRules(oci::Spec& spec, const SpecUpdates& updates) {
  KATA_RETURN_IF_ERROR(RequireLinux(spec));
  KATA_RETURN_IF_ERROR(ValidateUpdates(updates));
  if (updates.empty()) return absl::OkStatus();

  std::vector<const SpecUpdates::value_type*> ordered;
  ordered.reserve(updates.size());
  for (const auto& entry : updates) ordered.push_back(&entry);
  std::sort(ordered.begin(), ordered.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });

  oci::LinuxResources& resources =
      spec.linux->resources.has_value() ? *spec.linux->resources : spec.linux->resources.emplace();
  std::vector<oci::LinuxDeviceCgroup>& rules =
      resources.devices.has_value() ? *resources.devices : resources.devices.emplace();
  absl::flat_hash_set<std::tuple<char, int64_t, int64_t>> added;
  added.reserve(ordered.size());
  for (const auto* entry : ordered) {
    const DeviceInfo& info = entry->second.info;
    if (!added.insert({info.cgroup_type, info.major, info.minor}).second) continue;
    oci::LinuxDeviceCgroup rule;
    rule.allow = true;
    rule.type = std::string(1, info.cgroup_type);
    rule.major = info.major;
    rule.minor = info.minor;
    rule.access = "rwm";
    rules.push_back(std::move(rule));
  }
  return absl::OkStatus();
}

}  // namespace device
}  // namespace kata
