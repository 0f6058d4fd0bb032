#!/bin/bash
# Pod network figures (issue 12), kata-cpp vs runc on the same CNI bridge, in one run, through
# containerd 1.6's CRI plugin (the private containerd, CNI bridge + host-local, pause and busybox
# images of tests/cri/cri_lib.sh). One pod per handler, one after the other (never both at
# once): its container serves HTTP (busybox httpd) and sinks TCP (busybox nc -l > /dev/null),
# and the host measures over the pod IP:
#   throughput   host -> container: SIZE MiB over one TCP connection, from connect to the
#                receiver's close after it read everything; median of REPS transfers, MiB/s
#   latency      one small HTTP GET per new TCP connection (as a probe does): median and p90
#                of N requests after 3 warm-up ones, ms
# Then the ratios kata/runc. TCG guest, 1 vCPU, 512 MiB, tcfilter (tap + tc mirred), no
# vhost-net (this host has none): the ratio is the figure to read, not the absolute numbers.
#
# usage (as root, from the workspace):  tools/bench/pod_net.sh [SIZE_MIB [REPS [N]]]
#                                       (defaults 64, 3, 100)
# Builds what it needs (BAZEL_FLAGS="-c opt" for an optimized shim). Bounded: the whole run is
# ended after POD_NET_LIMIT seconds (default 900), every transfer after 120 s; the EXIT trap
# removes the pods, containerd, the bridge and the temp dir. Traffic goes only between this
# host and the pods on the private bridge.
set -eu
SIZE_MIB=${1:-64}
REPS=${2:-3}
N=${3:-100}
LIMIT=${POD_NET_LIMIT:-900}
WS=$(cd "$(dirname "$0")/../.." && pwd)
cd "$WS"
[ "$(id -u)" = 0 ] || { echo "pod_net.sh: run as root" >&2; exit 1; }
TARGETS=(//tools/cri-ctl:cri-ctl //src/runtime/shim:containerd-shim-kata-v2 //tests/cri:pause
         //tools/osbuilder:image_x86_64)
bazel build ${BAZEL_FLAGS:-} "${TARGETS[@]}" >/dev/null 2>&1 ||
  { echo "pod_net.sh: bazel build failed" >&2; exit 1; }
BIN=$(bazel info ${BAZEL_FLAGS:-} bazel-bin 2>/dev/null)
source tests/cri/cri_lib.sh

T=$(mktemp -d /tmp/kpnet.XXXXXX)
WATCHDOG=""
cleanup() {
  local rc=$?
  set +e
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
  cri_teardown
  find /sys/fs/cgroup/*/kpnet-$$ -depth -type d -exec rmdir {} + 2>/dev/null
  exit $rc
}
trap cleanup EXIT
trap 'echo "pod_net.sh: stopped (limit ${LIMIT} s or a signal)" >&2; exit 1' TERM INT
# The watchdog: TERMs this script after LIMIT seconds (the script then ends once the step in
# progress, itself bounded, returns); killed with TERM at exit, it takes its sleep along.
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$LIMIT" & sp=$!
  wait "$sp" && kill -TERM $$
) 2>/dev/null &
WATCHDOG=$!

cri_setup "$T" "$BIN/tools/cri-ctl/cri-ctl" "$BIN/src/runtime/shim/containerd-shim-kata-v2" \
  "$BIN/tests/cri/pause" tests/cri/make_pause_image.py tests/e2e/make_busybox_image.py \
  "$BIN"/tools/osbuilder/image_x86_64/* >/dev/null

# The host side of the measurements: IP SIZE_MIB REPS N -> "MiB/s lat_median_ms lat_p90_ms".
cat > "$T/measure.py" <<'PY'
import http.client, socket, statistics, sys, time

ip, size_mib, reps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def connect(port, deadline_s=20):
    end = time.monotonic() + deadline_s
    while True:  # the sink's nc is restarted by a shell loop after each transfer
        try:
            return socket.create_connection((ip, port), timeout=120)
        except ConnectionRefusedError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)

def transfer():
    buf = b"\0" * (1 << 20)
    s = connect(5001)
    t = time.monotonic()
    for _ in range(size_mib):
        s.sendall(buf)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    dt = time.monotonic() - t
    s.close()
    return size_mib / dt

def get():
    t = time.monotonic()
    c = http.client.HTTPConnection(ip, 80, timeout=10)
    c.request("GET", "/")
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200 or body.strip() != b"pod-net":
        raise RuntimeError(f"GET http://{ip}/: {r.status} {body!r}")
    return (time.monotonic() - t) * 1000

rates = sorted(transfer() for _ in range(reps))
for _ in range(3):
    get()
lat = sorted(get() for _ in range(n))
print(f"{statistics.median(rates):.1f} {statistics.median(lat):.2f} {lat[int(0.9 * n) - 1]:.2f}")
PY

state() {
  cri inspect "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"]["state"])'
}

one_handler() {  # handler -> "MiB/s lat_median lat_p90"
  local h=$1 pod c ip i
  mkdir -p "$T/logs/$h"
  cat > "$T/pod-$h.json" <<JSON
{"metadata": {"name": "net-$h", "namespace": "bench", "uid": "u-net-$h"},
 "log_directory": "$T/logs/$h", "linux": {"cgroup_parent": "/kpnet-$$/pod-$h"}}
JSON
  cat > "$T/ctr-$h.json" <<JSON
{"metadata": {"name": "srv"}, "image": {"image": "$CRI_BUSYBOX_IMAGE"},
 "command": ["/bin/sh", "-c"],
 "args": ["mkdir -p /www && echo pod-net > /www/index.html && httpd -p 80 -h /www && while true; do nc -l -p 5001 > /dev/null; done"],
 "log_path": "srv.log"}
JSON
  pod=$(cri runp --runtime "$h" "$T/pod-$h.json")
  c=$(cri create "$pod" "$T/ctr-$h.json" "$T/pod-$h.json")
  cri start "$c"
  for i in $(seq 600); do [ "$(state "$c")" = CONTAINER_RUNNING ] && break; sleep 0.2; done
  ip=$(cri inspectp "$pod" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"]["network"]["ip"])')
  for i in $(seq 60); do
    curl -s --max-time 2 -o /dev/null "http://$ip/" && break
    sleep 1
  done
  timeout 600 python3 "$T/measure.py" "$ip" "$SIZE_MIB" "$REPS" "$N"
  cri stopp "$pod" >/dev/null
  cri rmp "$pod" >/dev/null
}

declare -A R
for h in runc kata; do
  R[$h]=$(one_handler "$h")
done
echo "pod network, host -> container over the CNI bridge ($SIZE_MIB MiB x $REPS; $N HTTP GETs)"
printf '%-6s %14s %18s %15s\n' handler "MiB/s (median)" "GET ms (median)" "GET ms (p90)"
for h in runc kata; do
  read -r rate med p90 <<< "${R[$h]}"
  printf '%-6s %14s %18s %15s\n' "$h" "$rate" "$med" "$p90"
done
read -r r_rate r_med r_p90 <<< "${R[runc]}"
read -r k_rate k_med k_p90 <<< "${R[kata]}"
python3 -c 'import sys; r, k, rm, km, rp, kp = map(float, sys.argv[1:]); print(f"kata/runc: throughput {k / r:.3f}x, GET median {km / rm:.1f}x, GET p90 {kp / rp:.1f}x")' \
  "$r_rate" "$k_rate" "$r_med" "$k_med" "$r_p90" "$k_p90"
