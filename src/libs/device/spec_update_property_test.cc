// Randomized comparison of UpdateSpecDevices (and AppendGuestDeviceAllowRules) with a
// reference written for obviousness, not speed: quadratic loops that follow
// interfaces.md section 4 line by line. Fixed seeds, so every failure reproduces.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/device/spec_update.h"
#include "src/libs/oci/spec.h"
#include "src/libs/oci/spec_json.h"

namespace kata {
namespace device {
namespace {

using ::testing::HasSubstr;

// The whole spec as text (every member, presence included): equal dumps mean equal specs.
std::string Dump(const oci::Spec& spec) { return oci::SerializeSpec(spec, {/*pretty=*/false}); }

// ---------------------------------------------------------------------------------------
// The reference.

using UpdateList = std::vector<std::pair<std::string, DevUpdate>>;  // distinct paths

bool Malformed(const std::string& path, const DevUpdate& u) {
  return path.empty() || (u.info.cgroup_type != 'b' && u.info.cgroup_type != 'c') ||
         (u.final_path.has_value() && u.final_path->empty());
}

struct RefResult {
  absl::StatusCode code = absl::StatusCode::kOk;
  std::vector<std::string> missing;  // for kNotFound, sorted
  // On success: one device's guest numbers equal another's host numbers (same type), the
  // case where remapping rules device by device would remap some rules twice.
  bool overlap = false;
};

RefResult ReferenceUpdate(oci::Spec& spec, const UpdateList& updates) {
  RefResult result;
  if (!spec.linux) {
    result.code = absl::StatusCode::kInvalidArgument;
    return result;
  }
  for (const auto& [path, u] : updates) {
    if (Malformed(path, u)) {
      result.code = absl::StatusCode::kInvalidArgument;
      return result;
    }
  }
  const std::vector<oci::LinuxDevice> original =
      spec.linux->devices ? *spec.linux->devices : std::vector<oci::LinuxDevice>();

  // The entry of each update: the first with its path, or -1.
  std::vector<int> entry(updates.size(), -1);
  for (size_t u = 0; u < updates.size(); ++u) {
    for (size_t i = 0; i < original.size(); ++i) {
      if (original[i].path == updates[u].first) {
        entry[u] = static_cast<int>(i);
        break;
      }
    }
  }
  // Two updated entries with the same host triple conflict.
  for (size_t a = 0; a < updates.size(); ++a) {
    for (size_t b = a + 1; b < updates.size(); ++b) {
      if (entry[a] < 0 || entry[b] < 0) continue;
      const oci::LinuxDevice& da = original[entry[a]];
      const oci::LinuxDevice& db = original[entry[b]];
      if (da.type == db.type && da.major == db.major && da.minor == db.minor) {
        result.code = absl::StatusCode::kAlreadyExists;
        return result;
      }
    }
  }
  for (size_t u = 0; u < updates.size(); ++u) {
    if (entry[u] < 0) result.missing.push_back(updates[u].first);
  }
  if (!result.missing.empty()) {
    std::sort(result.missing.begin(), result.missing.end());
    result.code = absl::StatusCode::kNotFound;
    return result;
  }

  for (size_t a = 0; a < updates.size(); ++a) {
    for (size_t b = 0; b < updates.size(); ++b) {
      const oci::LinuxDevice& host_b = original[entry[b]];
      if (a != b && original[entry[a]].type == host_b.type &&
          updates[a].second.info.major == host_b.major &&
          updates[a].second.info.minor == host_b.minor) {
        result.overlap = true;
      }
    }
  }
  for (size_t u = 0; u < updates.size(); ++u) {
    oci::LinuxDevice& d = (*spec.linux->devices)[entry[u]];
    d.major = updates[u].second.info.major;
    d.minor = updates[u].second.info.minor;
    if (updates[u].second.final_path) d.path = *updates[u].second.final_path;
  }
  if (spec.linux->resources && spec.linux->resources->devices) {
    for (oci::LinuxDeviceCgroup& rule : *spec.linux->resources->devices) {
      if (!rule.type || *rule.type == "a" || !rule.major || !rule.minor) continue;
      // Compare with the entries as they were (never with numbers already rewritten).
      for (size_t u = 0; u < updates.size(); ++u) {
        const oci::LinuxDevice& host = original[entry[u]];
        if (host.type == *rule.type && host.major == *rule.major && host.minor == *rule.minor) {
          rule.major = updates[u].second.info.major;
          rule.minor = updates[u].second.info.minor;
          break;
        }
      }
    }
  }
  return result;
}

void ReferenceAppend(oci::Spec& spec, UpdateList updates) {
  if (updates.empty()) return;
  std::sort(updates.begin(), updates.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  if (!spec.linux->resources) spec.linux->resources.emplace();
  if (!spec.linux->resources->devices) spec.linux->resources->devices.emplace();
  std::vector<std::tuple<char, int64_t, int64_t>> seen;
  for (const auto& [path, u] : updates) {
    auto key = std::make_tuple(u.info.cgroup_type, u.info.major, u.info.minor);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    oci::LinuxDeviceCgroup rule;
    rule.allow = true;
    rule.type = std::string(1, u.info.cgroup_type);
    rule.major = u.info.major;
    rule.minor = u.info.minor;
    rule.access = "rwm";
    spec.linux->resources->devices->push_back(rule);
  }
}

// ---------------------------------------------------------------------------------------
// Random inputs.

class Random {
 public:
  explicit Random(uint32_t seed) : engine_(seed) {}
  // Uniform in [0, n).
  int Below(int n) { return static_cast<int>(engine_() % static_cast<uint32_t>(n)); }
  bool OneIn(int n) { return Below(n) == 0; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(static_cast<int>(v.size()))];
  }

 private:
  std::mt19937 engine_;
};

struct Case {
  oci::Spec spec;
  UpdateList updates;
  std::string description;
};

Case Generate(Random& rnd) {
  Case c;
  const int range = rnd.Pick(std::vector<int>{2, 3, 5, 8, 16});  // small: collisions often
  const int update_pct = rnd.Pick(std::vector<int>{10, 30, 60, 100});
  auto number = [&] { return static_cast<int64_t>(rnd.Below(range)); };

  c.spec.oci_version = "1.1.0";
  c.spec.hostname = "h";
  if (rnd.OneIn(20)) return c;  // no linux
  oci::Linux& l = c.spec.linux.emplace();

  const int n = rnd.Below(51);
  std::vector<std::string> paths;
  if (!rnd.OneIn(10)) {
    l.devices.emplace();
    const int path_pool = n + n / 5 + 1;  // some paths appear twice
    for (int i = 0; i < n; ++i) {
      oci::LinuxDevice d;
      d.path = absl::StrCat("/dev/d", rnd.Below(path_pool));
      d.type = rnd.OneIn(15) ? "u" : (rnd.OneIn(2) ? "b" : "c");
      d.major = number();
      d.minor = number();
      if (rnd.OneIn(3)) d.file_mode = 0660;
      if (rnd.OneIn(5)) d.unknown.members.push_back({"x", "1"});
      paths.push_back(d.path);
      l.devices->push_back(std::move(d));
    }
  }
  if (!rnd.OneIn(10)) {
    oci::LinuxResources& res = l.resources.emplace();
    if (rnd.OneIn(2)) res.pids = oci::LinuxPids{42, {}};
    if (!rnd.OneIn(10)) {
      res.devices.emplace();
      const int rules = rnd.Below(51);
      for (int i = 0; i < rules; ++i) {
        oci::LinuxDeviceCgroup r;
        r.allow = rnd.OneIn(2);
        switch (rnd.Below(8)) {
          case 0:
            break;  // no type: wildcard
          case 1:
            r.type = "a";
            break;
          case 2:
          case 3:
          case 4:
            r.type = "b";
            break;
          default:
            r.type = "c";
            break;
        }
        if (!rnd.OneIn(8)) r.major = number();
        if (!rnd.OneIn(8)) r.minor = number();
        if (!rnd.OneIn(4)) r.access = rnd.OneIn(2) ? "rwm" : "r";
        res.devices->push_back(std::move(r));
      }
    }
  }

  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  auto random_update = [&] {
    DevUpdate u;
    u.info.cgroup_type = rnd.OneIn(2) ? 'b' : 'c';
    u.info.major = number();
    u.info.minor = number();
    if (rnd.OneIn(3)) {
      u.final_path =
          rnd.OneIn(3) && !paths.empty() ? rnd.Pick(paths) : absl::StrCat("/dev/vd", rnd.Below(99));
    }
    return u;
  };
  for (const std::string& p : paths) {
    if (rnd.Below(100) < update_pct) c.updates.push_back({p, random_update()});
  }
  if (rnd.OneIn(4)) {  // updates for devices the spec does not have
    const int extra = 1 + rnd.Below(3);
    for (int i = 0; i < extra; ++i) {
      c.updates.push_back({absl::StrCat("/dev/missing", i), random_update()});
    }
  }
  if (!c.updates.empty() && rnd.OneIn(25)) {  // a malformed one
    DevUpdate& u = c.updates[rnd.Below(static_cast<int>(c.updates.size()))].second;
    if (rnd.OneIn(2)) {
      u.info.cgroup_type = 'u';
    } else {
      u.final_path = "";
    }
  }
  // Shuffle so that the map sees the updates in any order.
  for (size_t i = c.updates.size(); i > 1; --i) {
    std::swap(c.updates[i - 1], c.updates[rnd.Below(static_cast<int>(i))]);
  }
  c.description = absl::StrCat("devices=", n, " updates=", c.updates.size(), " range=", range);
  return c;
}

// How many rules have other numbers in `after` than in `before` (same rule list shape).
int CountChangedRules(const oci::Spec& before, const oci::Spec& after) {
  if (!before.linux || !before.linux->resources || !before.linux->resources->devices) return 0;
  const auto& a = *before.linux->resources->devices;
  const auto& b = *after.linux->resources->devices;
  int changed = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i].major != b[i].major || a[i].minor != b[i].minor) ++changed;
  }
  return changed;
}

SpecUpdates ToMap(const UpdateList& list) {
  SpecUpdates map;
  for (const auto& [path, u] : list) map[path] = u;  // bypasses AddUpdate: malformed allowed
  return map;
}

TEST(UpdateSpecDevicesProperty, AgreesWithTheReference) {
  absl::flat_hash_map<absl::StatusCode, int> outcomes;
  int rules_remapped = 0;
  int overlaps = 0;
  for (uint32_t seed = 1; seed <= 3000; ++seed) {
    Random rnd(seed);
    Case c = Generate(rnd);
    SCOPED_TRACE(absl::StrCat("seed ", seed, ": ", c.description));
    const std::string original = Dump(c.spec);

    oci::Spec expected = c.spec;
    RefResult ref = ReferenceUpdate(expected, c.updates);
    oci::Spec actual = c.spec;
    absl::Status status = UpdateSpecDevices(actual, ToMap(c.updates));
    ++outcomes[status.code()];

    ASSERT_EQ(status.code(), ref.code) << status << "\n" << original;
    if (!status.ok()) {
      ASSERT_EQ(Dump(actual), original) << status;  // atomic
      if (ref.code == absl::StatusCode::kNotFound) {
        EXPECT_THAT(std::string(status.message()), HasSubstr(absl::StrJoin(ref.missing, ", ")));
      }
      continue;
    }
    ASSERT_EQ(Dump(actual), Dump(expected)) << original;
    rules_remapped += CountChangedRules(c.spec, actual);
    if (ref.overlap) ++overlaps;

    ReferenceAppend(expected, c.updates);
    ASSERT_TRUE(AppendGuestDeviceAllowRules(actual, ToMap(c.updates)).ok());
    ASSERT_EQ(Dump(actual), Dump(expected)) << original;
  }
  // The generator must exercise every outcome often enough to mean something.
  EXPECT_GE(outcomes[absl::StatusCode::kOk], 600);
  EXPECT_GE(outcomes[absl::StatusCode::kAlreadyExists], 300);
  EXPECT_GE(outcomes[absl::StatusCode::kNotFound], 300);
  EXPECT_GE(outcomes[absl::StatusCode::kInvalidArgument], 100);
  EXPECT_GE(rules_remapped, 500);
  EXPECT_GE(overlaps, 150);
  for (const auto& [code, count] : outcomes) {
    std::printf("%-20s %d\n", absl::StatusCodeToString(code).c_str(), count);
  }
  std::printf("rules remapped: %d, successes with guest/host overlap: %d\n", rules_remapped,
              overlaps);
}

TEST(AddUpdateProperty, FirstUpdateOfAPathWinsAndLaterOnesConflict) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    Random rnd(seed);
    SpecUpdates updates;
    std::vector<std::pair<std::string, DevUpdate>> kept;  // reference: first per path
    const int n = rnd.Below(60);
    for (int i = 0; i < n; ++i) {
      std::string path = absl::StrCat("/dev/d", rnd.Below(20));
      DevUpdate u{{rnd.OneIn(2) ? 'b' : 'c', rnd.Below(4), rnd.Below(4)}, std::nullopt};
      bool seen =
          std::any_of(kept.begin(), kept.end(), [&](const auto& k) { return k.first == path; });
      absl::Status s = AddUpdate(updates, path, u);
      if (seen) {
        ASSERT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
      } else {
        ASSERT_TRUE(s.ok()) << s;
        kept.push_back({path, u});
      }
    }
    ASSERT_EQ(updates.size(), kept.size());
    for (const auto& [path, u] : kept) ASSERT_EQ(updates.at(path).info, u.info);
  }
}

}  // namespace
}  // namespace device
}  // namespace kata
