#!/bin/bash
# Pod start and removal through containerd 1.6's CRI plugin, kata-cpp vs runc side by side,
# driven by cri-ctl as kubelet drives a runtime (same private containerd, CNI bridge, pause and
# busybox images as tests/cri):
#   start    RunPodSandbox -> the first container (busybox sleep) is CONTAINER_RUNNING
#            (RunPodSandbox + CreateContainer + StartContainer; kata: the VM boots in it)
#   remove   StopPodSandbox + RemovePodSandbox of that pod
# Prints median, min and max of N runs per handler, in ms.
#
# usage (as root, from the workspace):  tools/bench/cri_pod.sh [N]      (default N=5)
# Builds what it needs in the default (fastbuild) configuration, as the tests use it
# (BAZEL_FLAGS="-c opt" for an optimized shim); TCG guest, 1 vCPU, 512 MiB like tests/cri.
set -eu
N=${1:-5}
WS=$(cd "$(dirname "$0")/../.." && pwd)
cd "$WS"
[ "$(id -u)" = 0 ] || { echo "cri_pod.sh: run as root" >&2; exit 1; }
TARGETS=(//tools/cri-ctl:cri-ctl //src/runtime/shim:containerd-shim-kata-v2 //tests/cri:pause
         //tools/osbuilder:image_x86_64)
bazel build ${BAZEL_FLAGS:-} "${TARGETS[@]}" >/dev/null 2>&1 ||
  { echo "cri_pod.sh: bazel build failed" >&2; exit 1; }
BIN=$(bazel info ${BAZEL_FLAGS:-} bazel-bin 2>/dev/null)
source tests/cri/cri_lib.sh

T=$(mktemp -d /tmp/kcrib.XXXXXX)
trap 'cri_teardown; find /sys/fs/cgroup/*/kcrib-$$ -depth -type d -exec rmdir {} + 2>/dev/null' EXIT
cri_setup "$T" "$BIN/tools/cri-ctl/cri-ctl" "$BIN/src/runtime/shim/containerd-shim-kata-v2" \
  "$BIN/tests/cri/pause" tests/cri/make_pause_image.py tests/e2e/make_busybox_image.py \
  "$BIN"/tools/osbuilder/image_x86_64/* >/dev/null

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
state() {
  cri inspect "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"]["state"])'
}

one_run() {  # handler index -> "start_ms remove_ms"
  local pod c t0 start remove
  mkdir -p "$T/logs/$1-$2"
  cat > "$T/pod.json" <<JSON
{"metadata": {"name": "b-$1-$2", "namespace": "bench", "uid": "u-$1-$2"},
 "log_directory": "$T/logs/$1-$2", "linux": {"cgroup_parent": "/kcrib-$$/pod-$1-$2"}}
JSON
  cat > "$T/ctr.json" <<JSON
{"metadata": {"name": "sleep"}, "image": {"image": "$CRI_BUSYBOX_IMAGE"},
 "command": ["sleep", "3600"], "log_path": "sleep.log"}
JSON
  t0=$(now_ms)
  pod=$(cri runp --runtime "$1" "$T/pod.json")
  c=$(cri create "$pod" "$T/ctr.json" "$T/pod.json")
  cri start "$c"
  until [ "$(state "$c")" = CONTAINER_RUNNING ]; do sleep 0.02; done
  start=$(( $(now_ms) - t0 ))
  t0=$(now_ms)
  cri stopp "$pod"
  cri rmp "$pod"
  remove=$(( $(now_ms) - t0 ))
  echo "$start $remove"
}

stats() {  # numbers on stdin -> "median (min..max)"
  sort -n | awk '{ v[NR] = $1 } END { printf "%d (%d..%d)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

printf '%-6s %-28s %-28s\n' handler "start ms: median (min..max)" "remove ms: median (min..max)"
for h in runc kata; do
  : > "$T/$h.txt"
  for i in $(seq "$N"); do one_run "$h" "$i" >> "$T/$h.txt"; done
  printf '%-6s %-28s %-28s\n' "$h" "$(cut -d' ' -f1 "$T/$h.txt" | stats)" \
    "$(cut -d' ' -f2 "$T/$h.txt" | stats)"
done
