// What a QEMU binary accepts, found out by running it, not assumed from its version.
//
//   QemuFeatures f = CachedQemuFeatures("/usr/bin/qemu-system-x86_64", kStrictSandbox);
//   if (f.sandbox) argv += {"-sandbox", kStrictSandbox};
//   if (f.multidevs_remap) fsdev += ",multidevs=remap";
//
// The probe starts the binary with `-machine none -nodefaults -display none -S -qmp stdio`
// plus the option in question and sends it `qmp_capabilities` + `quit` on stdin: an option
// QEMU does not know, or a value it rejects (a QEMU built without seccomp, a kernel without
// it, an unknown -sandbox action), makes it exit non-zero before QMP. A run costs one QEMU
// start without a guest (~0.1-0.5 s); CachedQemuFeatures runs it once per (binary, sandbox
// value) in a process and remembers the answer (thread-safe; concurrent callers wait for the
// one probe). A binary that cannot be run, or hangs (killed after 10 s), supports nothing.
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_FEATURES_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_FEATURES_H_

#include <string>

namespace kata::hypervisor::qemu {

// The `-sandbox` value kata-cpp asks for by default: QEMU's seccomp filter plus denying
// obsolete system calls, set*id (QEMU runs as root: no way back to more privileges),
// fork/exec, and scheduler/affinity/priority changes.
inline constexpr char kStrictSandbox[] =
    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

struct QemuFeatures {
  bool sandbox = false;          // `-sandbox <the value probed>` is accepted
  bool multidevs_remap = false;  // `-fsdev local,...,multidevs=remap` is accepted
  // QEMU's own words when the sandbox was asked for and refused ("" otherwise).
  std::string sandbox_error;
};

// Runs the probe(s) now. An empty `sandbox` is not probed (sandbox = false).
QemuFeatures ProbeQemuFeatures(const std::string& binary, const std::string& sandbox);

// ProbeQemuFeatures, once per (binary, sandbox) per process and, with a `cache_file`, once per
// (binary file, sandbox) per host: the answer is kept in `cache_file` (written atomically, 0600)
// with the binary's identity (path, device, inode, size, mtime in ns) and the sandbox value, and
// used by any process while those match (a shim is one process per pod: without it every pod
// start paid a QEMU start, 0.1-0.5 s). A cache file that cannot be read, parsed or written is
// ignored (the probe runs).
QemuFeatures CachedQemuFeatures(const std::string& binary, const std::string& sandbox,
                                const std::string& cache_file = "");

// The file layer of CachedQemuFeatures alone (no per-process memory): reads `cache_file` if it
// holds the answer for the binary as it is now, else probes and rewrites it.
QemuFeatures FileCachedQemuFeatures(const std::string& binary, const std::string& sandbox,
                                    const std::string& cache_file);

// The cache file's key for `binary` and `sandbox`, or "" if the binary cannot be stat'ed.
std::string FeaturesCacheKey(const std::string& binary, const std::string& sandbox);

}  // namespace kata::hypervisor::qemu

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_FEATURES_H_
