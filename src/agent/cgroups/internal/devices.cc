#include "src/agent/cgroups/internal/devices.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/agent/cgroups/internal/files.h"

namespace kata {
namespace agent {
namespace cgroups {
namespace internal {
namespace {

oci::LinuxDeviceCgroup Rule(bool allow, const char* type, int64_t major, int64_t minor,
                            const char* access) {
  oci::LinuxDeviceCgroup r;
  r.allow = allow;
  r.type = type;
  if (major >= 0) r.major = major;
  if (minor >= 0) r.minor = minor;
  r.access = access;
  return r;
}

// Access bits as the kernel passes them (BPF_DEVCG_ACC_*); an absent access is "rwm".
int32_t AccessMask(const oci::LinuxDeviceCgroup& r) {
  const std::string access = r.access.value_or("rwm");
  int32_t mask = 0;
  for (char c : access) {
    if (c == 'm') mask |= BPF_DEVCG_ACC_MKNOD;
    if (c == 'r') mask |= BPF_DEVCG_ACC_READ;
    if (c == 'w') mask |= BPF_DEVCG_ACC_WRITE;
  }
  return mask;
}

constexpr int32_t kAllAccess = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i;
  std::memset(&i, 0, sizeof(i));
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// Registers: R1 ctx (then scratch), R2 device type, R3 requested access, R4 major, R5 minor.
class Emitter {
 public:
  void LoadWord(uint8_t dst, int16_t off) {
    out_.push_back(Insn(BPF_LDX | BPF_MEM | BPF_W, dst, 1, off, 0));
  }
  void Alu(uint8_t op, uint8_t dst, int32_t imm) {
    out_.push_back(Insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm));
  }
  void MovReg(uint8_t dst, uint8_t src) {
    out_.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0));
  }
  // A jump to the end of the current rule's block, patched by EndBlock.
  void JumpToNext(uint8_t op, uint8_t dst, int32_t imm) {
    pending_.push_back(out_.size());
    out_.push_back(Insn(BPF_JMP | op | BPF_K, dst, 0, 0, imm));
  }
  void Return(int32_t value) {
    Alu(BPF_MOV, 0, value);
    out_.push_back(Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  }
  // Patches the block's jumps to the next instruction; true when the block had none (it
  // always returns, so nothing after it can run).
  bool EndBlock() {
    const bool unconditional = pending_.empty();
    for (size_t at : pending_) out_[at].off = static_cast<int16_t>(out_.size() - at - 1);
    pending_.clear();
    return unconditional;
  }
  std::vector<bpf_insn> Take() { return std::move(out_); }

 private:
  std::vector<bpf_insn> out_;
  std::vector<size_t> pending_;
};

// One rule: falls through to the next block unless it matches, then returns its verdict.
void EmitRule(Emitter& e, const oci::LinuxDeviceCgroup& r) {
  const std::string type = r.type.value_or("a");
  if (type == "b") e.JumpToNext(BPF_JNE, 2, BPF_DEVCG_DEV_BLOCK);
  if (type == "c") e.JumpToNext(BPF_JNE, 2, BPF_DEVCG_DEV_CHAR);
  if (type != "a") {
    if (r.major && *r.major >= 0) e.JumpToNext(BPF_JNE, 4, static_cast<int32_t>(*r.major));
    if (r.minor && *r.minor >= 0) e.JumpToNext(BPF_JNE, 5, static_cast<int32_t>(*r.minor));
  }
  const int32_t mask = AccessMask(r);
  if (r.allow) {
    if (mask != kAllAccess) {  // every requested bit must be granted
      e.MovReg(1, 3);
      e.Alu(BPF_AND, 1, ~mask & kAllAccess);
      e.JumpToNext(BPF_JNE, 1, 0);
    }
  } else if (mask != kAllAccess) {  // any requested bit denied
    e.MovReg(1, 3);
    e.Alu(BPF_AND, 1, mask);
    e.JumpToNext(BPF_JEQ, 1, 0);
  }
  e.Return(r.allow ? 1 : 0);
}

}  // namespace

std::vector<oci::LinuxDeviceCgroup> DefaultAllowedDevices() {
  return {
      Rule(true, "c", -1, -1, "m"),    Rule(true, "b", -1, -1, "m"),
      Rule(true, "c", 1, 3, "rwm"),     // null
      Rule(true, "c", 1, 5, "rwm"),     // zero
      Rule(true, "c", 1, 7, "rwm"),     // full
      Rule(true, "c", 1, 8, "rwm"),     // random
      Rule(true, "c", 1, 9, "rwm"),     // urandom
      Rule(true, "c", 5, 0, "rwm"),     // tty
      Rule(true, "c", 5, 1, "rwm"),     // console
      Rule(true, "c", 5, 2, "rwm"),     // ptmx
      Rule(true, "c", 136, -1, "rwm"),  // pts
  };
}

std::vector<oci::LinuxDeviceCgroup> EffectiveDeviceRules(
    const std::optional<std::vector<oci::LinuxDeviceCgroup>>& spec_rules) {
  std::vector<oci::LinuxDeviceCgroup> rules = {Rule(false, "a", -1, -1, "rwm")};
  for (auto& r : DefaultAllowedDevices()) rules.push_back(std::move(r));
  if (spec_rules) rules.insert(rules.end(), spec_rules->begin(), spec_rules->end());
  return rules;
}

std::vector<bpf_insn> BuildDeviceFilter(const std::vector<oci::LinuxDeviceCgroup>& rules) {
  Emitter e;
  e.LoadWord(2, offsetof(bpf_cgroup_dev_ctx, access_type));
  e.Alu(BPF_AND, 2, 0xffff);
  e.LoadWord(3, offsetof(bpf_cgroup_dev_ctx, access_type));
  e.Alu(BPF_RSH, 3, 16);
  e.LoadWord(4, offsetof(bpf_cgroup_dev_ctx, major));
  e.LoadWord(5, offsetof(bpf_cgroup_dev_ctx, minor));
  // The last rule decides: test from the last one back; an unconditional rule ends the
  // program (the verifier refuses unreachable instructions).
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    EmitRule(e, *it);
    if (e.EndBlock()) return e.Take();
  }
  e.Return(0);
  return e.Take();
}

absl::StatusOr<UniqueFd> AttachDeviceFilter(const std::string& dir,
                                            const std::vector<bpf_insn>& insns,
                                            const UniqueFd& old) {
  UniqueFd cg(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg) return CgroupError(dir, errno, "open for the device filter");
  static const char kLicense[] = "Apache-2.0";
  std::string log(64 * 1024, '\0');
  union bpf_attr load;
  std::memset(&load, 0, sizeof(load));
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = reinterpret_cast<uint64_t>(insns.data());
  load.insn_cnt = static_cast<uint32_t>(insns.size());
  load.license = reinterpret_cast<uint64_t>(kLicense);
  load.log_buf = reinterpret_cast<uint64_t>(log.data());
  load.log_size = static_cast<uint32_t>(log.size());
  load.log_level = 1;
  UniqueFd prog(static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load))));
  if (!prog) {
    const int err = errno;
    log.resize(std::strlen(log.c_str()));
    return CgroupError(dir, err,
                       absl::StrCat("load the device filter (", insns.size(),
                                    " instructions): verifier: ", absl::StripAsciiWhitespace(log)));
  }
  union bpf_attr attach;
  std::memset(&attach, 0, sizeof(attach));
  attach.target_fd = static_cast<uint32_t>(cg.get());
  attach.attach_bpf_fd = static_cast<uint32_t>(prog.get());
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  if (::syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof(attach)) != 0) {
    return CgroupError(dir, errno, "attach the device filter");
  }
  if (old) {
    union bpf_attr detach;
    std::memset(&detach, 0, sizeof(detach));
    detach.target_fd = static_cast<uint32_t>(cg.get());
    detach.attach_bpf_fd = static_cast<uint32_t>(old.get());
    detach.attach_type = BPF_CGROUP_DEVICE;
    if (::syscall(SYS_bpf, BPF_PROG_DETACH, &detach, sizeof(detach)) != 0) {
      const int err = errno;
      attach.attach_flags = 0;  // undo: the new one goes, the old one stays
      (void)::syscall(SYS_bpf, BPF_PROG_DETACH, &attach, sizeof(attach));
      return CgroupError(dir, err, "detach the previous device filter");
    }
  }
  return prog;
}

}  // namespace internal
}  // namespace cgroups
}  // namespace agent
}  // namespace kata
