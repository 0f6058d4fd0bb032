#!/bin/bash
# tools/osbuilder twice on the same static agent: byte-identical kernel, initrd and manifest;
# and a changed kernel package (wrong SHA-256 in the lock) fails with a clear message.
# Args: osbuilder.py, kernel lock, static kata-agent.
set -euo pipefail
osbuilder="$1"; lock="$2"; agent="$3"
tmp="$(mktemp -d /tmp/kimgrepro.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
for i in 1 2; do
  PATH="/usr/sbin:/sbin:$PATH" python3 "$osbuilder" --agent "$agent" --out "$tmp/$i" --kernel-lock "$lock" > "$tmp/log$i"
done
for f in vmlinux.container kata-containers-initrd.img manifest.txt; do
  cmp "$tmp/1/$f" "$tmp/2/$f" || { echo "FAIL: $f differs between two builds"; exit 1; }
done
grep -q "osbuilder: writing the initrd" "$tmp/log1" || { echo "FAIL: no progress output"; exit 1; }
echo "PASS: two builds byte-identical: $(sha256sum "$tmp/1/kata-containers-initrd.img" | cut -c1-16)"

sed -E 's/ [0-9a-f]{64}$/ 0000000000000000000000000000000000000000000000000000000000000000/' "$lock" > "$tmp/bad.lock"
if PATH="/usr/sbin:/sbin:$PATH" python3 "$osbuilder" --agent "$agent" --out "$tmp/3" --kernel-lock "$tmp/bad.lock" 2> "$tmp/err"; then
  echo "FAIL: a changed kernel package was accepted"; exit 1
fi
grep -q "changed: .* has SHA-256 .*, the lock pins 0000" "$tmp/err" || { echo "FAIL: unclear message: $(cat "$tmp/err")"; exit 1; }
echo "PASS: changed package refused: $(cat "$tmp/err")"
