#!/bin/bash
# ttRPC throughput, latency and server memory: our C++ ttRPC (//src/libs/ttrpc:interop_server,
# :interop_client, built -c opt) side by side with containerd's Go ttrpc (Debian's 1.1.1, the
# peers in tests/ttrpc_interop/go), unary Echo on ONE connection shared by N callers.
#
#   tools/bench/ttrpc.sh [--seconds S] [--payloads "64 4096"] [--concurrency "1 16"]
#                        [--outstanding "256"] [--pairs "go-go cpp-cpp go-cpp cpp-go"]
#                        [--repeat R] [--no-pin] [--realtime]
#
# --concurrency N: N blocking callers (threads; goroutines in Go). --outstanding N (rows
# "Nout"): N calls in flight from ONE caller: the C++ client's one thread keeps N
# asynchronous calls going (Client::CallAsync, each completion starting the next call); Go
# ttrpc has no asynchronous API, so the Go client runs N goroutines. "" skips those rows.
#
# Pairs are client-server: go-go and cpp-cpp, plus the cross pairs (go-cpp: Go client, C++
# server; cpp-go: C++ client, Go server). Every run starts a fresh server; its RSS is read from
# /proc/PID/status (VmHWM = peak, VmRSS = current) at the end of the run. Unless
# --no-pin, the server is pinned to CPU 0 and the client to CPU 1 (taskset), the same for both
# implementations (Go then runs with GOMAXPROCS=1 on each side).
#
# --realtime runs both peers (C++ and Go alike) under SCHED_FIFO (chrt -f 50), so that other
# work on a busy machine (builds) does not preempt them: for a side-by-side on a shared
# machine; the published figures say which way they were taken.
#
# With --repeat R every configuration runs R times (in interleaved rounds, so load changes on
# the machine hit every pair alike) and each figure is the median of its R runs.
#
# Prints a table (calls/s, p50/p99 latency in us, server VmHWM/VmRSS in MiB) and the ratios
# C++/Go: all-C++ (cpp-cpp) against all-Go (go-go), and the server alone (go-cpp against go-go,
# same Go client). calls/s above 1: C++ faster; p50 and RSS below 1: C++ better.
# TTRPC_BENCH_CPP_DIR=DIR uses the interop_server and interop_client in DIR instead of
# building them (a before/after comparison).
# The C++ server is the static protobuf-lite build the agent ships with (--config=guest-x86_64).
# Needs golang-go, golang-github-containerd-ttrpc-dev, bazel, python3, taskset and chrt
# (util-linux).
set -euo pipefail

die() { echo "ttrpc.sh: $*" >&2; exit 1; }

SECONDS_PER_RUN=5
PAYLOADS="64 4096"
CONCURRENCY="1 16"
OUTSTANDING="256"
PAIRS="go-go cpp-cpp go-cpp cpp-go"
PIN=1
REALTIME=0
REPEAT=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN="${2:?}"; shift 2 ;;
    --payloads) PAYLOADS="${2:?}"; shift 2 ;;
    --concurrency) CONCURRENCY="${2:?}"; shift 2 ;;
    --outstanding) OUTSTANDING="${2?}"; shift 2 ;;
    --pairs) PAIRS="${2:?}"; shift 2 ;;
    --repeat) REPEAT="${2:?}"; shift 2 ;;
    --no-pin) PIN=0; shift ;;
    --realtime) REALTIME=1; shift ;;
    *) die "usage: ttrpc.sh [--seconds S] [--payloads \"64 4096\"] [--concurrency \"1 16\"] [--outstanding \"256\"] [--pairs \"go-go cpp-cpp go-cpp cpp-go\"] [--repeat R] [--no-pin] [--realtime]" ;;
  esac
done
[[ "${REPEAT}" =~ ^[1-9][0-9]*$ ]] || die "bad --repeat ${REPEAT}"
for p in ${PAIRS}; do
  [[ "${p}" =~ ^(go|cpp)-(go|cpp)$ ]] || die "bad pair ${p} (client-server, each go or cpp)"
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON=/usr/bin/python3
command -v go >/dev/null || die "go not found (Debian package golang-go)"
command -v bazel >/dev/null || die "bazel not found (Debian package bazel-bootstrap)"
[[ -x "${PYTHON}" ]] || die "${PYTHON} not found (Debian package python3)"
if [[ ${PIN} -eq 1 ]]; then
  command -v taskset >/dev/null || die "taskset not found (Debian package util-linux); or --no-pin"
  [[ "$(nproc --all)" -ge 2 ]] || die "pinning needs 2 CPUs; use --no-pin"
fi

TMP="$(mktemp -d /tmp/ttrpc_bench.XXXXXX)"
SPID=""
cleanup() {
  if [[ -n "${SPID}" ]]; then
    kill -9 "${SPID}" 2>/dev/null || true
    wait "${SPID}" 2>/dev/null || true
  fi
  rm -rf "${TMP}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building the Go peers..." >&2
"${ROOT}/tests/ttrpc_interop/go/build.sh" "${TMP}/go" >"${TMP}/go_build.log" 2>&1 ||
  { cat "${TMP}/go_build.log" >&2; die "building the Go peers failed"; }

if [[ " ${PAIRS} " == *cpp* && -n "${TTRPC_BENCH_CPP_DIR:-}" ]]; then
  # Prebuilt C++ peers (e.g. an older commit's, for a before/after table).
  mkdir -p "${TMP}/cpp"
  cp "${TTRPC_BENCH_CPP_DIR}/interop_server" "${TTRPC_BENCH_CPP_DIR}/interop_client" "${TMP}/cpp/" ||
    die "no interop_server/interop_client in TTRPC_BENCH_CPP_DIR=${TTRPC_BENCH_CPP_DIR}"
elif [[ " ${PAIRS} " == *cpp* ]]; then
  # The server is built as the agent (our ttRPC server in production) ships: the guest
  # toolchain's static binary with protobuf-lite (--config=guest-x86_64); the client as the
  # shim's code is built on the host (-c opt).
  echo "building the C++ peers (bazel build -c opt; the server --config=guest-x86_64)..." >&2
  (cd "${ROOT}" && bazel build -c opt //src/libs/ttrpc:interop_client &&
    bazel build --config=guest-x86_64 //src/libs/ttrpc:interop_server) \
    >"${TMP}/bazel.log" 2>&1 || { tail -n 30 "${TMP}/bazel.log" >&2; die "bazel build failed"; }
  BIN="$(cd "${ROOT}" && bazel info -c opt bazel-bin 2>/dev/null)"
  GUEST_BIN="$(cd "${ROOT}" && bazel info --config=guest-x86_64 bazel-bin 2>/dev/null)"
  mkdir -p "${TMP}/cpp"
  cp "${GUEST_BIN}/src/libs/ttrpc/interop_server" "${BIN}/src/libs/ttrpc/interop_client" "${TMP}/cpp/"
fi

server_bin() { if [[ "$1" == go ]]; then echo "${TMP}/go/go_server"; else echo "${TMP}/cpp/interop_server"; fi; }
client_bin() { if [[ "$1" == go ]]; then echo "${TMP}/go/go_client"; else echo "${TMP}/cpp/interop_client"; fi; }
SERVER_PIN=(); CLIENT_PIN=()
if [[ ${PIN} -eq 1 ]]; then SERVER_PIN=(taskset -c 0); CLIENT_PIN=(taskset -c 1); fi
if [[ ${REALTIME} -eq 1 ]]; then SERVER_PIN=(chrt -f 50 "${SERVER_PIN[@]}"); CLIENT_PIN=(chrt -f 50 "${CLIENT_PIN[@]}"); fi

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# run_one PAIR PAYLOAD CONCURRENCY [OUTSTANDING]: appends a line to results.tsv (the
# concurrency column reads "Nout" for N outstanding calls from one caller).
run_one() {
  # Fresh file names for every run: the background server opens its stdout asynchronously, so
  # a reused file could still show the previous server's "ready".
  NRUN=$((NRUN + 1))
  local cimpl="${1%-*}" simpl="${1#*-}" sock="${TMP}/s${NRUN}.sock" out="${TMP}/server${NRUN}.out"
  local err="${TMP}/server${NRUN}.err"
  "${SERVER_PIN[@]}" "$(server_bin "${simpl}")" --socket "${sock}" >"${out}" 2>"${err}" &
  SPID=$!
  local t_ready=$(( $(date +%s) + 30 ))
  until grep -qx ready "${out}"; do
    kill -0 "${SPID}" 2>/dev/null || die "$1: the ${simpl} server exited: $(tail -c 500 "${err}")"
    (( $(date +%s) < t_ready )) ||
      die "$1: the ${simpl} server did not print ready in 30 s ($(grep -E '^(State|Threads):' "/proc/${SPID}/status" | tr '\n' ' ')stdout: $(head -c 200 "${out}"), stderr: $(tail -c 500 "${err}"))"
    sleep 0.02
  done

  # The server's RSS is read at the end of the run: after the client finished, before the
  # server is stopped.
  local bench_out="${TMP}/bench.out" rc=0 hwm="" rss="" threads=""
  local load=(--concurrency "$3") label="$3"
  if [[ -n "${4:-}" ]]; then load=(--outstanding "$4"); label="$4out"; fi
  "${CLIENT_PIN[@]}" "$(client_bin "${cimpl}")" --socket "${sock}" --test bench \
    "${load[@]}" --payload "$2" --seconds "${SECONDS_PER_RUN}" >"${bench_out}" 2>&1 || rc=$?
  if kill -0 "${SPID}" 2>/dev/null; then
    hwm="$(status_kb "${SPID}" VmHWM)"; rss="$(status_kb "${SPID}" VmRSS)"
    threads="$(status_kb "${SPID}" Threads)"
  fi
  kill -TERM "${SPID}" 2>/dev/null; wait "${SPID}" 2>/dev/null || true
  SPID=""
  rm -f "${sock}"
  local json; json="$(grep '^{' "${bench_out}" | tail -n 1 || true)"
  [[ ${rc} -eq 0 && -n "${json}" && -n "${hwm}" ]] ||
    die "$1 payload $2 concurrency ${label}: client exit ${rc}: $(head -c 800 "${bench_out}") / server: $(tail -c 300 "${err}")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "${label}" "${json}" "${hwm}" "${rss}" >>"${TMP}/results.tsv"
  echo "  $1 payload=$2 concurrency=${label}: ${json} server VmHWM=${hwm} kB VmRSS=${rss} kB threads=${threads}" >&2
}

: >"${TMP}/results.tsv"
NRUN=0
echo "running (${SECONDS_PER_RUN} s per run, ${REPEAT} round(s), pin=${PIN})..." >&2
for round in $(seq "${REPEAT}"); do
  [[ ${REPEAT} -gt 1 ]] && echo " round ${round}/${REPEAT}" >&2
  for payload in ${PAYLOADS}; do
    for conc in ${CONCURRENCY}; do
      for pair in ${PAIRS}; do
        run_one "${pair}" "${payload}" "${conc}"
      done
    done
    for out in ${OUTSTANDING}; do
      for pair in ${PAIRS}; do
        run_one "${pair}" "${payload}" 1 "${out}"
      done
    done
  done
done

"${PYTHON}" - "${TMP}/results.tsv" "${SECONDS_PER_RUN}" "${PIN}" "${REPEAT}" <<'EOF'
import json, statistics, sys

runs = {}  # (pair, payload, conc) -> list of runs, in first-seen order
for line in open(sys.argv[1]):
    pair, payload, conc, js, hwm, rss = line.rstrip("\n").split("\t")
    j = json.loads(js)
    runs.setdefault((pair, int(payload), conc), []).append(dict(
        cps=j["calls_per_sec"], p50=j["p50_us"], p99=j["p99_us"],
        hwm=int(hwm) / 1024.0, rss=(int(rss) / 1024.0 if rss else float("nan"))))
rows = []
for (pair, payload, conc), rs in runs.items():
    r = dict(pair=pair, payload=payload, conc=conc)
    for k in ("cps", "p50", "p99", "hwm", "rss"):
        r[k] = statistics.median(x[k] for x in rs)
    rows.append(r)

print(f"ttRPC unary Echo, one connection, {sys.argv[2]} s per run"
      f"{', median of ' + sys.argv[4] + ' runs' if sys.argv[4] != '1' else ''}"
      f"{', server on CPU 0 / client on CPU 1' if sys.argv[3] == '1' else ''}; pair = client-server")
hdr = f"{'pair':<8} {'payload':>7} {'conc':>6} {'calls/s':>10} {'p50 us':>8} {'p99 us':>8} {'srv HWM MiB':>11} {'srv RSS MiB':>11}"
print(hdr)
print("-" * len(hdr))
for r in rows:
    print(f"{r['pair']:<8} {r['payload']:>7} {r['conc']:>6} {r['cps']:>10.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['hwm']:>11.1f} {r['rss']:>11.1f}")

def find(pair, payload, conc):
    for r in rows:
        if (r["pair"], r["payload"], r["conc"]) == (pair, payload, conc):
            return r
    return None

def ratios(a, b):
    if not a or not b:
        return "      -      -      -"
    return f"{a['cps'] / b['cps']:>6.2f} {a['p50'] / b['p50']:>6.2f} {a['hwm'] / b['hwm']:>6.2f}"

print()
print("ratios C++/Go (calls/s: above 1 = C++ faster; p50, server RSS (VmHWM): below 1 = C++ better)")
print("conc Nout: N calls in flight from ONE caller (C++: one thread, asynchronous API; Go: N goroutines)")
print(f"{'payload':>7} {'conc':>6} | {'cpp-cpp / go-go':^20} | {'go-cpp / go-go (server)':^23}")
print(f"{'':>7} {'':>6} | {'calls/s':>6} {'p50':>6} {'RSS':>6} | {'calls/s':>6} {'p50':>6} {'RSS':>6}")
seen = []
for r in rows:
    k = (r["payload"], r["conc"])
    if k in seen:
        continue
    seen.append(k)
    gg = find("go-go", *k)
    print(f"{k[0]:>7} {k[1]:>6} | {ratios(find('cpp-cpp', *k), gg)} | {ratios(find('go-cpp', *k), gg)}")
EOF
