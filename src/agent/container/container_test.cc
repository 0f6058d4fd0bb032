// Unit checks of the container layer that need no privileges. The real lifecycle
// (namespaces, mounts, cgroups) is exercised through the agent's rpcs in
// //src/agent/rpc:container_rpc_test, and with user namespaces by container_userns_test.
#include "src/agent/container/container.h"

#include "gtest/gtest.h"

namespace kata {
namespace agent {
namespace {

TEST(ValidateIdTest, AcceptsAndRejects) {
  for (const char* ok : {"c1", "a", "A.b_c-d", "0abc"}) {
    EXPECT_TRUE(ValidateId(ok, "container id").ok()) << ok;
  }
  EXPECT_TRUE(ValidateId(std::string(64, 'a'), "id").ok());
  for (const char* bad : {"", "/", ".", "..", "-a", "_a", ".a", "a/b", "a b", "a\n"}) {
    absl::Status s = ValidateId(bad, "container id");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ValidateId(std::string(65, 'a'), "id").ok());
  EXPECT_NE(ValidateId("..", "container id").message().find("container id"), std::string::npos);
}

oci::Spec MinimalSpec() {
  oci::Spec spec;
  spec.process.emplace();
  spec.process->args = oci::Strings{"/bin/sh"};
  spec.root.emplace();
  spec.root->path = "/";
  spec.linux.emplace();
  spec.linux->namespaces.emplace();
  spec.linux->namespaces->push_back({"mount", std::nullopt, {}});
  return spec;
}

// Spec errors are found before anything is created.
TEST(ContainerTest, RejectsBadSpecs) {
  ContainerOptions o;
  o.cgroups.root = "/nonexistent-cgroup-root";  // never reached
  EXPECT_EQ(Container::Create("..", "x", MinimalSpec(), o).status().code(),
            absl::StatusCode::kInvalidArgument);

  oci::Spec s = MinimalSpec();
  s.process->args = oci::Strings{};
  EXPECT_EQ(Container::Create("c1", "c1", s, o).status().code(),
            absl::StatusCode::kInvalidArgument);

  s = MinimalSpec();
  s.linux->namespaces->clear();
  EXPECT_EQ(Container::Create("c1", "c1", s, o).status().code(),
            absl::StatusCode::kInvalidArgument);  // no mount namespace

  s = MinimalSpec();
  s.hostname = "h";
  EXPECT_EQ(Container::Create("c1", "c1", s, o).status().code(),
            absl::StatusCode::kInvalidArgument);  // hostname without uts

  s = MinimalSpec();
  s.linux->namespaces->push_back({"user", std::nullopt, {}});  // without mappings
  EXPECT_EQ(Container::Create("c1", "c1", s, o).status().code(),
            absl::StatusCode::kInvalidArgument);

  s = MinimalSpec();
  s.linux->namespaces->push_back({"time", std::nullopt, {}});
  EXPECT_EQ(Container::Create("c1", "c1", s, o).status().code(), absl::StatusCode::kUnimplemented);

  s = MinimalSpec();
  (*s.linux->namespaces)[0].path = "/proc/1/ns/mnt";  // joining a mount namespace
  EXPECT_EQ(Container::Create("c1", "c1", s, o).status().code(), absl::StatusCode::kUnimplemented);

  s = MinimalSpec();
  s.linux->namespaces->push_back({"network", std::string("proc/1/ns/net"), {}});
  EXPECT_EQ(Container::Create("c1", "c1", s, o).status().code(),
            absl::StatusCode::kInvalidArgument);  // relative namespace path

  s = MinimalSpec();
  s.linux->namespaces->push_back({"ipc", std::nullopt, {}});
  s.linux->namespaces->push_back({"ipc", std::nullopt, {}});
  EXPECT_EQ(Container::Create("c1", "c1", s, o).status().code(),
            absl::StatusCode::kInvalidArgument);  // twice

  s = MinimalSpec();
  s.linux->cgroups_path = "system.slice:kata:c1";
  EXPECT_EQ(Container::Create("c1", "c1", s, o).status().code(),
            absl::StatusCode::kInvalidArgument);

  s = MinimalSpec();
  s.root->path = "no-such-rootfs";
  o.bundle_root = "/nonexistent-bundles";
  EXPECT_EQ(Container::Create("c1", "c1", s, o).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace agent
}  // namespace kata
