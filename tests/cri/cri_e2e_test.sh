#!/bin/bash
# End-to-end through containerd 1.6's CRI plugin, driven by cri-ctl as kubelet drives a
# runtime, with runc as the baseline in the same run: every generic case runs for the `runc`
# handler and then for `kata` (kata-cpp's shim, a QEMU VM per pod); kata-only cases follow.
#
# usage: cri_e2e_test.sh CRI_CTL SHIM PAUSE_BIN MAKE_PAUSE MAKE_BUSYBOX [GUEST_IMAGE_FILES...]
#
# Needs root, containerd, runc, QEMU and Debian's CNI plugins; fails (never skips) when one is
# missing. Everything (containerd's root/state/sockets, CNI conf and IPAM data, logs) lives
# under one temp dir; after each pod the test asserts that nothing of it is left: process,
# mount, shim socket, sandbox directory, network namespace, pod cgroup.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/cri_lib.sh"

FAILED=0
REMOVE_LAST_MS=""
PASSED=0
log() { echo "[cri $(date +%T.%N | cut -c1-12)] $*"; }
die() { log "FATAL: $*"; exit 1; }
fail() { log "  FAIL: $*"; return 1; }

[ "$(id -u)" = 0 ] || die "must run as root (containerd, CNI, VMs)"
for tool in containerd ctr runc python3 ip qemu-system-x86_64; do
  command -v "$tool" >/dev/null || die "$tool is missing (tools/setup installs it)"
done

T=$(mktemp -d /tmp/kcri.XXXXXX)
cleanup() {
  local rc=$?
  set +e
  if [ $rc -ne 0 ] && [ -f "$T/containerd.log" ]; then
    log "containerd log (last 80 lines):"
    tail -80 "$T/containerd.log"
  fi
  cri_teardown
  # The pods' parent cgroups (kubelet's to make and remove; runc and kata-cpp make them).
  find /sys/fs/cgroup/*/kcri-$$ -depth -type d -exec rmdir {} + 2>/dev/null
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cri_setup "$T" "$@" || die "setting up containerd with the CRI plugin"
log "containerd $CONTAINERD_PID on $CRI_SOCK; bridge $CRI_BRIDGE $CRI_SUBNET"
HOST_BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)
N=0

# ---- helpers ----
json() {  # json EXPR < document: prints the Python expression over d (the parsed JSON)
  python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

pod_config() {  # pod_config NAME [EXTRA_LINUX_JSON]: a PodSandboxConfig file, prints its path
  N=$((N + 1))
  local f=$T/pod-$1.json uid=uid-$$-$N
  cat > "$f" <<JSON
{
  "metadata": {"name": "$1", "namespace": "kcri", "uid": "$uid", "attempt": 1},
  "hostname": "$1-host",
  "log_directory": "$T/logs/$1",
  "linux": {"cgroup_parent": "/kcri-$$/pod$uid"${2:+, $2}}
}
JSON
  mkdir -p "$T/logs/$1"
  echo "$f"
}

container_config() {  # container_config NAME ARGS_JSON [EXTRA_JSON]: prints its path
  local f=$T/ctr-$1-$N.json
  cat > "$f" <<JSON
{
  "metadata": {"name": "$1"},
  "image": {"image": "$CRI_BUSYBOX_IMAGE"},
  "command": ["/bin/sh", "-c"],
  "args": $2,
  "envs": [{"key": "KCRI_ENV", "value": "from-cri"}],
  "log_path": "$1.log"${3:+, $3}
}
JSON
  echo "$f"
}

run_container() {  # run_container POD_ID POD_JSON NAME ARGS_JSON [EXTRA_JSON]: prints the id
  local id
  id=$(cri create "$1" "$(container_config "$3" "$4" "${5:-}")" "$2") || return 1
  cri start "$id" >&2 || return 1
  echo "$id"
}

state_of() { cri inspect "$1" | json 'd["status"].get("state", "CONTAINER_CREATED")'; }

wait_state() {  # wait_state ID STATE [SECONDS]
  local i
  for i in $(seq $(( ${3:-60} * 10 ))); do
    [ "$(state_of "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  fail "container $1 is $(state_of "$1"), not $2"
}

# Everything a pod leaves behind once stopped and removed (none of it may remain).
pod_leftovers() {  # pod_leftovers POD_ID CGROUP_PARENT
  local id=$1 sock d
  pgrep -af -- "$id" | grep -v -e pgrep -e cri_e2e_test | sed 's/^/process: /'
  grep -F "$id" /proc/self/mountinfo | sed 's/^/mount: /'
  sock=/run/containerd/s/$(printf '%s' "$CRI_SOCK/k8s.io/$id" | sha256sum | cut -d' ' -f1)
  [ -e "$sock" ] && echo "shim socket: $sock"
  for d in "/run/kata-containers/shared/sandboxes/$id" "/run/vc/vm/$id" \
           "$T/state/io.containerd.grpc.v1.cri/sandboxes/$id" \
           "$T/root/io.containerd.grpc.v1.cri/sandboxes/$id"; do
    [ -e "$d" ] && echo "directory: $d"
  done
  for d in /sys/fs/cgroup/*/"$2/$id"; do
    [ -d "$d" ] && echo "cgroup: $d"
  done
  cri_pod_ids | grep -qx "$id" && echo "pod still listed"
}

# remove_pod POD_ID CGROUP_PARENT: stopp + rmp (their time in REMOVE_LAST_MS), then no leftovers
remove_pod() {
  local start ms left i
  start=$(now_ms)
  cri stopp "$1" || fail "StopPodSandbox $1" || return 1
  cri rmp "$1" || fail "RemovePodSandbox $1" || return 1
  ms=$(( $(now_ms) - start ))
  REMOVE_LAST_MS=$ms
  for i in $(seq 50); do
    left=$(pod_leftovers "$1" "$2")
    [ -z "$left" ] && return 0
    sleep 0.2
  done
  fail "pod $1 left: $left"
}

check() {  # check NAME FUNCTION ARGS...
  local name=$1
  shift
  log "=== $name"
  if "$@"; then
    log "PASS $name"
    PASSED=$((PASSED + 1))
  else
    log "FAIL $name"
    FAILED=$((FAILED + 1))
  fi
}

source "$(dirname "${BASH_SOURCE[0]}")/cri_cases.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cri_net_cases.sh"

# ---- run ----
for handler in runc kata; do
  check "$handler: pod lifecycle, exec, logs, status, stats, stop grace" t_pod "$handler"
done
for handler in runc kata; do
  check "$handler: DNS and hosts files as containerd wrote them, pod IP serves the host" t_net "$handler"
done
check "runc: shared PID namespace" t_share_pid runc
check "runc: OOM kill reported as OOMKilled" t_oom runc
# Issue 13's runtime pieces (OOM events, pod PID namespace, pod sizing, host cgroups).
check "kata: shared PID namespace" t_share_pid kata
check "kata: OOM kill reported as OOMKilled" t_oom kata
check "kata: pod sizing, QEMU in the pod cgroup" t_kata_sizing

log "pod start (RunPodSandbox -> first container running) / StopPodSandbox+Remove, ms:"
for handler in runc kata; do
  log "  $handler: start ${START_MS[$handler]:-?} / remove ${REMOVE_MS[$handler]:-?}"
done
log "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
