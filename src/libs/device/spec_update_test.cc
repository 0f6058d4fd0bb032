#include "src/libs/device/spec_update.h"

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/oci/spec.h"
#include "src/libs/oci/spec_json.h"

namespace kata {
namespace device {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The whole spec as text (every member, presence included): equal dumps mean equal specs.
std::string Dump(const oci::Spec& spec) { return oci::SerializeSpec(spec, {/*pretty=*/false}); }

oci::LinuxDevice Dev(std::string path, std::string type, int64_t major, int64_t minor) {
  oci::LinuxDevice d;
  d.path = std::move(path);
  d.type = std::move(type);
  d.major = major;
  d.minor = minor;
  return d;
}

oci::LinuxDeviceCgroup Rule(std::optional<std::string> type, std::optional<int64_t> major,
                            std::optional<int64_t> minor, bool allow = true) {
  oci::LinuxDeviceCgroup r;
  r.allow = allow;
  r.type = std::move(type);
  r.major = major;
  r.minor = minor;
  r.access = "rwm";
  return r;
}

oci::Spec MakeSpec(std::vector<oci::LinuxDevice> devices,
                   std::vector<oci::LinuxDeviceCgroup> rules) {
  oci::Spec spec;
  spec.oci_version = "1.1.0";
  spec.linux.emplace();
  spec.linux->devices = std::move(devices);
  spec.linux->resources.emplace();
  spec.linux->resources->devices = std::move(rules);
  return spec;
}

struct U {
  std::string container_path;
  char type;
  int64_t major;
  int64_t minor;
  std::optional<std::string> final_path = std::nullopt;
};

SpecUpdates Updates(std::initializer_list<U> list) {
  SpecUpdates updates;
  for (const U& u : list) {
    absl::Status s =
        AddUpdate(updates, u.container_path, DevUpdate{{u.type, u.major, u.minor}, u.final_path});
    EXPECT_TRUE(s.ok()) << s;
  }
  return updates;
}

const std::vector<oci::LinuxDevice>& Devices(const oci::Spec& spec) { return *spec.linux->devices; }
const std::vector<oci::LinuxDeviceCgroup>& Rules(const oci::Spec& spec) {
  return *spec.linux->resources->devices;
}

// Expects `status` to be an error with `code`, and `spec` to be unchanged.
void ExpectFailsUnchanged(oci::Spec& spec, const SpecUpdates& updates, absl::StatusCode code,
                          absl::Status* out = nullptr) {
  const std::string before = Dump(spec);
  absl::Status s = UpdateSpecDevices(spec, updates);
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_EQ(Dump(spec), before);
  if (out != nullptr) *out = s;
}

TEST(UpdateSpecDevices, UpdatesEntryAndMatchingRuleKeepingOtherFields) {
  oci::Spec spec = MakeSpec({Dev("/dev/xvda", "b", 202, 0), Dev("/dev/other", "b", 202, 16)},
                            {Rule("b", 202, 0), Rule("b", 202, 16)});
  (*spec.linux->devices)[0].file_mode = 0660;
  (*spec.linux->devices)[0].uid = 7;
  (*spec.linux->devices)[0].unknown.members.push_back({"x-extra", "1"});

  ASSERT_TRUE(UpdateSpecDevices(spec, Updates({{"/dev/xvda", 'b', 254, 16}})).ok());

  const oci::LinuxDevice& d = Devices(spec)[0];
  EXPECT_EQ(d.path, "/dev/xvda");
  EXPECT_EQ(d.type, "b");
  EXPECT_EQ(d.major, 254);
  EXPECT_EQ(d.minor, 16);
  EXPECT_EQ(d.file_mode, 0660u);
  EXPECT_EQ(d.uid, 7u);
  ASSERT_EQ(d.unknown.members.size(), 1u);
  EXPECT_EQ(Devices(spec)[1].major, 202);  // no update: untouched
  EXPECT_EQ(Devices(spec)[1].minor, 16);
  EXPECT_EQ(Rules(spec)[0].major, 254);
  EXPECT_EQ(Rules(spec)[0].minor, 16);
  EXPECT_EQ(Rules(spec)[0].type, "b");
  EXPECT_EQ(Rules(spec)[0].access, "rwm");
  EXPECT_TRUE(Rules(spec)[0].allow);
  EXPECT_EQ(Rules(spec)[1].major, 202);
  EXPECT_EQ(Rules(spec)[1].minor, 16);
  EXPECT_EQ(Rules(spec).size(), 2u);  // nothing appended
}

TEST(UpdateSpecDevices, FinalPathReplacesThePath) {
  oci::Spec spec = MakeSpec({Dev("/dev/a", "c", 10, 1), Dev("/dev/b", "c", 10, 2)}, {});
  ASSERT_TRUE(UpdateSpecDevices(
                  spec, Updates({{"/dev/a", 'c', 245, 0, "/dev/vfio/3"}, {"/dev/b", 'c', 245, 1}}))
                  .ok());
  EXPECT_EQ(Devices(spec)[0].path, "/dev/vfio/3");
  EXPECT_EQ(Devices(spec)[0].major, 245);
  EXPECT_EQ(Devices(spec)[1].path, "/dev/b");
  EXPECT_EQ(Devices(spec)[1].minor, 1);
}

TEST(UpdateSpecDevices, EachUpdateAppliesToTheFirstEntryOfItsPathOnly) {
  oci::Spec spec = MakeSpec({Dev("/dev/a", "b", 8, 0), Dev("/dev/a", "b", 8, 0)}, {});
  ASSERT_TRUE(UpdateSpecDevices(spec, Updates({{"/dev/a", 'b', 254, 0, "/dev/vda"}})).ok());
  EXPECT_EQ(Devices(spec)[0].path, "/dev/vda");
  EXPECT_EQ(Devices(spec)[0].major, 254);
  EXPECT_EQ(Devices(spec)[1].path, "/dev/a");
  EXPECT_EQ(Devices(spec)[1].major, 8);
}

TEST(AddUpdate, SameContainerPathTwiceConflicts) {
  SpecUpdates updates;
  ASSERT_TRUE(AddUpdate(updates, "/dev/a", DevUpdate{{'b', 1, 2}, std::nullopt}).ok());
  absl::Status s = AddUpdate(updates, "/dev/a", DevUpdate{{'b', 3, 4}, "/dev/x"});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(s.message()), HasSubstr("device /dev/a"));
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates.at("/dev/a").info, (DeviceInfo{'b', 1, 2}));  // the first one stays
  EXPECT_FALSE(updates.at("/dev/a").final_path.has_value());
}

TEST(AddUpdate, RejectsMalformedUpdates) {
  SpecUpdates updates;
  EXPECT_EQ(AddUpdate(updates, "", DevUpdate{{'b', 1, 2}, std::nullopt}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddUpdate(updates, "/dev/a", DevUpdate{{'u', 1, 2}, std::nullopt}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddUpdate(updates, "/dev/a", DevUpdate{{'c', 1, 2}, ""}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(updates.empty());
}

TEST(UpdateSpecDevices, MalformedUpdatesAreInvalidArgumentNamingEachDevice) {
  oci::Spec spec = MakeSpec({Dev("/dev/a", "b", 8, 0), Dev("/dev/b", "b", 8, 16)}, {});
  SpecUpdates updates;
  updates["/dev/b"] = DevUpdate{{'x', 1, 1}, std::nullopt};
  updates["/dev/a"] = DevUpdate{{'b', 1, 1}, ""};
  absl::Status s;
  ExpectFailsUnchanged(spec, updates, absl::StatusCode::kInvalidArgument, &s);
  EXPECT_THAT(std::string(s.message()), HasSubstr("device /dev/a: final path"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("device /dev/b: cgroup type 'x'"));
}

TEST(UpdateSpecDevices, SameHostTripleTwiceConflicts) {
  oci::Spec spec =
      MakeSpec({Dev("/dev/a", "c", 1, 3), Dev("/dev/b", "c", 1, 3)}, {Rule("c", 1, 3)});
  absl::Status s;
  ExpectFailsUnchanged(spec, Updates({{"/dev/a", 'c', 1, 5}, {"/dev/b", 'c', 1, 7}}),
                       absl::StatusCode::kAlreadyExists, &s);
  EXPECT_THAT(std::string(s.message()), HasSubstr("device /dev/b"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("device /dev/a"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("c 1:3"));
}

TEST(UpdateSpecDevices, SameNumbersDifferentTypeDoNotConflict) {
  oci::Spec spec = MakeSpec({Dev("/dev/a", "c", 1, 3), Dev("/dev/b", "b", 1, 3)}, {});
  EXPECT_TRUE(
      UpdateSpecDevices(spec, Updates({{"/dev/a", 'c', 1, 5}, {"/dev/b", 'b', 1, 7}})).ok());
}

TEST(UpdateSpecDevices, LeftoverUpdatesAreNotFoundNamingEveryPathSorted) {
  oci::Spec spec = MakeSpec({Dev("/dev/a", "b", 8, 0)}, {Rule("b", 8, 0)});
  absl::Status s;
  ExpectFailsUnchanged(spec,
                       Updates({{"/dev/z", 'b', 1, 1},
                                {"/dev/a", 'b', 254, 0},  // matches, must not be applied either
                                {"/dev/m", 'b', 1, 2},
                                {"/dev/c", 'b', 1, 3}}),
                       absl::StatusCode::kNotFound, &s);
  EXPECT_THAT(std::string(s.message()), HasSubstr("devices /dev/c, /dev/m, /dev/z:"));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("/dev/a")));
}

TEST(UpdateSpecDevices, ConflictIsReportedBeforeLeftovers) {
  oci::Spec spec = MakeSpec({Dev("/dev/a", "c", 1, 3), Dev("/dev/b", "c", 1, 3)}, {});
  ExpectFailsUnchanged(
      spec, Updates({{"/dev/a", 'c', 1, 5}, {"/dev/b", 'c', 1, 7}, {"/dev/z", 'c', 1, 9}}),
      absl::StatusCode::kAlreadyExists);
}

TEST(UpdateSpecDevices, CharRuleNeverRemapsBlockDeviceWithSameNumbers) {
  oci::Spec spec = MakeSpec({Dev("/dev/char", "c", 99, 99), Dev("/dev/block", "b", 99, 99)},
                            {Rule("c", 99, 99), Rule("b", 99, 99)});
  ASSERT_TRUE(
      UpdateSpecDevices(spec, Updates({{"/dev/char", 'c', 1, 3}, {"/dev/block", 'b', 254, 0}}))
          .ok());
  EXPECT_EQ(Rules(spec)[0].type, "c");
  EXPECT_EQ(Rules(spec)[0].major, 1);
  EXPECT_EQ(Rules(spec)[0].minor, 3);
  EXPECT_EQ(Rules(spec)[1].type, "b");
  EXPECT_EQ(Rules(spec)[1].major, 254);
  EXPECT_EQ(Rules(spec)[1].minor, 0);

  // Only the char device passed: the b 99:99 rule names another device and stays.
  oci::Spec only_char =
      MakeSpec({Dev("/dev/char", "c", 99, 99)}, {Rule("b", 99, 99), Rule("c", 99, 99)});
  ASSERT_TRUE(UpdateSpecDevices(only_char, Updates({{"/dev/char", 'c', 1, 3}})).ok());
  EXPECT_EQ(Rules(only_char)[0].major, 99);
  EXPECT_EQ(Rules(only_char)[0].minor, 99);
  EXPECT_EQ(Rules(only_char)[1].major, 1);
  EXPECT_EQ(Rules(only_char)[1].minor, 3);
}

TEST(UpdateSpecDevices, GuestHostOverlapChainRemapsEachRuleOnce) {
  // A: host 8:0 -> guest 8:16; B: host 8:16 -> guest 8:32.
  oci::Spec spec =
      MakeSpec({Dev("/dev/a", "b", 8, 0), Dev("/dev/b", "b", 8, 16)},
               {Rule("b", 8, 0), Rule("b", 8, 16), Rule("b", 8, 16, false), Rule("b", 8, 0)});
  ASSERT_TRUE(
      UpdateSpecDevices(spec, Updates({{"/dev/a", 'b', 8, 16}, {"/dev/b", 'b', 8, 32}})).ok());
  EXPECT_EQ(Devices(spec)[0].minor, 16);
  EXPECT_EQ(Devices(spec)[1].minor, 32);
  EXPECT_EQ(Rules(spec)[0].minor, 16);  // 8:0 -> 8:16, not on to 8:32
  EXPECT_EQ(Rules(spec)[1].minor, 32);
  EXPECT_EQ(Rules(spec)[2].minor, 32);
  EXPECT_FALSE(Rules(spec)[2].allow);
  EXPECT_EQ(Rules(spec)[3].minor, 16);
  for (const auto& r : Rules(spec)) EXPECT_EQ(r.major, 8);
}

TEST(UpdateSpecDevices, SwapOfTwoDevices) {
  oci::Spec spec = MakeSpec({Dev("/dev/a", "b", 8, 0), Dev("/dev/b", "b", 8, 16)},
                            {Rule("b", 8, 16), Rule("b", 8, 0)});
  ASSERT_TRUE(
      UpdateSpecDevices(spec, Updates({{"/dev/a", 'b', 8, 16}, {"/dev/b", 'b', 8, 0}})).ok());
  EXPECT_EQ(Devices(spec)[0].minor, 16);
  EXPECT_EQ(Devices(spec)[1].minor, 0);
  EXPECT_EQ(Rules(spec)[0].minor, 0);
  EXPECT_EQ(Rules(spec)[1].minor, 16);
}

TEST(UpdateSpecDevices, WildcardRulesAreUntouched) {
  oci::Spec spec = MakeSpec(
      {Dev("/dev/a", "c", 5, 1)},
      {Rule("c", std::nullopt, 1), Rule("c", 5, std::nullopt), Rule(std::nullopt, 5, 1),
       Rule("a", 5, 1), Rule(std::nullopt, std::nullopt, std::nullopt, false), Rule("c", 5, 1)});
  const std::vector<oci::LinuxDeviceCgroup> before = Rules(spec);
  ASSERT_TRUE(UpdateSpecDevices(spec, Updates({{"/dev/a", 'c', 136, 2}})).ok());
  for (size_t i = 0; i + 1 < before.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(Rules(spec)[i].type, before[i].type);
    EXPECT_EQ(Rules(spec)[i].major, before[i].major);
    EXPECT_EQ(Rules(spec)[i].minor, before[i].minor);
  }
  EXPECT_EQ(Rules(spec).back().major, 136);
  EXPECT_EQ(Rules(spec).back().minor, 2);
}

TEST(UpdateSpecDevices, SpecWithoutLinuxIsInvalidArgument) {
  oci::Spec spec;
  spec.hostname = "h";
  ExpectFailsUnchanged(spec, Updates({{"/dev/a", 'b', 1, 1}}), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(spec.linux.has_value());
  ExpectFailsUnchanged(spec, SpecUpdates(), absl::StatusCode::kInvalidArgument);
}

TEST(UpdateSpecDevices, SpecWithoutResourcesUpdatesDevicesOnly) {
  oci::Spec spec = MakeSpec({Dev("/dev/a", "b", 8, 0)}, {});
  spec.linux->resources.reset();
  ASSERT_TRUE(UpdateSpecDevices(spec, Updates({{"/dev/a", 'b', 254, 0}})).ok());
  EXPECT_EQ(Devices(spec)[0].major, 254);
  EXPECT_FALSE(spec.linux->resources.has_value());

  oci::Spec no_rules = MakeSpec({Dev("/dev/a", "b", 8, 0)}, {});
  no_rules.linux->resources->devices.reset();
  ASSERT_TRUE(UpdateSpecDevices(no_rules, Updates({{"/dev/a", 'b', 254, 0}})).ok());
  EXPECT_FALSE(no_rules.linux->resources->devices.has_value());
}

TEST(UpdateSpecDevices, SpecWithoutDevicesIsAnEmptyList) {
  oci::Spec spec = MakeSpec({}, {Rule("b", 8, 0)});
  spec.linux->devices.reset();
  ASSERT_TRUE(UpdateSpecDevices(spec, SpecUpdates()).ok());
  EXPECT_FALSE(spec.linux->devices.has_value());

  absl::Status s;
  ExpectFailsUnchanged(spec, Updates({{"/dev/a", 'b', 254, 0}}), absl::StatusCode::kNotFound, &s);
  EXPECT_THAT(std::string(s.message()), HasSubstr("device /dev/a:"));
  EXPECT_FALSE(spec.linux->devices.has_value());
}

TEST(UpdateSpecDevices, NoUpdatesLeaveTheSpecUnchanged) {
  oci::Spec spec = MakeSpec({Dev("/dev/a", "b", 8, 0)}, {Rule("b", 8, 0)});
  const std::string before = Dump(spec);
  ASSERT_TRUE(UpdateSpecDevices(spec, SpecUpdates()).ok());
  EXPECT_EQ(Dump(spec), before);
}

TEST(UpdateSpecDevices, EveryErrorLeavesTheSpecUnchanged) {
  // A spec where a partial application would be visible in devices, paths and rules.
  auto make = [] {
    return MakeSpec(
        {Dev("/dev/a", "b", 8, 0), Dev("/dev/b", "b", 8, 16), Dev("/dev/c", "b", 8, 16)},
        {Rule("b", 8, 0), Rule("b", 8, 16)});
  };
  {
    oci::Spec spec = make();  // conflict found on the last entry
    ExpectFailsUnchanged(spec,
                         Updates({{"/dev/a", 'b', 254, 0, "/dev/vda"},
                                  {"/dev/b", 'b', 254, 16},
                                  {"/dev/c", 'b', 254, 32}}),
                         absl::StatusCode::kAlreadyExists);
  }
  {
    oci::Spec spec = make();  // leftover after everything else matched
    ExpectFailsUnchanged(spec,
                         Updates({{"/dev/a", 'b', 254, 0, "/dev/vda"},
                                  {"/dev/b", 'b', 254, 16},
                                  {"/dev/missing", 'b', 254, 32}}),
                         absl::StatusCode::kNotFound);
  }
  {
    oci::Spec spec = make();  // malformed update
    SpecUpdates updates = Updates({{"/dev/a", 'b', 254, 0}});
    updates["/dev/b"] = DevUpdate{{'?', 254, 16}, std::nullopt};
    ExpectFailsUnchanged(spec, updates, absl::StatusCode::kInvalidArgument);
  }
}

TEST(AppendGuestDeviceAllowRules, AppendsOneRwmRulePerGuestDeviceInPathOrder) {
  oci::Spec spec = MakeSpec({Dev("/dev/a", "b", 8, 0), Dev("/dev/b", "b", 8, 16)},
                            {Rule(std::nullopt, std::nullopt, std::nullopt, false)});
  SpecUpdates updates = Updates({{"/dev/b", 'b', 8, 32}, {"/dev/a", 'b', 8, 16}});
  ASSERT_TRUE(UpdateSpecDevices(spec, updates).ok());
  ASSERT_TRUE(AppendGuestDeviceAllowRules(spec, updates).ok());
  ASSERT_EQ(Rules(spec).size(), 3u);
  const oci::LinuxDeviceCgroup& a = Rules(spec)[1];
  EXPECT_TRUE(a.allow);
  EXPECT_EQ(a.type, "b");
  EXPECT_EQ(a.major, 8);
  EXPECT_EQ(a.minor, 16);  // /dev/a's guest numbers, not remapped to /dev/b's
  EXPECT_EQ(a.access, "rwm");
  EXPECT_EQ(Rules(spec)[2].minor, 32);
}

TEST(AppendGuestDeviceAllowRules, CreatesResourcesAndSkipsDuplicates) {
  oci::Spec spec = MakeSpec({}, {});
  spec.linux->resources.reset();
  ASSERT_TRUE(AppendGuestDeviceAllowRules(spec, SpecUpdates()).ok());
  EXPECT_FALSE(spec.linux->resources.has_value());
  ASSERT_TRUE(AppendGuestDeviceAllowRules(spec, Updates({{"/dev/x", 'c', 10, 200},
                                                         {"/dev/y", 'c', 10, 200},
                                                         {"/dev/z", 'b', 10, 200}}))
                  .ok());
  ASSERT_EQ(Rules(spec).size(), 2u);
  EXPECT_EQ(Rules(spec)[0].type, "c");
  EXPECT_EQ(Rules(spec)[1].type, "b");
}

TEST(AppendGuestDeviceAllowRules, ErrorsLeaveTheSpecUnchanged) {
  oci::Spec no_linux;
  EXPECT_EQ(AppendGuestDeviceAllowRules(no_linux, Updates({{"/dev/x", 'c', 1, 1}})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(no_linux.linux.has_value());

  oci::Spec spec = MakeSpec({}, {});
  spec.linux->resources.reset();
  SpecUpdates updates = Updates({{"/dev/x", 'c', 1, 1}});
  updates["/dev/y"] = DevUpdate{{'z', 1, 2}, std::nullopt};
  EXPECT_EQ(AppendGuestDeviceAllowRules(spec, updates).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(spec.linux->resources.has_value());
}

}  // namespace
}  // namespace device
}  // namespace kata
