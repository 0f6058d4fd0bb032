#!/bin/bash
# An arm64 guest image: the kernel is an uncompressed arm64 Image, the initrd's /init is a
# static aarch64 ELF (the agent), /bin/sh is the pinned aarch64 busybox (the debug console's
# shell), and a second osbuilder run gives byte-identical files. KERNEL is "own"
# (//tools/osbuilder:image_aarch64: kata-cpp's kernel, everything built in, so no module and no
# module list) or Debian's kernel lock (image_aarch64_debian: the modules the agent loads are
# present and listed).
#   image_aarch64_test.sh OSBUILDER KERNEL BUSYBOX_LOCK AGENT IMAGE_FILES...
set -euo pipefail
osbuilder="$1" lock="$2" busybox_lock="$3" agent="$4"
shift 4
kernel_args=(--kernel-lock "$lock")
[ "$lock" = own ] && kernel_args=(--own-kernel)
dir="$(dirname "$1")"
tmp="$(mktemp -d "${TEST_TMPDIR:-/tmp}/image_aarch64.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

python3 - "$dir" "$lock" <<'PY'
import io, struct, sys
d = sys.argv[1]
own = sys.argv[2] == "own"
def fail(msg):
    print("image_aarch64_test: FAIL: " + msg, file=sys.stderr); sys.exit(1)
k = open(d + "/vmlinux.container", "rb").read()
if k[56:60] != b"ARM\x64":
    fail("vmlinux.container is not an arm64 Image (magic %r)" % k[56:60])
raw = open(d + "/kata-containers-initrd.img", "rb").read()
if raw[:6] != b"070701":
    fail("kata-containers-initrd.img is not an uncompressed newc cpio (starts %r)" % raw[:6])
files, pos = {}, 0
while True:
    h = raw[pos:pos + 110]
    if h[:6] != b"070701":
        fail("initrd: bad cpio header at %d" % pos)
    mode, size, namesize = int(h[14:22], 16), int(h[54:62], 16), int(h[94:102], 16)
    name = raw[pos + 110:pos + 110 + namesize - 1].decode()
    pos = (pos + 110 + namesize + 3) & ~3
    if name == "TRAILER!!!":
        break
    files[name] = (mode, raw[pos:pos + size])
    pos = (pos + size + 3) & ~3
def elf_aarch64(data, what):
    if data[:4] != b"\x7fELF" or data[4] != 2:
        fail(what + " is not a 64-bit ELF")
    if struct.unpack_from("<H", data, 18)[0] != 183:
        fail(what + " is not an aarch64 ELF (EM_AARCH64)")
mode, init = files.get("init", (0, b""))
if not mode & 0o111:
    fail("initrd has no executable /init")
elf_aarch64(init, "/init")
phoff, phentsize, phnum = struct.unpack_from("<Q", init, 32)[0], *struct.unpack_from("<HH", init, 54)
for i in range(phnum):
    if struct.unpack_from("<I", init, phoff + i * phentsize)[0] == 3:
        fail("/init has a PT_INTERP: not static")
if own:
    mods = []
    if "etc/kata-cpp/modules" in files or any(n.endswith(".ko") for n in files):
        fail("kata-cpp's kernel has everything built in, but the initrd holds modules")
    if b"kernel_source linux-source-6.1" not in open(d + "/manifest.txt", "rb").read():
        fail("manifest.txt does not name kata-cpp's kernel source")
else:
    mods = [l for l in files["etc/kata-cpp/modules"][1].decode().splitlines() if l and not l.startswith("#")]
    for want in ("virtio_console.ko", "virtio_pci.ko", "virtio_mmio.ko", "virtio_blk.ko", "9pnet_virtio.ko", "/9p.ko", "overlay.ko", "vmw_vsock_virtio_transport.ko", "virtio_net.ko"):
        if not any(m.endswith(want) for m in mods):
            fail("module list has no " + want)
mode, target = files.get("bin/sh", (0, b""))
if (mode & 0o170000) != 0o120000 or target != b"busybox":
    fail("/bin/sh is not a link to busybox")
elf_aarch64(files.get("bin/busybox", (0, b""))[1], "/bin/busybox")
for m in mods:
    if m.lstrip("/") not in files:
        fail("listed module %s is not in the initrd" % m)
    elf_aarch64(files[m.lstrip("/")][1], m)
print("image_aarch64_test: kernel %d bytes, initrd %d entries, /init %d bytes, %d modules" %
      (len(k), len(files), len(init), len(mods)))
PY

# Reproducible: a second build from the same inputs is byte-identical.
PATH="/usr/sbin:/sbin:$PATH" python3 "$osbuilder" --agent "$agent" --out "$tmp" --arch arm64 "${kernel_args[@]}" \
  --busybox-lock "$busybox_lock" >/dev/null
for f in vmlinux.container kata-containers-initrd.img manifest.txt; do
  cmp "$dir/$f" "$tmp/$f" || { echo "image_aarch64_test: FAIL: $f differs between two builds" >&2; exit 1; }
done
echo "image_aarch64_test: PASS"
