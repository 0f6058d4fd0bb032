#!/bin/bash
# Container rootfs throughput and metadata cost (issue 17), side by side in one run: the same
# busybox workload inside a kata-cpp container whose rootfs is
#   9p          containerd's overlayfs snapshot, shared over virtio-9p
#   virtio-fs   the same snapshot, shared by virtiofsd (shared_fs = "virtio-fs")
#   block       a block device hot-plugged into the VM (loopsnap, tests/e2e/loopsnap: ext4
#               images on loop devices, a containerd proxy snapshotter standing in for
#               devmapper, which this host's kernel lacks)
# Workload (a privileged container, so it may drop the guest's page cache between steps):
#   write   32 MiB with dd, then fsync                        -> MiB/s
#   read    the same file after dropping the guest's caches   -> MiB/s
#   create  2,000 small files (shell builtins, no process per file)
#   untar   tar of those files, removed, extracted again
#   find    `find / -xdev` after dropping caches (~2,400 entries)
#   stat    `ls -lR` of the 2,000 files
# Times come from the guest's /proc/uptime (10 ms resolution) and exclude VM start.
#
# usage (as root, from the workspace):  tools/bench/shared_fs.sh [N]     (default N=3 runs each,
# interleaved; medians). Builds the shim and image like tools/bench/hotplug.sh (BAZEL_FLAGS,
# KATA_BENCH_IMAGE). Everything lives in a temp dir, cleaned up at the end.
set -eu
N=${1:-3}
WS=$(cd "$(dirname "$0")/../.." && pwd)
cd "$WS"
export PATH=$PATH:/usr/sbin:/sbin
source tools/lib/containerd.sh
source tests/e2e/loopsnap/loopsnap.sh
[ "$(id -u)" = 0 ] || { echo "shared_fs.sh: run as root" >&2; exit 1; }
source tools/bench/kata_bench.sh
BAZEL_FLAGS=${BAZEL_FLAGS:-}  # the tests' fastbuild binaries unless told
kata_bench_build shared_fs.sh
IMG=docker.io/library/busybox:kata-bench

T=$(mktemp -d /tmp/kfs.XXXXXX)
finish() {
  containerd_cleanup "$T"  # removes $T, never crossing into a mount
  loopsnap_stop "$T"
}
trap finish EXIT

for fs in virtio-9p virtio-fs; do
  kata_bench_config "$T/$fs.toml" 512 "$fs" 'virtio_fs_daemon = "/usr/lib/qemu/virtiofsd"' \
    'valid_virtio_fs_daemon_paths = ["/usr/lib/qemu/virtiofsd"]' "pcie_root_port = 2"
done
loopsnap_start "$T" 256M || exit 1
containerd_start "$T" --append "$T/proxy.toml" ||
  { echo "shared_fs.sh: containerd did not start" >&2; exit 1; }
CTR="ctr -a $CONTAINERD_SOCK"
python3 tests/e2e/make_busybox_image.py "$T/img.tar" "$IMG" >/dev/null
$CTR images import "$T/img.tar" >/dev/null
$CTR images import --snapshotter loopsnap "$T/img.tar" >/dev/null

# The workload: one line "write_mib_s read_mib_s create_s untar_s find_s stat_s".
WORK='
now() { read u _ < /proc/uptime; echo ${u%.*}${u#*.}; }   # centiseconds
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
mkdir -p /bench && cd /bench
drop; a=$(now); dd if=/dev/zero of=big bs=1M count=32 conv=fsync 2>/dev/null; b=$(now)
drop; c=$(now); dd if=big of=/dev/null bs=1M 2>/dev/null; d=$(now)
mkdir m; e=$(now); i=0; while [ $i -lt 2000 ]; do echo $i > m/f$i; i=$((i+1)); done; sync; f=$(now)
tar cf t.tar m; rm -rf m; sync; drop; g=$(now); tar xf t.tar; sync; h=$(now)
drop; j=$(now); find / -xdev | wc -l > /dev/null; k=$(now)
drop; l=$(now); ls -lR m > /dev/null; m=$(now)
awk -v w=$((b-a)) -v r=$((d-c)) -v cr=$((f-e)) -v u=$((h-g)) -v fi=$((k-j)) -v st=$((m-l)) \
  "BEGIN { printf \"%.1f %.1f %.2f %.2f %.2f %.2f\n\", 3200/(w?w:1), 3200/(r?r:1), cr/100, u/100, fi/100, st/100 }"
'
one() {  # mode run -> appends the workload's line to $T/<mode>
  local mode=$1 id="$1-$2" out
  case "$mode" in
    9p) out=$($CTR run --rm --privileged --runtime "$SHIM" --runtime-config-path "$T/virtio-9p.toml" \
      "$IMG" "$id" sh -c "$WORK" </dev/null) ;;
    virtio-fs) out=$($CTR run --rm --privileged --runtime "$SHIM" \
      --runtime-config-path "$T/virtio-fs.toml" "$IMG" "$id" sh -c "$WORK" </dev/null) ;;
    block) out=$($CTR run --rm --privileged --snapshotter loopsnap --runtime "$SHIM" \
      --runtime-config-path "$T/virtio-9p.toml" "$IMG" "$id" sh -c "$WORK" </dev/null) ;;
  esac
  # Only a complete result line counts: a workload that failed stops the run.
  out=$(echo "$out" | tail -1)
  echo "$out" | grep -qE '^[0-9.]+( [0-9.]+){5}$' ||
    { echo "shared_fs.sh: $id: no result ('$out')" >&2; exit 1; }
  echo "$out" >> "$T/$mode"
}
for i in $(seq "$N"); do
  for mode in 9p virtio-fs block; do one "$mode" "$i"; done
done
median_col() { cut -d' ' -f"$2" "$T/$1" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "container rootfs, TCG guest (1 vCPU, 512 MiB), N=$N runs each, medians; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %12s %12s %10s %10s %10s %10s\n' rootfs "write MiB/s" "read MiB/s" "create s" "untar s" \
  "find s" "stat s"
for mode in 9p virtio-fs block; do
  printf '%-10s %12s %12s %10s %10s %10s %10s\n' "$mode" "$(median_col "$mode" 1)" \
    "$(median_col "$mode" 2)" "$(median_col "$mode" 3)" "$(median_col "$mode" 4)" \
    "$(median_col "$mode" 5)" "$(median_col "$mode" 6)"
done
