#!/usr/bin/env python3
"""Builds the kata-cpp guest image: an uncompressed kernel and an initrd with kata-agent as /init.

    tools/osbuilder/osbuilder.py --agent STATIC_AGENT --out DIR [--arch amd64]
                                 [--kernel-lock LOCK] [--busybox-lock LOCK | --busybox PATH]
                                 [--install]

Kernel: the Debian package pinned by tools/osbuilder/kernel-<arch>.lock (generic flavour, which
has 9p as modules), taken from the package cache filled by tools/setup, its SHA-256 checked,
unpacked with `dpkg-deb -x` into a temporary directory (never installed). On amd64 the
uncompressed ELF vmlinux is extracted from the XZ stream inside the bzImage (decompressing XZ
in a TCG guest costs seconds; QEMU boots the ELF through PVH). On arm64 Debian's vmlinuz is
already the uncompressed arm64 `Image` (magic "ARM\x64" at offset 56); it is copied as is (a
gzip'd one would be decompressed).

Initrd: an uncompressed cpio (newc; `--initrd-compression gzip` for a gzip'd one) with /init (the static agent), /dev/console, empty mount points,
the kernel modules the agent needs with their dependencies (from `depmod` on the unpacked
tree), and /etc/kata-cpp/modules listing them in load order (read by src/agent/init). With
--busybox-lock, Debian's busybox-static pinned by that lock (hash-checked like the kernel) as
/bin/busybox and /bin/sh -> busybox: the shell of the agent's debug console (served only when
the kernel command line says agent.debug_console); its applets run without links (busybox's
standalone shell).

Output DIR: vmlinux.container (Image on arm64), kata-containers-initrd.img, manifest.txt (the
SHA-256 of each plus the pins). Uncompressed because inflating it is the guest's job: under TCG
gunzip of the ~2.6 MB image took ~250 ms of a ~1.5 s boot. The bigger file (~5.7 MB) costs
little: QEMU maps it and the runtime pages that mapping out once the agent answers; the guest
frees its copy once unpacked (returned to the host through free page reporting). Reproducible: sorted entries,
owner 0, mtime 0 (gzip: without a name or time); two builds are byte-identical. `--install` copies the kernel and initrd to
/usr/share/kata-containers, where src/runtime/config/default_configuration.toml points.
"""

import argparse
import gzip
import hashlib
import io
import lzma
import os
import shutil
import stat
import subprocess
import sys
import tempfile

CACHE = os.environ.get("KATA_DEB_CACHE", "/var/cache/kata-cpp/debs")
HERE = os.path.dirname(os.path.abspath(__file__))
INSTALL_DIR = "/usr/share/kata-containers"

# The modules the agent needs (their dependencies are added from modules.dep): the virtio
# transports, the agent channel (virtio-serial; vsock where the host has vhost-vsock), block
# devices and ext4 on them (block volumes; crc32c_generic is ext4's checksum, loaded by name
# through the crypto API, so no modules.dep entry brings it), the 9p shared directory,
# overlayfs and the pod network's NICs (virtio-net).
MODULES = [
    "kernel/drivers/virtio/virtio_pci.ko",
    "kernel/drivers/virtio/virtio_mmio.ko",
    "kernel/drivers/char/virtio_console.ko",
    "kernel/drivers/block/virtio_blk.ko",
    "kernel/crypto/crc32c_generic.ko",
    "kernel/fs/ext4/ext4.ko",
    "kernel/net/9p/9pnet_virtio.ko",
    "kernel/fs/9p/9p.ko",
    "kernel/fs/overlayfs/overlay.ko",
    "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko",
    "kernel/drivers/net/virtio_net.ko",
    "kernel/fs/fuse/virtiofs.ko",
]

KERNEL_NAME = {"amd64": "vmlinux.container", "arm64": "vmlinux.container"}
INITRD_NAME = "kata-containers-initrd.img"


def progress(msg):
    print("osbuilder: " + msg, flush=True)


def die(msg):
    print("osbuilder: error: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def need_tool(name, package):
    if shutil.which(name) is None:
        die("%s is missing; run tools/setup (Debian package %s)" % (name, package))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_lock(path):
    entries = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 4:
                die("%s line %d: expected `package version architecture sha256`" % (path, n))
            entries.append(parts)
    return entries


def fetch_checked(pkg, ver, arch, sha):
    deb = os.path.join(CACHE, "%s_%s_%s.deb" % (pkg, ver.replace(":", "%3a"), arch))
    pin = "%s=%s (%s)" % (pkg, ver, arch)
    if not os.path.exists(deb):
        die("pinned package %s is not in %s; run tools/setup" % (pin, CACHE))
    got = sha256_file(deb)
    if got != sha:
        die("package %s changed: %s has SHA-256 %s, the lock pins %s" % (pin, deb, got, sha))
    return deb


def extract_vmlinux(bzimage, out):
    """The ELF inside an XZ-compressed bzImage (the kernel's extract-vmlinux method)."""
    data = open(bzimage, "rb").read()
    magic = b"\xfd7zXZ\x00"
    pos = data.find(magic)
    while pos >= 0:
        try:
            d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            elf = d.decompress(data[pos:])
            if elf[:4] == b"\x7fELF":
                with open(out, "wb") as f:
                    f.write(elf)
                return
        except lzma.LZMAError:
            pass
        pos = data.find(magic, pos + 1)
    die("%s: no XZ-compressed ELF kernel found inside" % bzimage)


ARM64_IMAGE_MAGIC = b"ARM\x64"


def extract_arm64_image(vmlinuz, out):
    """The uncompressed arm64 Image (Debian ships it uncompressed; gzip'd ones are inflated)."""
    data = open(vmlinuz, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[56:60] != ARM64_IMAGE_MAGIC:
        die("%s: not an arm64 kernel Image (no ARM\\x64 magic at offset 56)" % vmlinuz)
    with open(out, "wb") as f:
        f.write(data)


# ELF e_machine of the agent per Debian architecture.
ELF_MACHINE = {"amd64": 62, "arm64": 183}


def module_order(tree, version, wanted):
    """Wanted modules and their dependencies, dependencies first (depth-first, stable)."""
    subprocess.run(["depmod", "-b", tree, version], check=True)
    deps = {}
    with open(os.path.join(tree, "lib/modules", version, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod.strip()] = rest.split()
    order, seen = [], set()

    def visit(m):
        if m in seen:
            return
        if m not in deps:
            die("kernel %s has no module %s" % (version, m))
        seen.add(m)
        for d in deps[m]:
            visit(d)
        order.append(m)

    for m in wanted:
        visit(m)
    return order


class Cpio:
    """A newc archive with fixed owners and times; entries are written sorted by path."""

    def __init__(self):
        self.entries = {}  # path -> (mode, data, rdev)

    def dir(self, path):
        self.entries[path] = (stat.S_IFDIR | 0o755, b"", (0, 0))

    def file(self, path, data, mode=0o644):
        self._parents(path)
        self.entries[path] = (stat.S_IFREG | mode, data, (0, 0))

    def symlink(self, path, target):
        self._parents(path)
        self.entries[path] = (stat.S_IFLNK | 0o777, target.encode(), (0, 0))

    def chardev(self, path, major, minor, mode=0o600):
        self._parents(path)
        self.entries[path] = (stat.S_IFCHR | mode, b"", (major, minor))

    def _parents(self, path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p and p not in self.entries:
                self.dir(p)

    def bytes(self):
        out = io.BytesIO()
        ino = 1
        for path in sorted(self.entries) + ["TRAILER!!!"]:
            if path == "TRAILER!!!":
                mode, data, rdev, nlink = 0, b"", (0, 0), 1
            else:
                mode, data, rdev = self.entries[path]
                nlink = 2 if stat.S_ISDIR(mode) else 1
            name = path.encode() + b"\0"
            hdr = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
                ino if path != "TRAILER!!!" else 0, mode, 0, 0, nlink, 0, len(data),
                0, 0, rdev[0], rdev[1], len(name), 0)
            out.write(hdr.encode() + name)
            out.write(b"\0" * ((4 - out.tell() % 4) % 4))
            out.write(data)
            out.write(b"\0" * ((4 - out.tell() % 4) % 4))
            ino += 1
        return out.getvalue()


def debian_kernel(args, tree, kernel_out):
    """Debian's kernel package (the lock's pin) into `kernel_out`, unpacked under `tree`.
    Returns (manifest lines, [(module source path, initrd path)] in load order)."""
    need_tool("dpkg-deb", "dpkg")
    need_tool("depmod", "kmod")
    lock = args.kernel_lock or os.path.join(HERE, "kernel-%s.lock" % args.arch)
    entries = read_lock(lock)
    if len(entries) != 1 or not entries[0][0].startswith("linux-image-"):
        die("%s must pin exactly one linux-image package" % lock)
    pkg, ver, arch, sha = entries[0]
    if arch != args.arch:
        die("%s pins a kernel for %s, not %s" % (lock, arch, args.arch))
    version = pkg[len("linux-image-"):]
    progress("kernel %s=%s: checking the pinned package" % (pkg, ver))
    deb = fetch_checked(pkg, ver, arch, sha)
    progress("unpacking %s (dpkg-deb -x, not installed)" % os.path.basename(deb))
    subprocess.run(["dpkg-deb", "-x", deb, tree], check=True)
    vmlinuz = os.path.join(tree, "boot", "vmlinuz-" + version)
    if args.arch == "arm64":
        progress("copying the uncompressed arm64 Image")
        extract_arm64_image(vmlinuz, kernel_out)
    else:
        progress("extracting the uncompressed vmlinux from the bzImage")
        extract_vmlinux(vmlinuz, kernel_out)
    progress("resolving module dependencies (depmod)")
    order = [] if args.no_modules else module_order(tree, version, MODULES)
    modules = [(os.path.join(tree, "lib/modules", version, m), "lib/modules/%s/%s" % (version, m))
               for m in order]
    manifest = ["kernel_package %s %s %s %s" % (pkg, ver, arch, sha),
                "kernel_version %s" % version]
    return manifest, modules


def own_kernel(args, kernel_out):
    """kata-cpp's own kernel (tools/osbuilder/kernel.py, built by tools/setup) into
    `kernel_out`: everything built in, so no modules."""
    sys.path.insert(0, HERE)
    import kernel  # tools/osbuilder/kernel.py: the cache entry for the current inputs
    path = kernel.cached_kernel(args.arch)
    if path is None:
        die("kata-cpp's %s guest kernel is not built (%s): run tools/setup, or "
            "tools/osbuilder/kernel.py --arch %s" % (args.arch, kernel.entry_dir(args.arch), args.arch))
    progress("kernel: kata-cpp's own, %s" % path)
    shutil.copyfile(path, kernel_out)
    pkg, ver, arch, sha = kernel.read_lock()
    return ["kernel_source %s %s %s %s" % (pkg, ver, arch, sha),
            "kernel_build %s" % os.path.basename(os.path.dirname(path))], []


def pinned_busybox(lock, arch, tree):
    """/bin/busybox of the busybox-static package `lock` pins for `arch` (hash-checked)."""
    entries = read_lock(lock)
    if len(entries) != 1 or entries[0][0] != "busybox-static":
        die("%s must pin exactly one package, busybox-static" % lock)
    pkg, ver, deb_arch, sha = entries[0]
    if deb_arch != arch:
        die("%s pins busybox for %s, not %s" % (lock, deb_arch, arch))
    deb = fetch_checked(pkg, ver, deb_arch, sha)
    out = os.path.join(tree, "busybox")
    subprocess.run(["dpkg-deb", "-x", deb, out], check=True)
    with open(os.path.join(out, "bin", "busybox"), "rb") as f:
        return f.read(), "busybox_package %s %s %s %s" % (pkg, ver, deb_arch, sha)


def read_agent(path, arch):
    if not os.path.exists(path):
        die("agent %s does not exist (bazel build --config=guest-x86_64 //src/agent:kata-agent)" % path)
    with open(path, "rb") as f:
        agent = f.read()
    if agent[:4] != b"\x7fELF":
        die("agent %s is not an ELF binary" % path)
    machine = int.from_bytes(agent[18:20], "little")
    if machine != ELF_MACHINE[arch]:
        die("agent %s is an ELF for machine %d, not %s (%d)" % (path, machine, arch, ELF_MACHINE[arch]))
    return agent


def write_initrd(args, agent, modules, initrd_out, busybox=None):
    cpio = Cpio()
    for d in ["dev", "proc", "sys", "run", "tmp", "etc", "lib", "mnt", "root"]:
        cpio.dir(d)
    cpio.chardev("dev/console", 5, 1)
    cpio.chardev("dev/null", 1, 3, 0o666)
    cpio.file("init", agent, 0o755)
    if modules:  # no list at all when the kernel has everything built in: init loads nothing
        listing = ["# kernel modules loaded by kata-agent (PID 1) in this order; written by tools/osbuilder"]
        for src, dst in modules:
            with open(src, "rb") as f:
                cpio.file(dst, f.read())
            listing.append("/" + dst)
        cpio.file("etc/kata-cpp/modules", ("\n".join(listing) + "\n").encode())
    if args.busybox:
        with open(args.busybox, "rb") as f:
            busybox = f.read()
    if busybox is not None:
        cpio.file("bin/busybox", busybox, 0o755)
        cpio.symlink("bin/sh", "busybox")
    progress("writing the initrd: %d entries, %d modules" % (len(cpio.entries), len(modules)))
    raw = cpio.bytes()
    with open(initrd_out, "wb") as f:
        if args.initrd_compression == "none":
            f.write(raw)
            return
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
            gz.write(raw)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", required=True, help="the static kata-agent (becomes /init)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--arch", default="amd64", choices=["amd64", "arm64"])
    ap.add_argument("--kernel-lock", default=None, help="Debian's kernel package (the default's fallback)")
    ap.add_argument("--own-kernel", action="store_true",
                    help="kata-cpp's own kernel (tools/osbuilder/kernel.py) instead of Debian's")
    ap.add_argument("--busybox", default=None, help="optional static busybox for debugging (/bin/busybox)")
    ap.add_argument("--busybox-lock", default=None,
                    help="Debian's busybox-static pinned by this lock as /bin/busybox and /bin/sh")
    ap.add_argument("--initrd-compression", default="none", choices=["none", "gzip"],
                    help="none (default: the guest boots faster) or gzip (a smaller file)")
    ap.add_argument("--install", action="store_true", help="also copy to " + INSTALL_DIR)
    ap.add_argument("--no-modules", action="store_true",
                    help="no kernel modules (a trivial /init for boot-time baselines)")
    args = ap.parse_args()
    agent = read_agent(args.agent, args.arch)
    os.makedirs(args.out, exist_ok=True)
    kernel_out = os.path.join(args.out, KERNEL_NAME[args.arch])
    initrd_out = os.path.join(args.out, INITRD_NAME)
    with tempfile.TemporaryDirectory(prefix="osbuilder.") as tree:
        if args.own_kernel:
            kernel_lines, modules = own_kernel(args, kernel_out)
        else:
            kernel_lines, modules = debian_kernel(args, tree, kernel_out)
        busybox = None
        if args.busybox_lock:
            busybox, line = pinned_busybox(args.busybox_lock, args.arch, tree)
            kernel_lines.append(line)
        write_initrd(args, agent, modules, initrd_out, busybox)

    manifest = ["# kata-cpp guest image (tools/osbuilder)"] + kernel_lines + [
        "%s %s %d" % (KERNEL_NAME[args.arch], sha256_file(kernel_out), os.path.getsize(kernel_out)),
        "%s %s %d" % (INITRD_NAME, sha256_file(initrd_out), os.path.getsize(initrd_out)),
        "init %s %d" % (hashlib.sha256(agent).hexdigest(), len(agent)),
    ] + ["module /%s" % dst for _, dst in modules]
    with open(os.path.join(args.out, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    progress("done: %s (kernel %d bytes, initrd %d bytes)" %
             (args.out, os.path.getsize(kernel_out), os.path.getsize(initrd_out)))
    if args.install:
        os.makedirs(INSTALL_DIR, exist_ok=True)
        for name in (KERNEL_NAME[args.arch], INITRD_NAME, "manifest.txt"):
            tmp = os.path.join(INSTALL_DIR, "." + name + ".tmp")
            shutil.copyfile(os.path.join(args.out, name), tmp)
            os.rename(tmp, os.path.join(INSTALL_DIR, name))
        progress("installed into " + INSTALL_DIR)


if __name__ == "__main__":
    main()
