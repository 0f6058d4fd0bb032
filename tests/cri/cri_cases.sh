# shellcheck shell=bash
# The cases of cri_e2e_test.sh (sourced by it: uses its helpers). Each case makes its own pod
# and always removes it (remove_pod asserts that nothing of it is left).
declare -A START_MS REMOVE_MS

expect_eq() {  # expect_eq WHAT GOT WANT
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

exec_in() {  # exec_in ID CMD...: ExecSync with a 60 s timeout, stdout only
  cri exec --timeout 60 "$@"
}

pod_netns() {  # the pod's network namespace path, from PodSandboxStatus's verbose info
  cri inspectp --verbose "$1" | json '[n.get("path", "") for n in json.loads(d["info"]["info"])["runtimeSpec"]["linux"]["namespaces"] if n["type"] == "network"][0]'
}

# Runs BODY (a function using POD, CFG, CGROUP) in a new pod of handler H, then removes the
# pod and checks the removal left nothing, and that the pod's network namespace is gone.
with_pod() {  # with_pod H NAME EXTRA_LINUX_JSON BODY
  local h=$1 name=$2 extra=$3 body=$4 rc=0 netns
  CFG=$(pod_config "$name" "$extra")
  CGROUP=$(json 'd["linux"]["cgroup_parent"]' < "$CFG")
  local start
  REMOVE_LAST_MS=""
  start=$(now_ms)
  POD=$(cri runp --runtime "$h" "$CFG") || { fail "RunPodSandbox ($h)"; return 1; }
  POD_START=$start
  netns=$(pod_netns "$POD")
  "$body" "$h" || rc=1
  remove_pod "$POD" "$CGROUP" || rc=1
  if [ -n "$netns" ] && [ -e "$netns" ]; then fail "network namespace $netns left"; rc=1; fi
  return $rc
}

# ---- the generic pod: runc and kata ----
body_pod() {
  local h=$1 ok=0 c1 c2 c3 out err rc t0 ms b1 b2 ip i
  c1=$(run_container "$POD" "$CFG" c1 \
       '["echo started; echo to-stderr >&2; exec sleep 3600"]') || { fail "c1"; return 1; }
  wait_state "$c1" CONTAINER_RUNNING 120 || return 1
  START_MS[$h]=$(( $(now_ms) - POD_START ))
  log "  pod start: ${START_MS[$h]} ms"

  cri inspectp "$POD" > "$T/podstatus.json"
  expect_eq "pod state" "$(json 'd["status"]["state"]' < "$T/podstatus.json")" SANDBOX_READY || ok=1
  ip=$(json 'd["status"].get("network", {}).get("ip", "")' < "$T/podstatus.json")
  case "$ip" in "${CRI_SUBNET%.0/24}".*) ;; *) fail "pod IP '$ip' not in $CRI_SUBNET"; ok=1 ;; esac

  c2=$(run_container "$POD" "$CFG" c2 \
       '["trap \"exit 0\" TERM; while true; do sleep 1; done"]') || { fail "c2"; return 1; }
  wait_state "$c2" CONTAINER_RUNNING 120 || ok=1

  # One VM per pod: both containers see the same kernel, not the host's (runc: the host's).
  b1=$(exec_in "$c1" cat /proc/sys/kernel/random/boot_id) || fail "ExecSync boot_id c1" || ok=1
  b2=$(exec_in "$c2" cat /proc/sys/kernel/random/boot_id) || fail "ExecSync boot_id c2" || ok=1
  expect_eq "boot id c1 vs c2" "$b1" "$b2" || ok=1
  if [ "$h" = kata ]; then
    [ -n "$b1" ] && [ "$b1" != "$HOST_BOOT_ID" ] || fail "kata guest boot id '$b1' is the host's" || ok=1
  else
    expect_eq "runc boot id" "$b1" "$HOST_BOOT_ID" || ok=1
  fi

  # ExecSync: stdout, stderr and the exit code, separately.
  cri exec --timeout 60 "$c1" sh -c 'echo out; echo err >&2; exit 3' >"$T/o" 2>"$T/e"
  rc=$?
  expect_eq "exec exit code" "$rc" 3 || ok=1
  expect_eq "exec stdout" "$(cat "$T/o")" out || ok=1
  expect_eq "exec stderr" "$(cat "$T/e")" err || ok=1
  expect_eq "env" "$(exec_in "$c1" sh -c 'echo $KCRI_ENV')" from-cri || ok=1
  expect_eq "hostname" "$(exec_in "$c1" hostname)" "$(json 'd["hostname"]' < "$CFG")" || ok=1
  # ExecSync's own timeout ends a command that outlives it.
  t0=$(now_ms)
  cri exec --timeout 2 "$c1" sleep 100 >/dev/null 2>&1
  rc=$?
  ms=$(( $(now_ms) - t0 ))
  [ "$rc" -ne 0 ] && [ "$ms" -lt 60000 ] || fail "exec past its 2 s timeout: rc $rc after $ms ms" || ok=1

  # The CRI log file: '<RFC 3339 time> <stream> F <line>'.
  cri logs --raw "$c1" > "$T/raw.log" || fail "logs --raw" || ok=1
  python3 - "$T/raw.log" <<'PY' || fail "CRI log format: $(cat "$T/raw.log")" || ok=1
import re, sys
lines = open(sys.argv[1]).read().splitlines()
pat = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) (stdout|stderr) F (.*)"
got = sorted((m.group(3), m.group(4)) for m in map(lambda l: re.fullmatch(pat, l), lines) if m)
sys.exit(0 if len(got) == len(lines) and got == [("stderr", "to-stderr"), ("stdout", "started")] else 1)
PY
  expect_eq "logs stdout" "$(cri logs --stream stdout "$c1")" started || ok=1

  # ContainerStatus.
  cri inspect "$c1" > "$T/status.json"
  expect_eq "status state" "$(json 'd["status"]["state"]' < "$T/status.json")" CONTAINER_RUNNING || ok=1
  expect_eq "status log_path" "$(json 'd["status"]["log_path"]' < "$T/status.json")" \
    "$T/logs/$(json 'd["metadata"]["name"]' < "$CFG")/c1.log" || ok=1
  json 'int(d["status"]["created_at"]) > 0 and int(d["status"]["started_at"]) >= int(d["status"]["created_at"]) or sys.exit(1)' \
    < "$T/status.json" >/dev/null || fail "status times: $(cat "$T/status.json")" || ok=1
  expect_eq "status image" "$(json 'd["status"]["image"]["image"] != ""' < "$T/status.json")" True || ok=1

  # ContainerStats and PodSandboxStats.
  cri stats "$c1" > "$T/stats.json" || fail "ContainerStats" || ok=1
  json 'd["stats"]["attributes"]["id"] == "'"$c1"'" and int(d["stats"]["memory"]["working_set_bytes"]["value"]) > 0 and int(d["stats"]["cpu"]["usage_core_nano_seconds"]["value"]) > 0 or sys.exit(1)' \
    < "$T/stats.json" >/dev/null || fail "ContainerStats: $(cat "$T/stats.json")" || ok=1
  cri podstats "$POD" > "$T/podstats.json" || fail "PodSandboxStats" || ok=1
  json 'd["stats"]["attributes"]["id"] == "'"$POD"'" and "memory" in d["stats"]["linux"] and "cpu" in d["stats"]["linux"] and len(d["stats"]["linux"]["containers"]) == 2 or sys.exit(1)' \
    < "$T/podstats.json" >/dev/null || fail "PodSandboxStats: $(cat "$T/podstats.json")" || ok=1

  # StopContainer: a container that exits on SIGTERM stops at once; one that ignores it is
  # SIGKILLed after the grace period, not before.
  t0=$(now_ms)
  cri stop --timeout 30 "$c2" || fail "StopContainer c2" || ok=1
  ms=$(( $(now_ms) - t0 ))
  [ "$ms" -lt 15000 ] || fail "c2 (exits on TERM) took $ms ms to stop" || ok=1
  expect_eq "c2 exit code" "$(cri inspect "$c2" | json 'd["status"].get("exit_code", 0)')" 0 || ok=1
  c3=$(run_container "$POD" "$CFG" c3 '["trap \"\" TERM; touch /tmp/trapped; while true; do sleep 1; done"]') ||
    { fail "c3"; return 1; }
  wait_state "$c3" CONTAINER_RUNNING 120 || ok=1
  # RUNNING means the process exists, not that the shell has run its trap yet (a TERM before
  # it kills the shell: in a TCG guest that window is tens of ms). Stop only once it has.
  for i in $(seq 60); do exec_in "$c3" test -f /tmp/trapped >/dev/null 2>&1 && break; sleep 1; done
  exec_in "$c3" test -f /tmp/trapped >/dev/null 2>&1 || fail "c3 never ran its trap" || ok=1
  t0=$(now_ms)
  cri stop --timeout 4 "$c3" || fail "StopContainer c3" || ok=1
  ms=$(( $(now_ms) - t0 ))
  [ "$ms" -ge 3900 ] && [ "$ms" -lt 30000 ] || fail "c3 (ignores TERM) stopped after $ms ms, grace 4 s" || ok=1
  cri inspect "$c3" > "$T/c3.json"
  expect_eq "c3 state" "$(json 'd["status"]["state"]' < "$T/c3.json")" CONTAINER_EXITED || ok=1
  expect_eq "c3 exit code" "$(json 'd["status"].get("exit_code", 0)' < "$T/c3.json")" 137 || ok=1
  cri rm "$c3" || fail "RemoveContainer c3" || ok=1
  cri inspect "$c3" >/dev/null 2>&1 && { fail "c3 still there after RemoveContainer"; ok=1; }
  return $ok
}

t_pod() {
  local rc=0
  with_pod "$1" "lc-$1" "" body_pod || rc=1
  REMOVE_MS[$1]=$REMOVE_LAST_MS
  log "  StopPodSandbox+RemovePodSandbox: ${REMOVE_MS[$1]} ms"
  return $rc
}

# ---- shareProcessNamespace: the containers see each other's processes and the pause ----
body_share_pid() {
  local ok=0 c1 c2 pid1
  c1=$(run_container "$POD" "$CFG" sleeper '["exec sleep 3600"]') || { fail "sleeper"; return 1; }
  c2=$(run_container "$POD" "$CFG" looker '["exec tail -f /dev/null"]') || { fail "looker"; return 1; }
  wait_state "$c1" CONTAINER_RUNNING 120 && wait_state "$c2" CONTAINER_RUNNING 120 || return 1
  pid1=$(exec_in "$c2" cat /proc/1/cmdline | tr '\0' ' ')
  expect_eq "PID 1 of the pod" "${pid1% }" /pause || ok=1
  [ -n "$(exec_in "$c2" pidof sleep)" ] || fail "the looker does not see the sleeper's sleep" || ok=1
  return $ok
}

t_share_pid() {
  with_pod "$1" "pid-$1" '"security_context": {"namespace_options": {"pid": "POD"}}' body_share_pid
}

# ---- OOM: a container over its memory limit is OOM-killed and reported as OOMKilled ----
body_oom() {
  local ok=0 c
  c=$(run_container "$POD" "$CFG" hog '["a=xxxxxxxxxxxxxxxx; while true; do a=\"$a$a\"; done"]' \
      '"linux": {"resources": {"memory_limit_in_bytes": 67108864, "memory_swap_limit_in_bytes": 67108864}}') ||
    { fail "hog"; return 1; }
  wait_state "$c" CONTAINER_EXITED 180 || return 1
  cri inspect "$c" > "$T/oom.json"
  expect_eq "OOM exit code" "$(json 'd["status"].get("exit_code", 0)' < "$T/oom.json")" 137 || ok=1
  expect_eq "OOM reason" "$(json 'd["status"].get("reason", "")' < "$T/oom.json")" OOMKilled || ok=1
  return $ok
}

t_oom() { with_pod "$1" "oom-$1" "" body_oom; }

# ---- kata: the VM is sized for the pod, QEMU runs in the pod's cgroup ----
body_sizing() {
  local ok=0 c qemu mem cg line
  c=$(run_container "$POD" "$CFG" sized '["exec sleep 3600"]' \
      '"linux": {"resources": {"cpu_period": 100000, "cpu_quota": 200000, "memory_limit_in_bytes": 536870912}}') ||
    { fail "sized"; return 1; }
  wait_state "$c" CONTAINER_RUNNING 120 || return 1
  # default_vcpus 1 + 2 CPUs; default_memory 512 MiB + 512 MiB (less what the kernel keeps).
  expect_eq "nproc" "$(exec_in "$c" nproc)" 3 || ok=1
  mem=$(exec_in "$c" awk '/MemTotal/ {print $2}' /proc/meminfo)
  [ "${mem:-0}" -ge $(( 900 * 1024 )) ] || fail "MemTotal ${mem:-?} kB, want about 1 GiB" || ok=1
  qemu=$(pgrep -f -- "qemu-system.*$POD" | head -1)
  [ -n "$qemu" ] || { fail "no QEMU process names pod $POD"; return 1; }
  cg=0
  while IFS= read -r line; do
    case "$line" in *":$CGROUP/"*|*":$CGROUP") cg=1 ;; esac
  done < "/proc/$qemu/cgroup"
  [ "$cg" = 1 ] || fail "QEMU $qemu is not in the pod cgroup $CGROUP: $(cat "/proc/$qemu/cgroup")" || ok=1
  return $ok
}

t_kata_sizing() {
  with_pod kata "size-kata" \
    '"resources": {"cpu_period": 100000, "cpu_quota": 200000, "memory_limit_in_bytes": 536870912}' \
    body_sizing
}
