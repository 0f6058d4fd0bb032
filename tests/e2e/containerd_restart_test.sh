#!/bin/bash
# End-to-end (issue 11 item 15): containerd restarted while a pod runs.
#
# usage: containerd_restart_test.sh MODE SHIM IMAGE_BUILDER [GUEST_IMAGE_FILES...]
#   MODE vm    the real shim, the pod in a QEMU VM (TCG, 9p; the guest kernel vmlinux.container
#              and initrd *.img among GUEST_IMAGE_FILES, default /usr/share/kata-containers)
#   MODE host  the shim over the host-process sandbox (tests/e2e/host_sandbox.h)
#
# A private containerd (tools/lib/containerd.sh) runs a detached container A; then, twice
# (containerd killed with SIGKILL, then stopped cleanly with SIGTERM):
#   - a second container B in A's pod runs `sleep 8` and is RUNNING;
#   - containerd goes away; the shim (and QEMU) keep running and the shim socket answers;
#   - B exits on its own while containerd is down (its /tasks/exit cannot be delivered);
#   - containerd is started again on the same config, root, state and sockets: it reconnects
#     to the shim from the bundle's `address` file; the exit event published during the
#     downtime reaches it ("event forwarded" topic=/tasks/exit in its debug log);
#     `ctr task ls` shows A RUNNING and B STOPPED, `ctr task exec` into A works, B is deleted.
# Finally A is killed and deleted: no shim, no QEMU, no mount, no socket, no directory is left.
# Needs root; fails (never skips) when something is missing.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib/containerd.sh"

MODE=$1
SHIM=$(readlink -f "$2")
BUILDER=$(readlink -f "$3")
shift 3
GUEST_KERNEL=/usr/share/kata-containers/vmlinux.container
GUEST_INITRD=/usr/share/kata-containers/kata-containers-initrd.img
for f in "$@"; do
  case "$f" in
    *vmlinux.container) GUEST_KERNEL=$(readlink -f "$f") ;;
    *.img) GUEST_INITRD=$(readlink -f "$f") ;;
  esac
done
IMG=docker.io/library/busybox:kata-e2e
PREFIX="rst$$"
DOWNTIME=14  # seconds containerd stays away: B's `sleep 8` ends in it

log() { echo "[restart $(date +%T.%N | cut -c1-12)] $*"; }
die() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (containerd, mounts, VMs)"
for tool in containerd ctr python3 sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing (tools/setup installs it)"
done

T=$(mktemp -d /tmp/krst.XXXXXX)
SOCK=$T/c.sock
CTR="ctr -a $SOCK"
IDS=""

leftover_pids() {  # shims (their command line names our socket) and QEMU (a test id)
  pgrep -af -- "$SOCK|$PREFIX" | while read -r pid cmd; do
    [ "$pid" = "${CONTAINERD_PID:-}" ] && continue
    case "$cmd" in ctr\ *|timeout\ *|pgrep\ *|containerd\ --config*|*containerd_restart_test.sh*) continue ;; esac
    echo "$pid: $cmd"
  done
}

shim_socket() {  # the shim socket path containerd's scheme gives container $1
  echo "/run/containerd/s/$(printf '%s' "$SOCK/default/$1" | sha256sum | cut -d' ' -f1)"
}

cleanup() {
  local rc=$?
  set +e
  containerd_stop
  leftover_pids | while read -r line; do kill -9 "${line%%:*}" 2>/dev/null; done
  for id in $IDS; do
    rm -f "$(shim_socket "$id")"
    rm -rf "/run/kata-containers/shared/sandboxes/$id" "/run/vc/vm/$id"
  done
  if [ $rc -ne 0 ]; then
    for f in "$T"/containerd.log*; do
      [ -f "$f" ] && { log "$f (last 40 lines):"; tail -40 "$f"; }
    done
  fi
  containerd_cleanup "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$MODE" = vm ]; then
  [ -e "$GUEST_KERNEL" ] && [ -e "$GUEST_INITRD" ] ||
    die "guest image missing: $GUEST_KERNEL $GUEST_INITRD"
  cat > "$T/configuration.toml" <<TOML
[hypervisor.qemu]
path = "/usr/bin/qemu-system-x86_64"
kernel = "$GUEST_KERNEL"
initrd = "$GUEST_INITRD"
machine_type = "q35"
accelerator = "tcg"
default_vcpus = 1
default_memory = 512
shared_fs = "virtio-9p"
valid_hypervisor_paths = ["/usr/bin/qemu-system-x86_64"]

[agent.kata]
dial_timeout = 90

[runtime]
enable_debug = true
TOML
  export KATA_CONF_FILE=$T/configuration.toml
fi
export CONTAINERD_START_TIMEOUT=60
containerd_start "$T" --debug || die "containerd did not come up"
log "containerd $CONTAINERD_PID on $SOCK"
python3 "$BUILDER" "$T/busybox.tar" "$IMG" || die "building the busybox image"
$CTR images import "$T/busybox.tar" >/dev/null || die "importing the busybox image"

new_id() { IDS="$IDS $PREFIX-$1"; echo "$PREFIX-$1"; }
run() { timeout 300 $CTR run --runtime "$SHIM" "$@" </dev/null; }
task_status() { $CTR task ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}'; }
wait_status() {  # id status [seconds]
  local _
  for _ in $(seq $(( ${3:-120} * 10 ))); do
    [ "$(task_status "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  log "task $1 did not reach $2: $($CTR task ls 2>&1 | grep -- "$1")"
  return 1
}
alive() { kill -0 "$1" 2>/dev/null; }
socket_answers() {
  python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])' "$1" 2>/dev/null
}

A=$(new_id pod)
run -d "$IMG" "$A" sh -c 'trap "exit 143" TERM; while true; do sleep 0.2; done' ||
  die "ctr run -d $A"
wait_status "$A" RUNNING || die "$A does not run"
SHIM_PID=$(leftover_pids | grep -- "-socket-fd" | grep -- "-id $A" | cut -d: -f1 | head -1)
[ -n "$SHIM_PID" ] || die "no shim process for $A: $(leftover_pids)"
QEMU_PID=""
if [ "$MODE" = vm ]; then
  QEMU_PID=$(pgrep -f "qemu.*$A" | head -1)
  [ -n "$QEMU_PID" ] || die "no QEMU for $A"
fi
log "pod $A: shim $SHIM_PID, QEMU ${QEMU_PID:-none}"
BUNDLE=$T/state/io.containerd.runtime.v2.task/default/$A
[ -s "$BUNDLE/address" ] || die "no address file in $BUNDLE"

# One round: $1 = the signal that takes containerd away (KILL or TERM), $2 = a name for B.
restart_round() {
  local sig=$1 b out st _
  b=$(new_id "$2")
  run -d --annotation io.kubernetes.cri.container-type=container \
    --annotation "io.kubernetes.cri.sandbox-id=$A" "$IMG" "$b" sh -c 'sleep 8' ||
    { log "ctr run -d $b"; return 1; }
  wait_status "$b" RUNNING || return 1
  local down_at
  down_at=$(date +%s)
  log "SIG$sig to containerd $CONTAINERD_PID"
  kill -"$sig" "$CONTAINERD_PID"
  for _ in $(seq 300); do alive "$CONTAINERD_PID" || break; sleep 0.1; done
  alive "$CONTAINERD_PID" && { log "containerd survived SIG$sig"; return 1; }
  wait "$CONTAINERD_PID" 2>/dev/null
  sleep 1
  alive "$SHIM_PID" || { log "the shim $SHIM_PID died with containerd"; return 1; }
  [ -z "$QEMU_PID" ] || alive "$QEMU_PID" || { log "QEMU $QEMU_PID died with containerd"; return 1; }
  socket_answers "$(shim_socket "$A")" || { log "the shim socket does not answer"; return 1; }
  # B's `sleep 8` ends now, while nobody listens for its exit.
  sleep $(( DOWNTIME - ($(date +%s) - down_at) ))
  alive "$SHIM_PID" || { log "the shim $SHIM_PID died while containerd was down"; return 1; }
  mv "$T/containerd.log" "$T/containerd.log.before-$2"
  containerd_start "$T" --debug || { log "containerd did not come back"; return 1; }
  log "containerd back after $(( $(date +%s) - down_at )) s: pid $CONTAINERD_PID"
  # The exit published during the downtime arrives (the shim retries it): before anything
  # else in the pod could publish an exit.
  for _ in $(seq 600); do
    grep -q 'msg="event forwarded".*topic=/tasks/exit' "$T/containerd.log" && break
    sleep 0.1
  done
  grep 'msg="event forwarded"' "$T/containerd.log" | grep -q 'topic=/tasks/exit' ||
    { log "no /tasks/exit reached the restarted containerd within 60 s"; return 1; }
  log "the exit of $b reached the restarted containerd: $(grep -o 'event /tasks/exit sent at attempt [0-9]*' "$T/containerd.log" | head -1)"
  st=$(task_status "$A")
  [ "$st" = RUNNING ] || { log "after the restart $A is '$st', not RUNNING"; return 1; }
  st=$(task_status "$b")
  [ "$st" = STOPPED ] || { log "after the restart $b is '$st', not STOPPED"; return 1; }
  out=$(timeout 120 $CTR task exec --exec-id "x$2" "$A" sh -c 'echo exec-after-restart' </dev/null)
  [ "$out" = exec-after-restart ] || { log "exec after the restart: '$out'"; return 1; }
  $CTR task rm "$b" >/dev/null || { log "task rm $b"; return 1; }
  $CTR c rm "$b" || return 1
  alive "$SHIM_PID" || { log "the shim is gone after deleting $b"; return 1; }
}

restart_round KILL killed || die "containerd SIGKILLed and restarted"
log "PASS containerd SIGKILL + restart"
restart_round TERM stopped || die "containerd SIGTERMed and restarted"
log "PASS containerd SIGTERM + restart"

$CTR task kill -s KILL "$A" || die "task kill $A"
wait_status "$A" STOPPED 60 || die "$A did not stop"
timeout 120 $CTR task rm "$A" >/dev/null || die "task rm $A"
$CTR c rm "$A" || die "c rm $A"
for _ in $(seq 100); do [ -z "$(leftover_pids)" ] && break; sleep 0.2; done
left=$(leftover_pids)
[ -z "$left" ] || die "processes left: $left"
left=$(grep -F "$PREFIX" /proc/self/mountinfo)
[ -z "$left" ] || die "mounts left: $left"
for id in $IDS; do
  [ -e "$(shim_socket "$id")" ] && die "shim socket of $id left: $(shim_socket "$id")"
  for d in "/run/kata-containers/shared/sandboxes/$id" "/run/vc/vm/$id" \
      "$T/state/io.containerd.runtime.v2.task/default/$id"; do
    [ -e "$d" ] && die "directory left: $d"
  done
done
log "PASS kill + delete after two restarts leaves nothing ($MODE)"
