// Kata's own configuration file against kata-cpp (kata_keys.h): Kata's stock
// configuration-qemu.toml loads with one warning per key kata-cpp does not act on, keys that
// would weaken security if ignored are refused, typos stay errors, and docs/configuration.md
// names every key.
#include "src/runtime/config/kata_keys.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/runtime/config/config.h"

namespace kata::config {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr char kStock[] = "src/runtime/config/testdata/kata-configuration-qemu.toml";
constexpr char kMinimal[] = "[hypervisor.qemu]\ninitrd = \"/i.img\"\nshared_fs = \"virtio-9p\"\n";

// The key path a warning starts with ("hypervisor.qemu.rootfs_type: ...").
std::string KeyOf(const std::string& warning) { return warning.substr(0, warning.find(": ")); }

TEST(KataKeysTest, KatasStockFileLoadsWithWarningsOnly) {
  absl::StatusOr<RuntimeConfig> c = Load(kStock);
  ASSERT_TRUE(c.ok()) << c.status();
  // What kata-cpp reads from it.
  EXPECT_EQ(c->hypervisor.image, "/usr/share/kata-containers/kata-containers.img");
  EXPECT_EQ(c->hypervisor.kernel_params, "cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1");
  EXPECT_EQ(c->hypervisor.seccompsandbox, "");
  EXPECT_EQ(c->hypervisor.valid_hypervisor_paths,
            std::vector<std::string>{"/usr/bin/qemu-system-x86_64"});
  EXPECT_EQ(c->agent.dial_timeout, 45u);
  EXPECT_FALSE(c->runtime.sandbox_cgroup_only);

  // One warning per key (no key twice), each naming its line, in file order.
  std::set<std::string> keys;
  int last_line = 0;
  for (const std::string& w : c->warnings) {
    EXPECT_TRUE(keys.insert(KeyOf(w)).second) << "two warnings for " << w;
    size_t at = w.rfind("(line ");
    ASSERT_NE(at, std::string::npos) << w;
    int line = std::stoi(w.substr(at + 6));
    EXPECT_GT(line, 0) << w;
    if (!absl::StrContains(w, "no sandbox starts") && !absl::StrContains(w, "acts as true")) {
      EXPECT_GE(line, last_line) << w;  // value warnings come after the key warnings
      last_line = line;
    }
  }
  for (const char* key :
       {"hypervisor.qemu.rootfs_type", "hypervisor.qemu.cpu_features",
        "hypervisor.qemu.memory_slots", "hypervisor.qemu.pflashes", "factory.enable_template",
        "agent.kata.cdh_api_timeout", "runtime.dan_conf", "runtime.kubelet_root_dir",
        "hypervisor.qemu.image", "runtime.sandbox_cgroup_only"}) {
    EXPECT_THAT(keys, Contains(key));
  }
  // Keys kata-cpp acts on, refused ones at their accepted value and guards give none.
  for (const char* key :
       {"hypervisor.qemu.path", "hypervisor.qemu.kernel_params", "hypervisor.qemu.rootless",
        "hypervisor.qemu.shared_fs", "hypervisor.qemu.virtio_fs_daemon",
        "hypervisor.qemu.valid_hypervisor_paths", "hypervisor.qemu.valid_vhost_user_store_paths",
        "runtime.emptydir_mode", "runtime.guest_selinux_label", "agent.kata.dial_timeout",
        "agent.kata.debug_console_enabled", "runtime.enable_tracing",
        "agent.kata.enable_tracing"}) {
    EXPECT_THAT(keys, ::testing::Not(Contains(key)));
  }
  EXPECT_THAT(c->warnings,
              Contains(StartsWith("hypervisor.qemu.rootfs_type: Kata's key, not implemented by "
                                  "kata-cpp: ignored (kata-cpp boots an initrd) (line ")));
}

TEST(KataKeysTest, TheShippedDefaultHasNoWarning) {
  absl::StatusOr<RuntimeConfig> c = Load("src/runtime/config/default_configuration.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->warnings, IsEmpty());
}

TEST(KataKeysTest, WarningsNameKeyAndLine) {
  absl::StatusOr<RuntimeConfig> c =
      Parse(absl::StrCat(kMinimal, "rootfs_type = \"xfs\"\n[factory]\nvm_cache_number = 2\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->warnings,
              ::testing::ElementsAre(
                  "hypervisor.qemu.rootfs_type: Kata's key, not implemented by kata-cpp: ignored "
                  "(kata-cpp boots an initrd) (line 4, column 1)",
                  "factory.vm_cache_number: Kata's key, not implemented by kata-cpp: ignored (no "
                  "VM cache) (line 6, column 1)"));
}

TEST(KataKeysTest, TracingIsActedOnAndItsEndpointChecked) {
  absl::StatusOr<RuntimeConfig> c =
      Parse(absl::StrCat(kMinimal, "[runtime]\nenable_tracing = true\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->warnings, IsEmpty());
  EXPECT_TRUE(c->runtime.enable_tracing);
  EXPECT_EQ(c->runtime.tracing_endpoint, "http://127.0.0.1:4318/v1/traces");  // OTLP's default
  EXPECT_EQ(c->runtime.tracing_protocol, "http/protobuf");
  c = Parse(absl::StrCat(kMinimal,
                         "[runtime]\nenable_tracing = true\ntracing_endpoint = "
                         "\"file:///var/log/t.jsonl\"\ntracing_protocol = \"http/json\"\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->runtime.tracing_endpoint, "file:///var/log/t.jsonl");
  EXPECT_EQ(c->runtime.tracing_protocol, "http/json");
  for (const char* bad : {"tracing_endpoint = \"/tmp/t\"", "tracing_endpoint = \"https://h\"",
                          "tracing_endpoint = \"http://\"", "tracing_protocol = \"grpc\""}) {
    c = Parse(absl::StrCat(kMinimal, "[runtime]\n", bad, "\n"));
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_THAT(std::string(c.status().message()), StartsWith("runtime.tracing_")) << bad;
  }
}

TEST(KataKeysTest, SecurityKeysAreRefusedUnlessTheyDescribeKataCpp) {
  struct Case {
    std::string text, error;
  };
  const std::vector<Case> cases = {
      {"rootless = true",
       "hypervisor.qemu.rootless: true is not supported by kata-cpp (QEMU "
       "runs as root); only false is accepted (line 4, column 1)"},
      {"confidential_guest = true", "hypervisor.qemu.confidential_guest: true is not supported"},
      {"sev_snp_guest = true", "hypervisor.qemu.sev_snp_guest: true is not supported"},
      {"kernel_verity_params = \"root_hash=ab\"",
       "hypervisor.qemu.kernel_verity_params: \"root_hash=ab\" is not supported"},
      {"[runtime]\nguest_selinux_label = \"system_u:system_r:container_t\"",
       "runtime.guest_selinux_label: \"system_u:system_r:container_t\" is not supported"},
      {"[runtime]\nemptydir_mode = \"virtio-blk-encrypted\"",
       "runtime.emptydir_mode: \"virtio-blk-encrypted\" is not supported by kata-cpp (emptyDir "
       "volumes are on the shared file system); only \"shared-fs\" is accepted"},
      {"[runtime]\nexperimental_force_guest_pull = true",
       "runtime.experimental_force_guest_pull: true is not supported"},
      {"rootless = 1", "hypervisor.qemu.rootless: 1 is not supported"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<RuntimeConfig> r = Parse(absl::StrCat(kMinimal, c.text, "\n"));
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.error));
  }
  absl::StatusOr<RuntimeConfig> ok = Parse(absl::StrCat(
      kMinimal, "rootless = false\nconfidential_guest = false\nkernel_verity_params = \"\"\n",
      "valid_jailer_paths = [\"/*\"]\n[runtime]\nemptydir_mode = \"shared-fs\"\n"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_THAT(ok->warnings, IsEmpty());
}

TEST(KataKeysTest, KeysNoKataReleaseHasStayErrors) {
  for (const char* text :
       {"[hypervisor.qemu]\nrootfs_typ = \"ext4\"\n", "[factory]\nenable_templat = true\n",
        "[agent.kata]\ncdh_timeout = 1\n", "[runtime]\nkubelet_root = \"/x\"\n"}) {
    absl::StatusOr<RuntimeConfig> r = Parse(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("unknown key (line 2, column 1)"));
  }
}

TEST(KataKeysTest, TheReferencePageNamesEveryKeyInItsSection) {
  const std::string doc = kata::testing::ReadFileOrDie("docs/configuration.md");
  for (absl::string_view section : KnownSections()) {
    const std::string heading = absl::StrCat("\n## [", section, "]\n");
    size_t begin = doc.find(heading);
    ASSERT_NE(begin, std::string::npos) << heading;
    size_t end = doc.find("\n## ", begin + heading.size());
    const std::string part = doc.substr(begin, end == std::string::npos ? end : end - begin);
    for (const KeyInfo& k : SectionKeys(section)) {
      EXPECT_THAT(part, HasSubstr(absl::StrCat("\n| `", k.name, "` |"))) << section;
    }
  }
}

}  // namespace
}  // namespace kata::config
