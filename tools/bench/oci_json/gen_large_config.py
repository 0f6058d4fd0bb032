#!/usr/bin/python3
"""Writes a LARGE OCI runtime-spec config.json on stdout, for parse/serialize benchmarks.

    gen_large_config.py [BASE.json] > large.json

BASE (default: a built-in copy of the spec containerd 1.6 writes for a busybox container) is
extended with 200 env vars, 200 bind mounts, 1,000 linux.devices and 1,000
linux.resources.devices rules, named as in //src/libs/oci:oci_benchmark's LargeSpec. The
output is compact JSON, like the config.json containerd writes. Deterministic: the same BASE
gives the same bytes.
"""

import json
import sys

CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def mount(dst, typ, src, options):
    return {"destination": dst, "type": typ, "source": src, "options": options}


def default_base():
    """What containerd 1.6 writes for `ctr run busybox ID sh -c ...` (cgroupfs)."""
    rules = [{"allow": False, "access": "rwm"}]
    for major, minor in [(1, 3), (1, 8), (1, 7), (5, 0), (1, 5), (1, 9), (5, 1), (136, None),
                         (5, 2), (10, 200)]:
        rule = {"allow": True, "type": "c", "major": major}
        if minor is not None:
            rule["minor"] = minor
        rule["access"] = "rwm"
        rules.append(rule)
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "user": {"uid": 0, "gid": 0, "additionalGids": [0, 10]},
            "args": ["sh", "-c", "echo hello"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs"},
        "hostname": "busybox",
        "mounts": [
            mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
            mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            mount("/dev/pts", "devpts", "devpts",
                  ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            mount("/dev/shm", "tmpfs", "shm",
                  ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
            mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
            mount("/run", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            mount("/etc/resolv.conf", "bind", "/var/lib/containerd/resolv.conf", ["rbind", "ro"]),
        ],
        "annotations": {
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": "a" * 64,
        },
        "linux": {
            "resources": {
                "devices": rules,
                "memory": {"limit": 268435456},
                "cpu": {"shares": 1024},
                "pids": {"limit": 1024},
            },
            "cgroupsPath": "/default/busybox",
            "namespaces": [{"type": t} for t in ["pid", "ipc", "uts", "mount", "network"]],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


def enlarge(spec):
    process = spec.setdefault("process", {"user": {"uid": 0, "gid": 0}, "cwd": "/"})
    env = process.setdefault("env", [])
    mounts = spec.setdefault("mounts", [])
    for i in range(200):
        env.append("VARIABLE_%d=value-of-variable-%d" % (i, i))
        mounts.append(mount("/mnt/volume-%d" % i, "bind",
                            "/var/lib/kubelet/pods/volumes/volume-%d" % i,
                            ["rbind", "rprivate", "rw"]))
    linux = spec.setdefault("linux", {})
    devices = linux.setdefault("devices", [])
    rules = linux.setdefault("resources", {}).setdefault("devices", [])
    for i in range(1000):
        major, minor = 8 + i // 256, i % 256
        devices.append({"path": "/dev/disk%d" % i, "type": "b", "major": major, "minor": minor,
                        "fileMode": 0o660, "uid": 0, "gid": 6})
        rules.append({"allow": True, "type": "b", "major": major, "minor": minor,
                      "access": "rw"})
    return spec


def main():
    if len(sys.argv) > 2:
        sys.exit("usage: gen_large_config.py [BASE.json] > large.json")
    if len(sys.argv) == 2:
        with open(sys.argv[1]) as f:
            base = json.load(f)
    else:
        base = default_base()
    json.dump(enlarge(base), sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
