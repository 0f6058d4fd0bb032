#!/bin/bash
# Block device hot-plug latency (issue 17), side by side in one run: in a running pod (one VM),
# N containers started with `ctr run -d --device /dev/loopN` and N without; the difference of
# the medians is what the device costs: QMP blockdev-add + device_add, the guest's PCIe hotplug
# and virtio-blk probe, the agent's wait for the node and the spec rewrite, i.e. QMP device_add
# to the device usable in the container. The same for the removal (task kill + rm: the agent's
# RemoveContainer, then device_del until QEMU's DEVICE_DELETED, which waits for the guest's
# pciehp to power the slot off, and blockdev-del).
#
# usage (as root, from the workspace):  tools/bench/hotplug.sh [N]      (default N=5)
# Boots our guest image (image_x86_64; KATA_BENCH_IMAGE=image_x86_64_debian for Debian's
# kernel). Builds the shim and the guest image like tools/bench/ctr_run.sh (BAZEL_FLAGS="-c opt" for an
# optimized shim); TCG guest with 512 MiB like tests/e2e. Everything lives in a temp dir;
# containerd is stopped by PID and the loop device detached at the end.
set -eu
N=${1:-5}
WS=$(cd "$(dirname "$0")/../.." && pwd)
cd "$WS"
source tools/lib/containerd.sh
[ "$(id -u)" = 0 ] || { echo "hotplug.sh: run as root" >&2; exit 1; }
source tools/bench/kata_bench.sh
BAZEL_FLAGS=${BAZEL_FLAGS:-}  # the tests' fastbuild binaries unless told
kata_bench_build hotplug.sh
IMG=docker.io/library/busybox:kata-bench

T=$(mktemp -d /tmp/khp.XXXXXX)
LOOP=""
finish() {
  containerd_cleanup "$T"  # tasks, containers, containerd, mounts below $T, $T
  [ -n "$LOOP" ] && losetup -d "$LOOP"
}
trap finish EXIT

kata_bench_config "$T/kata.toml" 512 virtio-9p "pcie_root_port = 2"
containerd_start "$T" || { echo "hotplug.sh: containerd did not start" >&2; exit 1; }
CTR="ctr -a $CONTAINERD_SOCK"
python3 tests/e2e/make_busybox_image.py "$T/img.tar" "$IMG"
$CTR images import "$T/img.tar" >/dev/null
truncate -s 16M "$T/disk.img"
LOOP=$(losetup -f --show "$T/disk.img")

KATA=(--runtime "$SHIM" --runtime-config-path "$T/kata.toml")
$CTR run -d "${KATA[@]}" "$IMG" pod sleep 100000 </dev/null
POD=(--annotation io.kubernetes.cri.container-type=container
  --annotation io.kubernetes.cri.sandbox-id=pod)
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {printf "%d", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
stopped() {
  local i
  for i in $(seq 600); do
    $CTR task ls | awk -v id="$1" '$1 == id {print $3}' | grep -qx STOPPED && return 0
    sleep 0.05
  done
  return 1
}
# One container: "<start ms> <removal ms>" (start: ctr run -d returns, the container runs).
one() {  # id, extra ctr run flags...
  local id=$1 s start
  shift
  s=$(date +%s%N)
  $CTR run -d "${KATA[@]}" "${POD[@]}" "$@" "$IMG" "$id" sleep 1000 </dev/null >/dev/null
  start=$(ms_since "$s")
  s=$(date +%s%N)
  $CTR task kill -s KILL "$id" && stopped "$id"
  $CTR task rm "$id" >/dev/null && $CTR c rm "$id"
  echo "$start $(ms_since "$s")"
}
for i in $(seq "$N"); do
  one "plain-$i" >> "$T/plain"
  one "dev-$i" --device "$LOOP" >> "$T/dev"
done
ps=$(cut -d' ' -f1 "$T/plain" | median); pr=$(cut -d' ' -f2 "$T/plain" | median)
ds=$(cut -d' ' -f1 "$T/dev" | median); dr=$(cut -d' ' -f2 "$T/dev" | median)
echo "container in a running pod (TCG, N=$N, medians):"
echo "  start   without a device $ps ms, with --device $LOOP $ds ms: hot-plug $((ds - ps)) ms"
echo "  remove  without a device $pr ms, with --device $LOOP $dr ms: unplug $((dr - pr)) ms"
