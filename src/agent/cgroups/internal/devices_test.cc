// The device rules and their eBPF program: the emitted instructions run in a small
// interpreter written here (for the logic), and the kernel loads them and enforces them on a
// real cgroup2 directory of this host (/sys/fs/cgroup/unified, root, outside the sandbox): a
// child moved into it can mknod /dev/kmsg's numbers but not open the node.
#include "src/agent/cgroups/internal/devices.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/cgroups/internal/files.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace internal {
namespace {

using ::testing::HasSubstr;

constexpr int kChar = BPF_DEVCG_DEV_CHAR, kBlock = BPF_DEVCG_DEV_BLOCK;
constexpr int kM = BPF_DEVCG_ACC_MKNOD, kR = BPF_DEVCG_ACC_READ, kW = BPF_DEVCG_ACC_WRITE;

// Runs `prog` on one request, interpreting exactly the instructions BuildDeviceFilter may
// emit; anything else (or a jump out of the program, or no exit) fails the test.
int Eval(const std::vector<bpf_insn>& prog, int type, int access, uint32_t major, uint32_t minor) {
  bpf_cgroup_dev_ctx ctx{static_cast<uint32_t>(access << 16 | type), major, minor};
  uint64_t reg[11] = {};
  bool r0_set = false;
  size_t pc = 0;
  for (int steps = 0; steps < 10000 && pc < prog.size(); ++steps) {
    const bpf_insn& i = prog[pc++];
    const uint64_t imm = static_cast<uint64_t>(static_cast<int64_t>(i.imm));
    switch (i.code) {
      case BPF_LDX | BPF_MEM | BPF_W: {
        EXPECT_EQ(i.src_reg, 1);
        EXPECT_TRUE(i.off == 0 || i.off == 4 || i.off == 8) << i.off;
        uint32_t v;
        std::memcpy(&v, reinterpret_cast<const char*>(&ctx) + i.off, 4);
        reg[i.dst_reg] = v;
        break;
      }
      case BPF_ALU64 | BPF_AND | BPF_K:
        reg[i.dst_reg] &= imm;
        break;
      case BPF_ALU64 | BPF_RSH | BPF_K:
        reg[i.dst_reg] >>= imm;
        break;
      case BPF_ALU64 | BPF_MOV | BPF_K:
        reg[i.dst_reg] = imm;
        if (i.dst_reg == 0) r0_set = true;
        break;
      case BPF_ALU64 | BPF_MOV | BPF_X:
        reg[i.dst_reg] = reg[i.src_reg];
        break;
      case BPF_JMP | BPF_JNE | BPF_K:
        if (reg[i.dst_reg] != imm) pc += i.off;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        if (reg[i.dst_reg] == imm) pc += i.off;
        break;
      case BPF_JMP | BPF_EXIT:
        EXPECT_TRUE(r0_set) << "exit without R0";
        return static_cast<int>(reg[0]);
      default:
        ADD_FAILURE() << "unexpected opcode " << static_cast<int>(i.code) << " at " << pc - 1;
        return -1;
    }
  }
  ADD_FAILURE() << "ran off the program (pc " << pc << ")";
  return -1;
}

oci::LinuxDeviceCgroup R(bool allow, const char* type, int64_t major, int64_t minor,
                         const char* access) {
  oci::LinuxDeviceCgroup r;
  r.allow = allow;
  r.type = type;
  if (major >= 0) r.major = major;
  if (minor >= 0) r.minor = minor;
  r.access = access;
  return r;
}

TEST(DeviceFilterTest, DefaultsDenyOtherDevicesButAllowMknod) {
  auto p = BuildDeviceFilter(EffectiveDeviceRules(std::nullopt));
  for (int acc : {kR, kW, kR | kW}) {
    EXPECT_EQ(Eval(p, kChar, acc, 4, 64), 0) << "ttyS0 " << acc;
    EXPECT_EQ(Eval(p, kChar, acc, 1, 11), 0) << "kmsg " << acc;
    EXPECT_EQ(Eval(p, kBlock, acc, 253, 0), 0) << "a block device " << acc;
    EXPECT_EQ(Eval(p, kChar, acc, 1, 3), 1) << "null " << acc;
    EXPECT_EQ(Eval(p, kChar, acc, 1, 5), 1) << "zero " << acc;
    EXPECT_EQ(Eval(p, kChar, acc, 136, 7), 1) << "pts " << acc;
    EXPECT_EQ(Eval(p, kChar, acc, 5, 1), 1) << "console " << acc;
    EXPECT_EQ(Eval(p, kBlock, acc, 1, 3), 0) << "b 1:3 is not null " << acc;
  }
  EXPECT_EQ(Eval(p, kChar, kM, 4, 64), 1);
  EXPECT_EQ(Eval(p, kBlock, kM, 253, 0), 1);
  EXPECT_EQ(Eval(p, kChar, kM | kR, 4, 64), 0);
}

TEST(DeviceFilterTest, LastMatchingRuleDecides) {
  std::vector<oci::LinuxDeviceCgroup> spec = {R(true, "c", 10, 229, "rwm"),
                                              R(false, "c", 1, 5, "w"), R(true, "b", 7, -1, "r")};
  auto p = BuildDeviceFilter(EffectiveDeviceRules(spec));
  EXPECT_EQ(Eval(p, kChar, kR | kW, 10, 229), 1);
  EXPECT_EQ(Eval(p, kChar, kR, 1, 5), 1);       // the deny names only "w"
  EXPECT_EQ(Eval(p, kChar, kW, 1, 5), 0);       // spec deny after the default allow
  EXPECT_EQ(Eval(p, kChar, kR | kW, 1, 5), 0);  // any denied bit denies
  EXPECT_EQ(Eval(p, kBlock, kR, 7, 3), 1);      // loop devices, read only
  EXPECT_EQ(Eval(p, kBlock, kR | kW, 7, 3), 0);
  EXPECT_EQ(Eval(p, kChar, kR, 7, 3), 0);

  // An allow-all ends the program; the rules before it no longer matter.
  auto all = BuildDeviceFilter({R(false, "c", 1, 3, "rwm"), R(true, "a", -1, -1, "rwm")});
  EXPECT_EQ(all.size(), 8u);
  EXPECT_EQ(Eval(all, kChar, kR, 1, 3), 1);
  // No rule at all: deny.
  EXPECT_EQ(Eval(BuildDeviceFilter({}), kChar, kR, 1, 3), 0);
}

class AttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "this test needs root (bpf, cgroups)";
    dir_ = absl::StrCat("/sys/fs/cgroup/unified/kata-devtest-", ::getpid());
    ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0) << dir_ << ": " << strerror(errno);
  }
  void TearDown() override { EXPECT_EQ(::rmdir(dir_.c_str()), 0) << dir_; }

  // In a child in the cgroup: mknod `node` as c major:minor, then open it for writing.
  // Returns the open's errno (0 when it opened); -1 on any other failure.
  int OpenInCgroup(unsigned major, unsigned minor) {
    const std::string node = absl::StrCat(tmp_.path(), "/node-", major, "-", minor);
    pid_t pid = ::fork();
    if (pid == 0) {
      if (!WriteFile(dir_, "cgroup.procs", "0").ok()) _exit(200);
      if (::mknod(node.c_str(), S_IFCHR | 0600, makedev(major, minor)) != 0) _exit(201);
      int fd = ::open(node.c_str(), O_WRONLY | O_CLOEXEC);
      _exit(fd >= 0 ? 0 : errno);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::unlink(node.c_str());
    if (!WIFEXITED(status) || WEXITSTATUS(status) >= 200) return -1;
    return WEXITSTATUS(status);
  }

  kata::testing::TempDir tmp_{"/tmp"};  // TEST_TMPDIR may be mounted nodev
  std::string dir_;
};

TEST_F(AttachTest, KernelEnforcesTheFilterAndReplacesIt) {
  ASSERT_EQ(OpenInCgroup(1, 3), 0) << "without a filter /dev/null's numbers must open";
  absl::StatusOr<UniqueFd> prog =
      AttachDeviceFilter(dir_, BuildDeviceFilter(EffectiveDeviceRules(std::nullopt)), UniqueFd());
  ASSERT_TRUE(prog.ok()) << prog.status();
  EXPECT_EQ(OpenInCgroup(1, 11), EPERM) << "kmsg";
  EXPECT_EQ(OpenInCgroup(4, 64), EPERM) << "ttyS0";
  EXPECT_EQ(OpenInCgroup(1, 3), 0) << "null";
  EXPECT_EQ(OpenInCgroup(1, 5), 0) << "zero";

  // Replacing: the new program allows kmsg; the old one is detached.
  std::vector<oci::LinuxDeviceCgroup> spec = {R(true, "c", 1, 11, "rwm")};
  absl::StatusOr<UniqueFd> next =
      AttachDeviceFilter(dir_, BuildDeviceFilter(EffectiveDeviceRules(spec)), *prog);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(OpenInCgroup(1, 11), 0) << "kmsg allowed by the spec";
  EXPECT_EQ(OpenInCgroup(4, 64), EPERM);

  // A program the verifier refuses: an error with its log; the attached one stays.
  std::vector<bpf_insn> bad = BuildDeviceFilter({});
  bad.pop_back();  // no exit
  absl::StatusOr<UniqueFd> refused = AttachDeviceFilter(dir_, bad, *next);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(dir_));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("verifier"));
  EXPECT_EQ(OpenInCgroup(4, 64), EPERM);
  EXPECT_EQ(OpenInCgroup(1, 11), 0);
}

}  // namespace
}  // namespace internal
}  // namespace cgroups
}  // namespace agent
}  // namespace kata
