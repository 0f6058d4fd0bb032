#!/bin/bash
# tools/osbuilder twice on the same static agent: byte-identical kernel, initrd and manifest;
# and a changed kernel package (wrong SHA-256 in the lock) fails with a clear message.
# The busybox (the debug console's shell) is in both, as /bin/busybox and /bin/sh -> busybox.
# Args: osbuilder.py, kernel lock, static kata-agent, busybox lock.
set -euo pipefail
osbuilder="$1"; lock="$2"; agent="$3"; busybox_lock="$4"
tmp="$(mktemp -d /tmp/kimgrepro.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
for i in 1 2; do
  PATH="/usr/sbin:/sbin:$PATH" python3 "$osbuilder" --agent "$agent" --out "$tmp/$i" --kernel-lock "$lock" \
    --busybox-lock "$busybox_lock" > "$tmp/log$i"
done
for f in vmlinux.container kata-containers-initrd.img manifest.txt; do
  cmp "$tmp/1/$f" "$tmp/2/$f" || { echo "FAIL: $f differs between two builds"; exit 1; }
done
grep -q "osbuilder: writing the initrd" "$tmp/log1" || { echo "FAIL: no progress output"; exit 1; }
python3 - "$tmp/1/kata-containers-initrd.img" <<'PY' || exit 1
import sys
raw, files, pos = open(sys.argv[1], "rb").read(), {}, 0
if raw[:6] != b"070701":  # uncompressed: the guest does not spend its boot inflating it
    print("FAIL: the initrd is not an uncompressed newc cpio (starts %r)" % raw[:6]); sys.exit(1)
while raw[pos:pos + 6] == b"070701":
    mode, size, namesize = (int(raw[pos + o:pos + o + 8], 16) for o in (14, 54, 94))
    name = raw[pos + 110:pos + 110 + namesize - 1].decode()
    pos = (pos + 110 + namesize + 3) & ~3
    files[name] = (mode, raw[pos:pos + size])
    pos = (pos + size + 3) & ~3
if files.get("bin/sh") != (0o120777, b"busybox"):
    sys.exit("FAIL: no /bin/sh -> busybox")
mode, data = files.get("bin/busybox", (0, b""))
if mode != 0o100755 or data[:4] != b"\x7fELF":
    sys.exit("FAIL: no executable /bin/busybox")
PY
grep -q "^busybox_package busybox-static " "$tmp/1/manifest.txt" || { echo "FAIL: busybox not in the manifest"; exit 1; }
echo "PASS: two builds byte-identical: $(sha256sum "$tmp/1/kata-containers-initrd.img" | cut -c1-16)"

sed -E 's/ [0-9a-f]{64}$/ 0000000000000000000000000000000000000000000000000000000000000000/' "$lock" > "$tmp/bad.lock"
if PATH="/usr/sbin:/sbin:$PATH" python3 "$osbuilder" --agent "$agent" --out "$tmp/3" --kernel-lock "$tmp/bad.lock" 2> "$tmp/err"; then
  echo "FAIL: a changed kernel package was accepted"; exit 1
fi
grep -q "changed: .* has SHA-256 .*, the lock pins 0000" "$tmp/err" || { echo "FAIL: unclear message: $(cat "$tmp/err")"; exit 1; }
echo "PASS: changed package refused: $(cat "$tmp/err")"
