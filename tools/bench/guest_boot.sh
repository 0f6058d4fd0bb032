#!/bin/bash
# Guest figures: static kata-agent sizes (x86_64, aarch64; stripped), the initrd size, and
# QEMU (TCG, q35, uncompressed vmlinux) launch -> kata-agent answering Health.Check over
# virtio-serial, median of N runs (default 5), minus the same kernel booting a trivial static
# /init that prints "ready" (the agent's own start-up cost: modules, mounts, serving).
#
#   tools/bench/guest_boot.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-5}"
echo "== building the static agents and the guest image"
bazel build --config=guest-x86_64 //src/agent:kata-agent 2>/dev/null
bazel build --config=guest-aarch64 //src/agent:kata-agent 2>/dev/null
bazel build //tools/osbuilder:image_x86_64 2>/dev/null
out="$(bazel info output_path 2>/dev/null)"
a64="$out/k8-optguest-x86_64/bin/src/agent/kata-agent"
aa64="$out/k8-optguest-aarch64/bin/src/agent/kata-agent"
img="$(bazel info bazel-bin 2>/dev/null)/tools/osbuilder/image_x86_64"
tmp="$(mktemp -d /tmp/kguestbench.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

size() { stat -c %s "$1"; }
echo "agent x86_64 (static, stripped):  $(size "$a64") bytes  sha256 $(sha256sum "$a64" | cut -c1-16)"
echo "agent aarch64 (static, stripped): $(size "$aa64") bytes  sha256 $(sha256sum "$aa64" | cut -c1-16)"
echo "initrd (cpio, agent + $(grep -c '^module' "$img/manifest.txt") modules): $(size "$img/kata-containers-initrd.img") bytes"
echo "kernel (uncompressed vmlinux): $(size "$img/vmlinux.container") bytes"

echo "== trivial /init baseline image"
cat > "$tmp/init.c" <<'C'
#include <sys/reboot.h>
#include <unistd.h>
int main(void) { write(1, "ready\n", 6); sync(); reboot(RB_POWER_OFF); for (;;) pause(); }
C
gcc -static -O2 -o "$tmp/init" "$tmp/init.c"
python3 tools/osbuilder/osbuilder.py --agent "$tmp/init" --out "$tmp/trivial" --no-modules >/dev/null

echo "== QEMU launch -> kata-agent answers Health.Check vs trivial /init prints ready ($runs runs each, interleaved; load: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 tools/bench/guest_boot.py "$img/vmlinux.container" "$img/kata-containers-initrd.img" \
  "$tmp/trivial/kata-containers-initrd.img" "$runs"
