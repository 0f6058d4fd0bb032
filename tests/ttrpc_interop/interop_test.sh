#!/bin/bash
# ttRPC interop: our C++ ttRPC (//src/libs/ttrpc:interop_server, :interop_client) against
# containerd's Go ttrpc (Debian's 1.1.1, tests/ttrpc_interop/go), every case in all four
# directions (client -> server): go->cpp and cpp->go, plus go->go and cpp->cpp as controls.
#
#   interop_test.sh CPP_SERVER CPP_CLIENT GO_BUILD_SH [--go-only]
#
# (bazel test //tests/ttrpc_interop:interop_test passes the three paths.) --go-only runs the
# go->go direction alone; it exists to develop this harness and is never used by the test.
#
# Cases (client side: tests/ttrpc_interop/go/client/main.go and the C++ client implement the
# same names): unary concurrent large overlimit deadline unknown_method error_status async
# (200 calls in flight, from one thread with the C++ asynchronous API, then a deadline), then
# peer_dies (the server is killed -9 while a call sleeps; the client must fail within 2 s),
# client_dies (a client is killed -9 mid-call; the server must live on and serve a new client)
# and sigterm (the server exits 0 on SIGTERM).
#
# Needs golang-go and golang-github-containerd-ttrpc-dev; fails (never skips) without them.
set -uo pipefail

die() { echo "interop_test: FATAL: $*" >&2; exit 1; }

[[ $# -ge 3 ]] || die "usage: interop_test.sh CPP_SERVER CPP_CLIENT GO_BUILD_SH [--go-only]"
CPP_SERVER="$1"; CPP_CLIENT="$2"; GO_BUILD="$3"
GO_ONLY=0
[[ "${4:-}" == "--go-only" ]] && GO_ONLY=1

command -v go >/dev/null || die "go not found (Debian package golang-go)"
[[ -f /usr/share/gocode/src/github.com/containerd/ttrpc/server.go ]] ||
  die "no Go ttrpc in /usr/share/gocode (Debian package golang-github-containerd-ttrpc-dev)"
[[ -x "${GO_BUILD}" ]] || die "no Go peer build script ${GO_BUILD}"
if [[ ${GO_ONLY} -eq 0 ]]; then
  [[ -x "${CPP_SERVER}" ]] || die "no C++ interop server ${CPP_SERVER}"
  [[ -x "${CPP_CLIENT}" ]] || die "no C++ interop client ${CPP_CLIENT}"
  CPP_SERVER="$(realpath "${CPP_SERVER}")"; CPP_CLIENT="$(realpath "${CPP_CLIENT}")"
fi

# ---- scratch space: build products and logs in TEST_TMPDIR, sockets in a short /tmp dir ----
if [[ -n "${TEST_TMPDIR:-}" ]]; then
  WORK="${TEST_TMPDIR}"
  OWN_WORK=0
else
  WORK="$(mktemp -d /tmp/ttrpc_interop_work.XXXXXX)"
  OWN_WORK=1
fi
export HOME="${HOME:-${WORK}}"
SOCKDIR="$(mktemp -d /tmp/ttrpc.XXXX)"
LOGDIR="${WORK}/logs"
mkdir -p "${LOGDIR}"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -9 "${p}" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "${p}" 2>/dev/null; done
  rm -rf "${SOCKDIR}"
  [[ ${OWN_WORK} -eq 1 ]] && rm -rf "${WORK}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building the Go peers..."
GOCACHE="${WORK}/gocache" "${GO_BUILD}" "${WORK}/go" >"${LOGDIR}/go_build.log" 2>&1 ||
  { cat "${LOGDIR}/go_build.log" >&2; die "building the Go peers failed"; }

server_bin() { if [[ "$1" == go ]]; then echo "${WORK}/go/go_server"; else echo "${CPP_SERVER}"; fi; }
client_bin() { if [[ "$1" == go ]]; then echo "${WORK}/go/go_client"; else echo "${CPP_CLIENT}"; fi; }
now_ms() { date +%s%3N; }
alive() { kill -0 "$1" 2>/dev/null; }

# wait_for_line FILE LINE PID TIMEOUT_MS: 0 once FILE has LINE; 1 if PID exits or time runs out.
wait_for_line() {
  local deadline=$(( $(now_ms) + $4 ))
  while (( $(now_ms) < deadline )); do
    grep -qx "$2" "$1" 2>/dev/null && return 0
    alive "$3" || { grep -qx "$2" "$1" 2>/dev/null; return; }
    sleep 0.02
  done
  return 1
}

# wait_exit PID TIMEOUT_MS: 0 once PID has exited (reaped; its status in WAIT_RC), 1 if not.
wait_exit() {
  local deadline=$(( $(now_ms) + $2 ))
  while alive "$1" && (( $(now_ms) < deadline )); do sleep 0.01; done
  if alive "$1"; then return 1; fi
  wait "$1"; WAIT_RC=$?
  return 0
}

NSERVERS=0
# start_server IMPL: sets SPID, SSOCK, SLOG (stderr file); returns 1 if it never got ready.
start_server() {
  NSERVERS=$((NSERVERS + 1))
  SSOCK="${SOCKDIR}/$1${NSERVERS}.sock"
  SLOG="${LOGDIR}/server${NSERVERS}.$1"
  "$(server_bin "$1")" --socket "${SSOCK}" >"${SLOG}.out" 2>"${SLOG}.err" &
  SPID=$!
  PIDS+=("${SPID}")
  if ! wait_for_line "${SLOG}.out" ready "${SPID}" 10000; then
    echo "  $1 server did not print ready (stdout: $(head -c 300 "${SLOG}.out"); stderr: $(tail -c 500 "${SLOG}.err"))"
    return 1
  fi
}

# ---- results ----------------------------------------------------------------------------------
declare -A RESULT DETAIL
FAILURES=0
record() {  # CASE DIR PASS|FAIL TEXT
  RESULT["$1,$2"]="$3"
  DETAIL["$1,$2"]="$4"
  if [[ "$3" != PASS ]]; then FAILURES=$((FAILURES + 1)); fi
  printf '  %-15s %-9s %s %s\n' "$1" "$2" "$3" "$4"
}

# run_client CIMPL SOCK TEST: sets COUT (the client's output) and CRC.
run_client() {
  COUT="$(timeout 60 "$(client_bin "$1")" --socket "$2" --test "$3" 2>&1)"
  CRC=$?
}

client_passed() {  # TEST: did the last run_client pass TEST?
  [[ ${CRC} -eq 0 ]] && grep -q "^PASS $1\( \|$\)" <<<"${COUT}"
}

BASIC_CASES=(unary concurrent large overlimit deadline unknown_method error_status async)
ALL_CASES=("${BASIC_CASES[@]}" peer_dies client_dies sigterm)

run_basic() {  # CIMPL SIMPL DIR
  local c t0 t1
  start_server "$2" || { for c in "${BASIC_CASES[@]}" sigterm; do record "$c" "$3" FAIL "server did not start"; done; return; }
  local spid="${SPID}" sock="${SSOCK}" slog="${SLOG}"
  for c in "${BASIC_CASES[@]}"; do
    if ! alive "${spid}"; then
      start_server "$2" || { record "$c" "$3" FAIL "server died and did not restart"; continue; }
      spid="${SPID}"; sock="${SSOCK}"; slog="${SLOG}"
    fi
    t0=$(now_ms)
    run_client "$1" "${sock}" "$c"
    t1=$(now_ms)
    if ! alive "${spid}"; then
      record "$c" "$3" FAIL "the server died (stderr: $(tail -c 400 "${slog}.err")); client: ${COUT}"
    elif client_passed "$c"; then
      record "$c" "$3" PASS "($((t1 - t0)) ms) ${COUT#PASS $c }"
    else
      record "$c" "$3" FAIL "client exit ${CRC}: ${COUT}"
    fi
  done
  # sigterm: the server exits 0 on SIGTERM, promptly.
  kill -TERM "${spid}"
  if wait_exit "${spid}" 5000; then
    if [[ ${WAIT_RC} -eq 0 ]]; then
      record sigterm "$3" PASS "(exit 0)"
    else
      record sigterm "$3" FAIL "exit status ${WAIT_RC} on SIGTERM, want 0"
    fi
  else
    record sigterm "$3" FAIL "still running 5 s after SIGTERM"
    kill -9 "${spid}" 2>/dev/null
  fi
}

# peer_dies: a call sleeping 10 s is in flight; the server is killed -9 300 ms after the
# client said "started"; the client must report the failure within 2 s of the kill.
run_peer_dies() {  # CIMPL SIMPL DIR
  start_server "$2" || { record peer_dies "$3" FAIL "server did not start"; return; }
  local spid="${SPID}" out="${LOGDIR}/peer_dies.$3.out"
  "$(client_bin "$1")" --socket "${SSOCK}" --test peer_dies >"${out}" 2>&1 &
  local cpid=$!
  PIDS+=("${cpid}")
  if ! wait_for_line "${out}" started "${cpid}" 10000; then
    record peer_dies "$3" FAIL "the client never printed started: $(head -c 500 "${out}")"
    kill -9 "${cpid}" "${spid}" 2>/dev/null
    return
  fi
  sleep 0.3
  disown "${spid}"  # no "Killed" job notice from bash
  kill -9 "${spid}"
  local t_kill; t_kill=$(now_ms)
  if ! wait_exit "${cpid}" 5000; then
    record peer_dies "$3" FAIL "the client still waits 5 s after the server was killed: $(head -c 500 "${out}")"
    kill -9 "${cpid}" 2>/dev/null
    return
  fi
  local took=$(( $(now_ms) - t_kill )) rc=${WAIT_RC} line
  line="$(grep -v '^started$' "${out}" | head -c 500)"
  if [[ ${rc} -ne 0 ]] || ! grep -q '^PASS peer_dies' "${out}"; then
    record peer_dies "$3" FAIL "client exit ${rc}: ${line}"
  elif (( took > 2000 )); then
    record peer_dies "$3" FAIL "the client noticed the dead server only ${took} ms after the kill: ${line}"
  else
    record peer_dies "$3" PASS "(${took} ms after the kill) ${line#PASS peer_dies }"
  fi
}

# client_dies: a client with a call sleeping 10 s is killed -9; the server must survive and
# serve a new client.
run_client_dies() {  # CIMPL SIMPL DIR
  start_server "$2" || { record client_dies "$3" FAIL "server did not start"; return; }
  local spid="${SPID}" sock="${SSOCK}" slog="${SLOG}" out="${LOGDIR}/hang.$3.out"
  "$(client_bin "$1")" --socket "${sock}" --test hang >"${out}" 2>&1 &
  local cpid=$!
  PIDS+=("${cpid}")
  if ! wait_for_line "${out}" started "${cpid}" 10000; then
    record client_dies "$3" FAIL "the hang client never printed started: $(head -c 500 "${out}")"
    kill -9 "${cpid}" 2>/dev/null
  else
    sleep 0.3
    disown "${cpid}"
    kill -9 "${cpid}"
    while alive "${cpid}"; do sleep 0.01; done
    sleep 0.2
    if ! alive "${spid}"; then
      record client_dies "$3" FAIL "the server died with the client (stderr: $(tail -c 400 "${slog}.err"))"
      return
    fi
    run_client "$1" "${sock}" unary
    if ! alive "${spid}"; then
      record client_dies "$3" FAIL "the server died (stderr: $(tail -c 400 "${slog}.err")); client: ${COUT}"
    elif client_passed unary; then
      record client_dies "$3" PASS "(server alive, a new client's unary passed)"
    else
      record client_dies "$3" FAIL "after the kill, a new client's unary: exit ${CRC}: ${COUT}"
    fi
  fi
  kill -TERM "${spid}" 2>/dev/null
  wait_exit "${spid}" 5000 || kill -9 "${spid}" 2>/dev/null
}

if [[ ${GO_ONLY} -eq 1 ]]; then
  echo "WARNING: --go-only: only go->go runs (harness development mode)" >&2
  DIRS=(go-\>go)
else
  DIRS=(go-\>cpp cpp-\>go go-\>go cpp-\>cpp)
fi

for dir in "${DIRS[@]}"; do
  cimpl="${dir%%->*}"; simpl="${dir##*->}"
  echo "== ${cimpl} client -> ${simpl} server"
  run_basic "${cimpl}" "${simpl}" "${dir}"
  run_peer_dies "${cimpl}" "${simpl}" "${dir}"
  run_client_dies "${cimpl}" "${simpl}" "${dir}"
done

# ---- table ------------------------------------------------------------------------------------
echo
printf '%-15s' "case"
for dir in "${DIRS[@]}"; do printf ' %-9s' "${dir}"; done
echo
for c in "${ALL_CASES[@]}"; do
  printf '%-15s' "$c"
  for dir in "${DIRS[@]}"; do printf ' %-9s' "${RESULT["$c,${dir}"]:-MISSING}"; done
  echo
done
echo

missing=0
for c in "${ALL_CASES[@]}"; do
  for dir in "${DIRS[@]}"; do [[ -n "${RESULT["$c,${dir}"]:-}" ]] || missing=$((missing + 1)); done
done
if (( FAILURES > 0 || missing > 0 )); then
  echo "FAILED: ${FAILURES} case(s) failed, ${missing} missing:"
  for c in "${ALL_CASES[@]}"; do
    for dir in "${DIRS[@]}"; do
      [[ "${RESULT["$c,${dir}"]:-}" == PASS ]] || echo "  $c ${dir}: ${DETAIL["$c,${dir}"]:-no result}"
    done
  done
  exit 1
fi
echo "all $(( ${#ALL_CASES[@]} * ${#DIRS[@]} )) passed"
