#include "src/runtime/config/resolve.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata::config {
namespace {

using ::testing::HasSubstr;

class ResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    paths_.sys_config = dir_ + "/etc.toml";
    paths_.installed_default = dir_ + "/default.toml";
  }

  // A valid configuration whose default_memory tells which file was loaded.
  std::string Write(const std::string& name, int memory) {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(WriteStringToFile(path, absl::StrCat("[hypervisor.qemu]\ninitrd = \"/i\"\n",
                                                     "default_memory = ", memory, "\n"))
                    .ok())
        << path;
    return path;
  }

  kata::testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
  SearchPaths paths_;
};

TEST_F(ResolveTest, RuntimeOptionsPathWinsOverEverything) {
  std::string opt = Write("opt.toml", 1);
  std::string env = Write("env.toml", 2);
  Write("etc.toml", 3);
  Write("default.toml", 4);
  absl::StatusOr<ResolvedConfig> r =
      Resolve(opt, MapEnvironment({{"KATA_CONF_FILE", env}}), paths_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->path, opt);
  EXPECT_EQ(r->source, ConfigSource::kRuntimeOptions);
  EXPECT_EQ(r->config.hypervisor.default_memory, 1u);
}

TEST_F(ResolveTest, EnvironmentBeforeEtc) {
  std::string env = Write("env.toml", 2);
  Write("etc.toml", 3);
  absl::StatusOr<ResolvedConfig> r = Resolve("", MapEnvironment({{"KATA_CONF_FILE", env}}), paths_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->source, ConfigSource::kEnvironment);
  EXPECT_EQ(r->config.hypervisor.default_memory, 2u);
  EXPECT_STREQ(SourceName(r->source), "KATA_CONF_FILE");
}

TEST_F(ResolveTest, EtcBeforeInstalledDefault) {
  Write("etc.toml", 3);
  Write("default.toml", 4);
  absl::StatusOr<ResolvedConfig> r = Resolve("", MapEnvironment({{"KATA_CONF_FILE", ""}}), paths_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->source, ConfigSource::kSysConfig);
  EXPECT_EQ(r->path, paths_.sys_config);
  EXPECT_EQ(r->config.hypervisor.default_memory, 3u);
}

TEST_F(ResolveTest, InstalledDefaultLast) {
  Write("default.toml", 4);
  absl::StatusOr<ResolvedConfig> r = Resolve("", MapEnvironment({}), paths_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->source, ConfigSource::kInstalledDefault);
  EXPECT_EQ(r->config.hypervisor.default_memory, 4u);
}

TEST_F(ResolveTest, NothingFoundListsThePlacesTried) {
  absl::StatusOr<ResolvedPath> r = ResolvePath("", MapEnvironment({}), paths_);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  std::string m(r.status().message());
  EXPECT_THAT(m, HasSubstr("KATA_CONF_FILE"));
  EXPECT_THAT(m, HasSubstr(paths_.sys_config));
  EXPECT_THAT(m, HasSubstr(paths_.installed_default));
}

TEST_F(ResolveTest, NamedButMissingDoesNotFallBack) {
  Write("default.toml", 4);
  absl::StatusOr<ResolvedPath> r = ResolvePath(dir_ + "/nope.toml", MapEnvironment({}), paths_);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("nope.toml (runtime options"));

  r = ResolvePath("", MapEnvironment({{"KATA_CONF_FILE", dir_ + "/gone.toml"}}), paths_);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("gone.toml (KATA_CONF_FILE)"));
}

TEST_F(ResolveTest, ResolveReportsLoadErrors) {
  std::string bad = dir_ + "/bad.toml";
  ASSERT_TRUE(WriteStringToFile(bad, "[hypervisor.qemu]\nbogus = 1\n").ok());
  absl::StatusOr<ResolvedConfig> r = Resolve(bad, MapEnvironment({}), paths_);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("hypervisor.qemu.bogus: unknown key"));
}

TEST_F(ResolveTest, ProcessEnvironmentReadsGetenv) {
  ::setenv("KATA_CPP_RESOLVE_TEST", "v", 1);
  EXPECT_EQ(ProcessEnvironment()("KATA_CPP_RESOLVE_TEST"), std::optional<std::string>("v"));
  EXPECT_EQ(ProcessEnvironment()("KATA_CPP_RESOLVE_TEST_UNSET"), std::nullopt);
}

}  // namespace
}  // namespace kata::config
