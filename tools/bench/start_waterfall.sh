#!/bin/bash
# Where one `ctr run --rm IMG id true` spends its time: the shim's trace of N runs, printed as
# waterfalls by `kata-runtime trace`, with the agent's spans too (the guest's boot, its rpcs,
# the container create's steps) unless --host-only. Same setup as ctr_run.sh: a private
# containerd, the guest image as built, TCG, 256 MiB, 9p; everything in a temp dir.
#
# usage (as root, from the workspace):  tools/bench/start_waterfall.sh [N] [--host-only]
#   env BAZEL_FLAGS (default "-c opt", as packaged; "" for the tests' fastbuild shim)
set -eu
N=1
AGENT_TRACING=true
for a in "$@"; do
  case "$a" in
    --host-only) AGENT_TRACING=false ;;
    [0-9]*) N=$a ;;
    *) echo "usage: $0 [N] [--host-only]" >&2; exit 2 ;;
  esac
done
WS=$(cd "$(dirname "$0")/../.." && pwd)
cd "$WS"
source tools/lib/containerd.sh
[ "$(id -u)" = 0 ] || { echo "start_waterfall.sh: run as root" >&2; exit 1; }
source tools/bench/kata_bench.sh
kata_bench_build start_waterfall.sh //src/runtime/cli:kata-runtime
IMG=docker.io/library/busybox:kata-bench

T=$(mktemp -d /tmp/kwaterfall.XXXXXX)
trap 'containerd_cleanup "$T"' EXIT  # tasks, containers, containerd, mounts below $T, $T
kata_bench_config "$T/kata.toml" 256 virtio-9p "reclaim_guest_freed_memory = true" -- \
  "enable_tracing = $AGENT_TRACING" "[runtime]" "enable_tracing = true" \
  "tracing_endpoint = \"file://$T/trace.jsonl\""
containerd_start "$T" || { echo "start_waterfall.sh: containerd did not start" >&2; exit 1; }
CTR="ctr -a $CONTAINERD_SOCK"
python3 tests/e2e/make_busybox_image.py "$T/img.tar" "$IMG"
$CTR images import "$T/img.tar" >/dev/null
for i in $(seq "$N"); do
  rm -f "$T/trace.jsonl"
  s=$(date +%s%N)
  $CTR run --rm --runtime "$SHIM" --runtime-config-path "$T/kata.toml" "$IMG" "w-$i" true </dev/null
  e=$(date +%s%N)
  echo "== run $i: ctr run --rm $(( (e - s) / 1000000 )) ms (load $(cut -d' ' -f1-3 /proc/loadavg))"
  for _ in $(seq 100); do [ -s "$T/trace.jsonl" ] && break; sleep 0.05; done  # the shim exports as it ends
  "$BIN/src/runtime/cli/kata-runtime" trace "$T/trace.jsonl"
done
