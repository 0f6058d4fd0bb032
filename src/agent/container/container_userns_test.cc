// Containers in a user namespace, as root on the host (real namespaces, mounts, cgroups):
// container root 0 is host uid/gid 100000 (65536 ids). The init is root inside, sees its
// mappings, has /proc, creates files the host sees as 100000, cannot write a root-owned host
// file bound read-write into it; an exec joins the same user namespace; bad mappings are
// rejected before anything is created. Needs root outside Bazel's sandbox.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "src/agent/container/container.h"
#include "src/agent/container/test_util.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/oci/spec_proto.h"

namespace kata {
namespace agent {
namespace {

namespace kt = testing;

constexpr uint32_t kHostBase = 100000;

using ::kata::testing::ReadFileOrDie;

// Whitespace-separated words of `s`, joined by one space.
std::string Words(const std::string& s) {
  return absl::StrJoin(absl::StrSplit(s, absl::ByAnyChar(" \t\n"), absl::SkipEmpty()), " ");
}

// Reads stdout of `p` until `marker` appears (or EOF).
std::string ReadUntil(Process& p, const std::string& marker) {
  std::string out;
  while (!absl::StrContains(out, marker)) {
    absl::StatusOr<std::string> chunk = p.ReadStdout(4096);
    if (!chunk.ok() || chunk->empty()) break;
    out += *chunk;
  }
  return out;
}

class UsernsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test needs root (user namespaces, mounts, cgroups)";
    // The mapped root (host uid 100000) walks to the rootfs and the bound file as "other":
    // under /tmp (TEST_TMPDIR is under root's 0700 home), made searchable.
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
    absl::StatusOr<std::string> rootfs = kt::MakeBusyboxRootfs(dir_);
    ASSERT_TRUE(rootfs.ok()) << rootfs.status();
    rootfs_ = *rootfs;
    cg_ = absl::StrCat("kata-userns-test-", getpid());
  }
  void TearDown() override {
    EXPECT_FALSE(kt::CgroupParentExists(cg_)) << "cgroup left behind";
    const std::string mounts = ReadFileOrDie("/proc/self/mountinfo");
    EXPECT_FALSE(absl::StrContains(mounts, dir_)) << "mounts left behind";
  }

  // The busybox spec with a user namespace mapping 0 -> 100000 (65536) for uids and gids.
  oci::Spec UsernsSpec(const std::string& id, std::vector<std::string> args) {
    absl::StatusOr<oci::Spec> spec = oci::SpecFromProto(
        kt::BusyboxContainerRequest(id, rootfs_, cg_ + "/" + id, std::move(args)).oci());
    EXPECT_TRUE(spec.ok()) << spec.status();
    spec->linux->namespaces->push_back({"user", std::nullopt, {}});
    spec->linux->namespaces->push_back({"network", std::nullopt, {}});
    spec->linux->uid_mappings = std::vector<oci::LinuxIdMapping>{{0, kHostBase, 65536, {}}};
    spec->linux->gid_mappings = std::vector<oci::LinuxIdMapping>{{0, kHostBase, 65536, {}}};
    return *spec;
  }

  // An exec of `process` into `c` (whose init is `init_pid`) joins the init's user namespace
  // (`user_ns_link`, the readlink of /proc/<init>/ns/user) and its other namespaces.
  void ExpectExecJoins(Container& c, oci::Process process, pid_t init_pid,
                       const std::string& user_ns_link) {
    process.args = oci::Strings{"sh", "-c",
                                "busybox id -u; busybox readlink /proc/self/ns/user; "
                                "cat /proc/1/cmdline; echo; busybox touch /tmp/g"};
    ASSERT_TRUE(c.Exec("e1", process).ok());
    std::shared_ptr<Process> e = c.GetProcess("e1").value();
    std::string eout;
    for (;;) {
      absl::StatusOr<std::string> chunk = e->ReadStdout(4096);
      ASSERT_TRUE(chunk.ok()) << chunk.status();
      if (chunk->empty()) break;
      eout += *chunk;
    }
    EXPECT_EQ(c.Wait("e1").value(), 0);
    EXPECT_EQ(eout, absl::StrCat("0\n", user_ns_link, "\n",
                                 std::string("sleep\0"
                                             "1000\0",
                                             11),
                                 "\n"));
    struct stat st;
    const std::string g = absl::StrCat("/proc/", init_pid, "/root/tmp/g");
    ASSERT_EQ(stat(g.c_str(), &st), 0) << g;
    EXPECT_EQ(st.st_uid, kHostBase);
  }

  // A second container joins the user namespace `user_ns_path` by path (no mappings of its
  // own) with new pid and mount namespaces: root inside, /proc mounted. With `mappings`'
  // id mappings as well, it is refused.
  void ExpectSecondContainerJoins(const std::string& user_ns_path, const std::string& user_ns_link,
                                  const oci::Spec& mappings) {
    oci::Spec joined = UsernsSpec("u4", {"sh", "-c",
                                         "busybox id -u; busybox readlink /proc/self/ns/user; "
                                         "echo $$; test -d /proc/1/ns && echo proc-ok"});
    joined.linux->uid_mappings.reset();
    joined.linux->gid_mappings.reset();
    for (oci::LinuxNamespace& n : *joined.linux->namespaces) {
      if (n.type == "user") n.path = user_ns_path;
    }
    absl::StatusOr<std::unique_ptr<Container>> c4 = Container::Create("u4", "u4", joined, {});
    ASSERT_TRUE(c4.ok()) << c4.status();
    ASSERT_TRUE((*c4)->Start().ok());
    std::shared_ptr<Process> init4 = (*c4)->GetProcess("u4").value();
    EXPECT_EQ(ReadUntil(*init4, "proc-ok\n"), absl::StrCat("0\n", user_ns_link, "\n1\nproc-ok\n"));
    EXPECT_EQ((*c4)->Wait("u4").value(), 0);
    ASSERT_TRUE((*c4)->Remove(absl::Seconds(10)).ok());

    // Mappings together with a joined user namespace are refused.
    joined.linux->uid_mappings = mappings.linux->uid_mappings;
    joined.linux->gid_mappings = mappings.linux->gid_mappings;
    EXPECT_EQ(Container::Create("u5", "u5", joined, {}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }

  kata::testing::TempDir tmp_{"/tmp"};
  const std::string dir_ = tmp_.path();
  std::string rootfs_, cg_;
};

TEST_F(UsernsTest, RootInsideIsAnUnprivilegedUserOutside) {
  // A root-owned host file, bound read-write: root inside is "other" to it.
  const std::string host_file = dir_ + "/host-file";
  ASSERT_TRUE(WriteStringToFile(host_file, "host data\n").ok());
  ASSERT_EQ(chmod(host_file.c_str(), 0644), 0);
  // The mapped root cannot create entries in the root-owned rootfs: the mount point exists.
  ASSERT_TRUE(WriteStringToFile(rootfs_ + "/host-file", "").ok());

  oci::Spec spec =
      UsernsSpec("u1", {"sh", "-c",
                        "busybox id -u; busybox id -g; cat /proc/self/uid_map /proc/self/gid_map; "
                        "echo data > /tmp/f; test -d /proc/1/ns && echo proc-ok; "
                        "echo evil 2>/dev/null > /host-file && echo wrote || echo denied; "
                        "echo END; exec sleep 1000"});
  spec.mounts->push_back(
      {"/tmp", std::string("tmpfs"), std::string("tmpfs"), oci::Strings{"nosuid"}});
  spec.mounts->push_back(
      {"/host-file", std::string("bind"), host_file, oci::Strings{"bind", "rw"}});
  ContainerOptions o;
  absl::StatusOr<std::unique_ptr<Container>> c = Container::Create("u1", "u1", spec, o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Start().ok());
  std::shared_ptr<Process> init = (*c)->GetProcess("u1").value();

  const std::string out = ReadUntil(*init, "END\n");
  EXPECT_EQ(Words(out), "0 0 0 100000 65536 0 100000 65536 proc-ok denied END") << out;
  EXPECT_EQ(ReadFileOrDie(host_file), "host data\n");

  // The file made in the container's tmpfs belongs to host uid/gid 100000.
  struct stat st;
  const std::string f = absl::StrCat("/proc/", init->pid(), "/root/tmp/f");
  ASSERT_EQ(stat(f.c_str(), &st), 0) << f;
  EXPECT_EQ(st.st_uid, kHostBase);
  EXPECT_EQ(st.st_gid, kHostBase);
  // The init's namespaces are owned by its user namespace, not the host's.
  const std::string host_user = ReadFileOrDie("/proc/self/uid_map");
  EXPECT_EQ(Words(ReadFileOrDie(absl::StrCat("/proc/", init->pid(), "/uid_map"))),
            "0 100000 65536");
  EXPECT_NE(Words(host_user), "0 100000 65536");

  // An exec joins the same user namespace (and the others); a second container joins it by
  // path.
  char link[256] = {};
  const std::string ns = absl::StrCat("/proc/", init->pid(), "/ns/user");
  ASSERT_GT(readlink(ns.c_str(), link, sizeof(link) - 1), 0);
  ASSERT_NO_FATAL_FAILURE(ExpectExecJoins(**c, *spec.process, init->pid(), link));
  ASSERT_NO_FATAL_FAILURE(ExpectSecondContainerJoins(ns, link, spec));

  ASSERT_TRUE((*c)->Remove(absl::Seconds(10)).ok());
}

// A process user other than root is a mapped id too: uid 1000 inside is 101000 outside.
TEST_F(UsernsTest, ProcessUserIsMapped) {
  oci::Spec spec = UsernsSpec("u2", {"sh", "-c", "busybox id -u; echo x > /tmp/h; echo END"});
  spec.process->user.uid = 1000;
  spec.process->user.gid = 1000;
  spec.mounts->push_back(
      {"/tmp", std::string("tmpfs"), std::string("tmpfs"), oci::Strings{"mode=1777"}});
  ContainerOptions o;
  absl::StatusOr<std::unique_ptr<Container>> c = Container::Create("u2", "u2", spec, o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE((*c)->Start().ok());
  std::shared_ptr<Process> init = (*c)->GetProcess("u2").value();
  EXPECT_EQ(ReadUntil(*init, "END\n"), "1000\nEND\n");
  EXPECT_EQ((*c)->Wait("u2").value(), 0);
  ASSERT_TRUE((*c)->Remove(absl::Seconds(10)).ok());
}

TEST_F(UsernsTest, BadMappingsAreRejectedChangingNothing) {
  const std::string mounts_before = ReadFileOrDie("/proc/self/mountinfo");
  using M = std::vector<oci::LinuxIdMapping>;
  struct Case {
    const char* what;
    std::function<void(oci::Spec&)> change;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"no uid mappings", [](oci::Spec& s) { s.linux->uid_mappings.reset(); },
       "uidMappings is required"},
      {"empty gid mappings", [](oci::Spec& s) { s.linux->gid_mappings = M{}; },
       "gidMappings is required"},
      {"mappings without a user namespace",
       [](oci::Spec& s) {
         auto& ns = *s.linux->namespaces;
         ns.erase(std::remove_if(ns.begin(), ns.end(),
                                 [](const oci::LinuxNamespace& n) { return n.type == "user"; }),
                  ns.end());
       },
       "no new user namespace"},
      {"size 0",
       [](oci::Spec& s) {
         s.linux->uid_mappings = M{{0, kHostBase, 0, {}}};
       },
       "size is 0"},
      {"overflow",
       [](oci::Spec& s) {
         s.linux->gid_mappings = M{{0, kHostBase, 65536, {}}, {4294967295u, 1, 2, {}}};
       },
       "overflows"},
      {"overlap",
       [](oci::Spec& s) {
         s.linux->uid_mappings = M{{0, kHostBase, 65536, {}}, {1000, 10, 10, {}}};
       },
       "overlaps range 0"},
      {"root unmapped",
       [](oci::Spec& s) {
         s.linux->uid_mappings = M{{1, kHostBase, 10, {}}};
       },
       "root) is not mapped"},
  };
  for (const Case& k : cases) {
    oci::Spec spec = UsernsSpec("u3", {"true"});
    k.change(spec);
    absl::StatusOr<std::unique_ptr<Container>> c = Container::Create("u3", "u3", spec, {});
    ASSERT_FALSE(c.ok()) << k.what;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << k.what;
    EXPECT_TRUE(absl::StrContains(c.status().message(), "container u3")) << c.status();
    EXPECT_TRUE(absl::StrContains(c.status().message(), k.message)) << c.status();
    EXPECT_FALSE(kt::CgroupParentExists(cg_)) << k.what;
  }
  EXPECT_EQ(ReadFileOrDie("/proc/self/mountinfo"), mounts_before);
}

}  // namespace
}  // namespace agent
}  // namespace kata
