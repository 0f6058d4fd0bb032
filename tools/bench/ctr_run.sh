#!/bin/bash
# kata-cpp vs runc under the same private containerd 1.6, side by side in one run:
#   - `ctr run --rm IMG id true`: median (and min/max) of N runs, kata-cpp and runc;
#   - shim RSS and PSS with one container running: containerd-shim-kata-v2 vs
#     containerd-shim-runc-v2; and QEMU's RSS.
#
# usage (as root, from the workspace):  tools/bench/ctr_run.sh [N]      (default N=10)
# It builds //src/runtime/shim:containerd-shim-kata-v2 (statically linked) and
# //tools/osbuilder:image_x86_64 optimized, as packaged (BAZEL_FLAGS, default "-c opt"; "" for
# the tests' fastbuild shim), TCG guest, the shipped configuration's
# memory settings (256 MiB, tcg_tb_size 32, reclaim_guest_freed_memory). Everything lives in a temp dir;
# containerd is stopped by PID at the end.
set -eu
N=${1:-10}
WS=$(cd "$(dirname "$0")/../.." && pwd)
cd "$WS"
source tools/lib/containerd.sh
[ "$(id -u)" = 0 ] || { echo "ctr_run.sh: run as root" >&2; exit 1; }
source tools/bench/kata_bench.sh
kata_bench_build ctr_run.sh
IMG=docker.io/library/busybox:kata-bench

T=$(mktemp -d /tmp/kbench.XXXXXX)
trap 'containerd_cleanup "$T"' EXIT  # tasks, containers, containerd, mounts below $T, $T
kata_bench_config "$T/kata.toml" 256 virtio-9p "reclaim_guest_freed_memory = true"
containerd_start "$T" || { echo "ctr_run.sh: containerd did not start" >&2; exit 1; }
CTR="ctr -a $CONTAINERD_SOCK"
python3 tests/e2e/make_busybox_image.py "$T/img.tar" "$IMG"
$CTR images import "$T/img.tar" >/dev/null

KATA=(--runtime "$SHIM" --runtime-config-path "$T/kata.toml")
median() { sort -n | awk '{a[NR]=$1} END {printf "median %d ms (min %d, max %d, n=%d)", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[1], a[NR], NR}'; }
time_runs() {  # label, ctr run flags...
  local label=$1 i s e
  shift
  for i in $(seq "$N"); do
    s=$(date +%s%N)
    $CTR run --rm "$@" "$IMG" "b-$label-$i" true </dev/null >/dev/null
    e=$(date +%s%N)
    echo $(( (e - s) / 1000000 ))
  done | median
}
echo "ctr run --rm $IMG id true (N=$N):"
echo "  runc      $(time_runs runc)"
echo "  kata-cpp  $(time_runs kata "${KATA[@]}")"

mem() {  # pid -> "RSS x MiB, PSS y MiB"
  awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {printf "RSS %.1f MiB, PSS %.1f MiB", r/1024, p/1024}' "/proc/$1/smaps_rollup"
}
$CTR run -d "$IMG" m-runc sleep 1000 </dev/null
$CTR run -d "${KATA[@]}" "$IMG" m-kata sleep 1000 </dev/null
sleep 2
RUNC_SHIM=$(pgrep -f "containerd-shim-runc-v2 .*-id m-runc" | head -1)
KATA_SHIM=$(pgrep -f "containerd-shim-kata-v2 .*-id m-kata .*-socket-fd" | head -1)
QEMU=$(pgrep -f "qemu-system.*m-kata" | head -1)
echo "with one container running:"
echo "  containerd-shim-runc-v2  $(mem "$RUNC_SHIM")"
echo "  containerd-shim-kata-v2  $(mem "$KATA_SHIM")"
echo "  threads: runc shim $(ls /proc/"$RUNC_SHIM"/task | wc -l), kata shim $(ls /proc/"$KATA_SHIM"/task | wc -l)"
echo "  qemu (kata-cpp VM)       $(mem "$QEMU")"
