#!/bin/bash
# End to end (issue 15): the agent's debug console through the real containerd 1.6, our shim
# and QEMU. A pod whose configuration says [agent.kata] debug_console_enabled = true answers
# `kata-runtime exec <sandbox>` with a shell in the GUEST (its kernel, its root, a pty of its
# own, the shell's exit code); one with false is refused with the message, and its QEMU has no
# console port and its kernel no agent.debug_console. Unknown and malformed ids are refused.
#
# usage: debug_console_e2e_test.sh SHIM IMAGE_BUILDER GUEST_IMAGE_FILES...
#   KATA_RUNTIME: the kata-runtime binary. Needs root; fails (never skips) when a VM cannot run.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib/containerd.sh"

SHIM=$(readlink -f "$1")
BUILDER=$(readlink -f "$2")
shift 2
KERNEL="" INITRD=""
for f in "$@"; do
  case "$f" in
    *vmlinux.container) KERNEL=$(readlink -f "$f") ;;
    *.img) INITRD=$(readlink -f "$f") ;;
  esac
done
RUNTIME=$(readlink -f "${KATA_RUNTIME:-}")
IMG=docker.io/library/busybox:kata-dbgcon
PREFIX="dbgcon$$"

log() { echo "[dbgcon $(date +%T.%N | cut -c1-12)] $*"; }
die() { log "FATAL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (containerd, mounts, VMs)"
[ -x "$RUNTIME" ] || die "KATA_RUNTIME (kata-runtime) is not set or not executable"
[ -f "$KERNEL" ] && [ -f "$INITRD" ] || die "guest kernel/initrd not among the arguments: $*"

T=$(mktemp -d /tmp/kdbg.XXXXXX)
CTR="ctr -a $T/c.sock"
IDS=()
cleanup() {
  local rc=$? id
  set +e
  for id in "${IDS[@]}"; do
    $CTR task kill -s KILL "$id" >/dev/null 2>&1
    sleep 0.2
    $CTR task rm -f "$id" >/dev/null 2>&1
    $CTR c rm "$id" >/dev/null 2>&1
  done
  containerd_stop
  [ $rc -ne 0 ] && [ -f "$T/containerd.log" ] && tail -40 "$T/containerd.log"
  containerd_cleanup "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for on in true false; do
  cat > "$T/$on.toml" <<TOML
[hypervisor.qemu]
path = "/usr/bin/qemu-system-x86_64"
kernel = "$KERNEL"
initrd = "$INITRD"
machine_type = "q35"
accelerator = "tcg"
default_memory = 512
shared_fs = "virtio-9p"
valid_hypervisor_paths = ["/usr/bin/qemu-system-x86_64"]

[agent.kata]
dial_timeout = 90
debug_console_enabled = $on
TOML
done
containerd_start "$T" || die "containerd did not come up"
python3 "$BUILDER" "$T/busybox.tar" "$IMG" >/dev/null || die "building the busybox image"
$CTR images import "$T/busybox.tar" >/dev/null || die "importing the busybox image"

start_pod() {  # id config: a running pod (its sandbox id is the container's)
  IDS+=("$1")
  timeout 300 $CTR run -d --runtime "$SHIM" --runtime-config-path "$2" "$IMG" "$1" \
    sleep 1000 </dev/null || die "ctr run $1 failed"
  for _ in $(seq 600); do
    $CTR task ls | awk -v id="$1" '$1 == id {print $3}' | grep -qx RUNNING && return 0
    sleep 0.1
  done
  die "pod $1 did not start"
}

# ---- enabled ----
on="$PREFIX-on"
start_pod "$on" "$T/true.toml"
sock="/run/vc/vm/$on/debug-console.sock"
[ "$(stat -c %a "$sock" 2>&1)" = 600 ] || die "console socket $sock: mode $(stat -c %a "$sock" 2>&1), want 600"
out=$(echo 'cat /proc/version; echo MARK; exit' | timeout 120 "$RUNTIME" exec "$on" 2>"$T/err")
rc=$?
log "exec output: $(echo "$out" | tr -d '\r' | tr '\n' '|' | cut -c1-400)"
[ $rc -eq 0 ] || die "kata-runtime exec exited $rc: $(cat "$T/err")"
clean=$(echo "$out" | tr -d '\r')
echo "$clean" | grep -qx MARK || die "no MARK line in the output"
guest=$(echo "$clean" | grep -o 'Linux version [^ ]*' | head -1)
host=$(grep -o 'Linux version [^ ]*' /proc/version)
[ -n "$guest" ] || die "no kernel version in the output"
[ "$guest" != "$host" ] || die "the kernel is the host's ($host): not the guest"
log "guest kernel: $guest (host: $host)"

# The guest's root (its /init is the agent), a pty of its own, the shell's exit code.
out=$(printf '[ -x /init ] && echo IN-GUEST-ROOT; tty; exit 7\n' | timeout 120 "$RUNTIME" exec "$on")
rc=$?
clean=$(echo "$out" | tr -d '\r')
[ $rc -eq 7 ] || die "exit code $rc, want 7 (output: $clean)"
echo "$clean" | grep -qx IN-GUEST-ROOT || die "not the guest's root: $clean"
echo "$clean" | grep -qx '/dev/pts/[0-9]*' || die "tty: $clean"
# The container still runs and answers: the console does not get in the agent's way.
[ "$($CTR task exec --exec-id x "$on" echo still-serving </dev/null)" = still-serving ] ||
  die "exec into the container after the console sessions"
log "PASS enabled: guest shell, exit code, pty, guest root"

# ---- disabled ----
off="$PREFIX-off"
start_pod "$off" "$T/false.toml"
err=$(echo 'echo should-not-run' | timeout 60 "$RUNTIME" exec "$off" 2>&1)
rc=$?
want="kata-runtime exec: sandbox $off: debug console is not enabled (agent.kata.debug_console_enabled = false)"
[ $rc -eq 1 ] && [ "$err" = "$want" ] || die "disabled: exit $rc, '$err'"
qpid=$(pgrep -f "qemu.*/run/vc/vm/$off/" | head -1)
[ -n "$qpid" ] || die "no QEMU for $off"
tr '\0' ' ' < "/proc/$qpid/cmdline" | grep -qE 'id=dbgcon,|chardev=dbgcon|debug_console|debug-console' && die "QEMU of $off has a debug console: $(tr '\0' ' ' < "/proc/$qpid/cmdline")"
log "PASS disabled: refused, no port, no kernel parameter"

# ---- bad ids ----
err=$("$RUNTIME" exec "nosuch-$PREFIX" 2>&1) && die "an unknown sandbox was accepted"
echo "$err" | grep -q "sandbox nosuch-$PREFIX: not found" || die "unknown sandbox: '$err'"
err=$("$RUNTIME" exec "../vm/$on" 2>&1) && die "a path was accepted as a sandbox id"
echo "$err" | grep -q "not a plain name" || die "path as id: '$err'"
log "PASS unknown and malformed ids refused"
log "all passed"
