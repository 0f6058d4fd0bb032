#!/bin/bash
# End-to-end: a private containerd 1.6 + ctr driving containerd-shim-kata-v2.
#
# usage: containerd_e2e_test.sh MODE SHIM IMAGE_BUILDER [GUEST_IMAGE_FILES...]
#   MODE vm    the real shim: every container runs in a QEMU VM with the guest image
#              (configuration: $KATA_E2E_CONFIG if set, else one written here for the guest
#              kernel vmlinux.container and initrd *.img among GUEST_IMAGE_FILES, default
#              /usr/share/kata-containers: q35, TCG, 9p or $E2E_SHARED_FS (virtio-fs), 512
#              MiB); fails (never skips) when the VM path does not work.
#   MODE host  the shim over a host-process sandbox (tests/e2e/host_sandbox.h): the shim's
#              containerd contract without a VM; the QEMU-kill case does not apply.
#
# Needs root. Everything lives under one temp dir: containerd's config, root, state, sockets
# and log; containerd is stopped by its PID at the end, even on failure. After every case the
# test asserts that nothing is left: no shim or QEMU process, mount, shim socket or sandbox dir.
set -u
# The private containerd (tools/lib/containerd.sh; in Bazel's runfiles too, as a data dependency).
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
PREFIX="e2e$$"
FAILED=0
PASSED=0

log() { echo "[e2e $(date +%T.%N | cut -c1-12)] $*"; }
die() { log "FATAL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (containerd, mounts, VMs)"
for tool in containerd ctr python3 sha256sum script; do
  command -v "$tool" >/dev/null || die "$tool is missing (tools/setup installs it)"
done

T=$(mktemp -d /tmp/ke2e.XXXXXX)
SOCK=$T/c.sock  # the socket containerd_start gives containerd
CTR="ctr -a $SOCK"

# Processes whose command line mentions our containerd socket (shims) or a test id (QEMU),
# except containerd itself and ctr clients.
leftover_pids() {
  pgrep -af -- "$SOCK|$PREFIX" | while read -r pid cmd; do
    [ "$pid" = "$CONTAINERD_PID" ] && continue
    case "$cmd" in ctr\ *|timeout\ *|pgrep\ *|*containerd_e2e_test.sh*) continue ;; esac
    echo "$pid: $cmd"
  done
}

shim_socket() {  # the shim socket path containerd's scheme gives container $1
  echo "/run/containerd/s/$(printf '%s' "$SOCK/default/$1" | sha256sum | cut -d' ' -f1)"
}

cleanup() {
  local rc=$?
  set +e
  containerd_stop  # its tasks and containers first
  leftover_pids | while read -r line; do kill -9 "${line%%:*}" 2>/dev/null; done
  for id in $(ls "$T/ids" 2>/dev/null); do
    rm -f "$(shim_socket "$id")"
    rm -rf "/run/kata-containers/shared/sandboxes/$id" "/run/vc/vm/$id"
  done
  if [ $rc -ne 0 ] && [ -f "$T/containerd.log" ]; then
    log "containerd log (last 60 lines):"
    tail -60 "$T/containerd.log"
  fi
  containerd_cleanup "$T"  # unmounts what is left below $T, removes it
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- containerd ----
mkdir -p "$T/ids"

if [ "$MODE" = vm ]; then
  CONFIG=${KATA_E2E_CONFIG:-}
  if [ -z "$CONFIG" ]; then
    CONFIG=$T/configuration.toml
    cat > "$CONFIG" <<TOML
[hypervisor.qemu]
path = "/usr/bin/qemu-system-x86_64"
kernel = "$GUEST_KERNEL"
initrd = "$GUEST_INITRD"
machine_type = "q35"
accelerator = "tcg"
default_vcpus = 1
default_maxvcpus = 4
default_memory = 512
shared_fs = "${E2E_SHARED_FS:-virtio-9p}"
virtio_fs_daemon = "/usr/lib/qemu/virtiofsd"
valid_hypervisor_paths = ["/usr/bin/qemu-system-x86_64"]

[agent.kata]
dial_timeout = 90

[runtime]
enable_debug = true
TOML
  fi
  log "configuration: $CONFIG"
  for key in kernel initrd image; do
    f=$(sed -n "s/^$key *= *\"\\(.*\\)\"/\\1/p" "$CONFIG" | head -1)
    [ -n "$f" ] && { [ -e "$f" ] || log "WARNING: $key $f does not exist (guest image not installed?)"; }
  done
  export KATA_CONF_FILE=$CONFIG
fi
containerd_start "$T" --debug || die "containerd did not come up"
log "containerd $CONTAINERD_PID on $SOCK"

python3 "$BUILDER" "$T/busybox.tar" "$IMG" || die "building the busybox image"
start=$(date +%s%N)
$CTR images import "$T/busybox.tar" >/dev/null || die "importing the busybox image"
log "image imported in $(( ($(date +%s%N) - start) / 1000000 )) ms"

# ---- helpers ----
new_id() { local id="$PREFIX-$1"; touch "$T/ids/$id"; echo "$id"; }
run() { timeout 300 $CTR run --runtime "$SHIM" "$@"; }

wait_status() {  # id status [seconds]
  local i
  for i in $(seq $(( ${3:-60} * 10 ))); do
    $CTR task ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}' | grep -qx "$2" && return 0
    sleep 0.1
  done
  log "task $1 did not reach $2: $($CTR task ls 2>&1 | grep "$1")"
  return 1
}

assert_clean() {  # everything a case left behind
  local ok=0 left
  left=$(leftover_pids)
  [ -n "$left" ] && { log "left processes: $left"; ok=1; }
  left=$(grep -E "$PREFIX|/run/kata-containers|/run/vc/" /proc/self/mountinfo | grep -F "$PREFIX")
  [ -n "$left" ] && { log "left mounts: $left"; ok=1; }
  local id
  for id in "$@"; do
    [ -e "$(shim_socket "$id")" ] && { log "left shim socket of $id: $(shim_socket "$id")"; ok=1; }
    for d in "/run/kata-containers/shared/sandboxes/$id" "/run/vc/vm/$id"; do
      [ -e "$d" ] && { log "left sandbox dir $d"; ok=1; }
    done
    $CTR c ls -q | grep -qx "$id" && { log "left container $id"; ok=1; }
    # ctr gives a container cgroupsPath /<namespace>/<id>: the VM shim makes it (issue 13).
    for d in /sys/fs/cgroup/default/"$id" /sys/fs/cgroup/*/default/"$id"; do
      [ -e "$d" ] && { log "left cgroup $d"; ok=1; }
    done
  done
  return $ok
}

check() {  # name function: runs one case, then the leftover assertions
  local name=$1
  shift
  # E2E_ONLY=REGEX (a person's shortcut while working on one case; e2e_vm_load_test gives a
  # case's function name): only the cases whose name matches, or whose function it is, run.
  [ -n "${E2E_ONLY:-}" ] && [ "$1" != "$E2E_ONLY" ] && ! echo "$name" | grep -qE -- "$E2E_ONLY" &&
    return 0
  log "=== $name"
  local rc=0
  "$@" || rc=1
  if [ $rc -ne 0 ]; then  # do not let a failed case's leftovers fail the next ones
    for id in $(ls "$T/ids"); do
      $CTR task kill -s KILL "$id" >/dev/null 2>&1
      sleep 0.2
      $CTR task rm -f "$id" >/dev/null 2>&1
      $CTR c rm "$id" >/dev/null 2>&1
    done
  fi
  # Give shims a moment to exit after their last task went away.
  local i
  for i in $(seq 30); do [ -z "$(leftover_pids)" ] && break; sleep 0.2; done
  assert_clean $(ls "$T/ids") || rc=1
  for id in $(ls "$T/ids"); do rm -f "$T/ids/$id"; done
  if [ $rc -eq 0 ]; then
    log "PASS $name"
    PASSED=$((PASSED + 1))
  else
    log "FAIL $name"
    FAILED=$((FAILED + 1))
  fi
}

# ---- cases ----
t_hello() {
  local id out
  id=$(new_id hello)
  out=$(run --rm "$IMG" "$id" echo hello </dev/null) || { log "ctr run failed: $out"; return 1; }
  [ "$out" = hello ] || { log "output: '$out'"; return 1; }
}

t_exit_code() {
  local id rc
  id=$(new_id exit3)
  run --rm "$IMG" "$id" sh -c 'echo out; echo err >&2; exit 3' </dev/null >"$T/out" 2>"$T/err"
  rc=$?
  [ $rc -eq 3 ] || { log "exit code $rc, want 3; stderr: $(cat "$T/err")"; return 1; }
  grep -qx out "$T/out" && grep -qx err "$T/err" || { log "stdout/stderr lost"; return 1; }
}

t_stdin() {
  local id out
  id=$(new_id stdin)
  out=$(printf 'line one\nline two\n' | run --rm "$IMG" "$id" sh -c 'cat; echo EOF-seen')
  [ "$out" = "$(printf 'line one\nline two\nEOF-seen')" ] || { log "output: '$out'"; return 1; }
}

t_big_output() {  # nothing lost at exit
  local id n
  id=$(new_id bigout)
  n=$(run --rm "$IMG" "$id" sh -c 'seq 1 20000' </dev/null | wc -l)
  [ "$n" = 20000 ] || { log "got $n lines, want 20000"; return 1; }
}

# A read-only rootfs and two host volumes: one read-only, one read-write whose writes reach the
# host (through the share: 9p or virtio-fs, whose fstype the container sees). VM only: the host
# double chroots and mounts nothing.
t_volumes() {
  local id out
  id=$(new_id vols)
  mkdir -p "$T/vol-ro" "$T/vol-rw"
  echo from-the-host >"$T/vol-ro/in"
  out=$(run --rm --read-only \
    --mount "type=bind,src=$T/vol-ro,dst=/ro,options=rbind:ro" \
    --mount "type=bind,src=$T/vol-rw,dst=/rw,options=rbind:rw" \
    "$IMG" "$id" sh -c '
      cat /ro/in
      { touch /rootfs-file; } 2>/dev/null && echo rootfs-writable || echo rootfs-ro
      { echo x >/ro/new; } 2>/dev/null && echo ro-writable || echo ro-refused
      echo from-the-container >/rw/out && sync && echo rw-ok
      awk '"'"'$2 == "/rw" {print $3}'"'"' /proc/mounts' </dev/null 2>&1)
  local fstype=9p
  [ "${E2E_SHARED_FS:-}" = virtio-fs ] && fstype=virtiofs
  [ "$out" = "$(printf 'from-the-host\nrootfs-ro\nro-refused\nrw-ok\n%s' "$fstype")" ] ||
    { log "output: '$out'"; return 1; }
  [ "$(cat "$T/vol-rw/out")" = from-the-container ] || { log "rw volume write not on the host"; return 1; }
  [ ! -e "$T/vol-ro/new" ] || { log "a read-only volume was written"; return 1; }
}

t_binary_log() {  # --log-uri binary:// (nerdctl's detached containers): containerd's contract
  local id i logger
  id=$(new_id binlog)
  logger=$(readlink -f "${KATA_E2E_LOGGER:-}")
  [ -x "$logger" ] || { log "KATA_E2E_LOGGER (the test logging binary) not set or missing"; return 1; }
  run --rm --log-uri "binary://$logger?file=$T/binlog" "$IMG" "$id" \
    sh -c 'echo out; echo err >&2; exit 4' </dev/null >"$T/binlog.ctr" 2>&1
  [ $? -eq 4 ] || { log "exit code, want 4: $(cat "$T/binlog.ctr")"; return 1; }
  for i in $(seq 50); do grep -qx eof "$T/binlog.meta" 2>/dev/null && break; sleep 0.1; done
  [ "$(cat "$T/binlog.out")" = out ] && [ "$(cat "$T/binlog.err")" = err ] ||
    { log "logged stdout '$(cat "$T/binlog.out")', stderr '$(cat "$T/binlog.err")'"; return 1; }
  grep -qx "env: CONTAINER_ID=$id" "$T/binlog.meta" &&
    grep -qx "env: CONTAINER_NAMESPACE=default" "$T/binlog.meta" &&
    grep -qx eof "$T/binlog.meta" || { log "logger saw: $(cat "$T/binlog.meta")"; return 1; }
  [ -s "$T/binlog.ctr" ] && { log "ctr printed output: $(cat "$T/binlog.ctr")"; return 1; }
  return 0
}

t_tty() {
  local id out
  id=$(new_id tty)
  # timeout --foreground: a background process group would stop on the tty (SIGTTIN).
  # The terminal is the container's own: `tty` names it, and the name exists in its /dev/pts.
  out=$(SHELL=/bin/bash script -qec "timeout --foreground 300 $CTR run --rm -t --runtime $SHIM $IMG $id sh -c 't=\$(tty); echo tty=\$t tty-exit=\$?; [ -t 0 ] && [ -t 1 ] && echo tty-ok; [ -c \"\$t\" ] && echo tty-named'" /dev/null </dev/null)
  # In a VM the container has its own devpts and the terminal is allocated there; the host
  # double only chroots (no /dev of its own), so `tty` cannot name its terminal.
  echo "$out" | grep -q tty-ok || { log "tty output: '$out'"; return 1; }
  if [ "$MODE" = vm ]; then
    echo "$out" | grep -q 'tty=/dev/pts/[0-9]* tty-exit=0' && echo "$out" | grep -q tty-named ||
      { log "tty does not name the container's pty (or fails): '$out'"; return 1; }
  fi
}

t_detached_exec_kill() {
  local id out st
  id=$(new_id detached)
  run -d "$IMG" "$id" sh -c 'trap "exit 143" TERM; while true; do sleep 0.2; done' </dev/null ||
    return 1
  wait_status "$id" RUNNING || return 1
  out=$($CTR task exec --exec-id x1 "$id" sh -c 'echo in-exec; exit 5' </dev/null)
  st=$?
  [ "$out" = in-exec ] || { log "exec output: '$out'"; return 1; }
  [ $st -eq 5 ] || { log "exec exit $st, want 5"; return 1; }
  # A terminal exec: stdin and stdout are its pty (in a VM: one of the container's devpts).
  out=$(SHELL=/bin/bash script -qec "timeout --foreground 120 $CTR task exec -t --exec-id x2 $id sh -c 't=\$(tty); echo tty=\$t; [ -t 0 ] && [ -t 1 ] && echo exec-tty-ok'" /dev/null </dev/null)
  echo "$out" | grep -q exec-tty-ok || { log "exec -t output: '$out'"; return 1; }
  if [ "$MODE" = vm ]; then
    echo "$out" | grep -q 'tty=/dev/pts/[0-9]' || { log "exec -t tty: '$out'"; return 1; }
  fi
  out=$($CTR task ps "$id") || { log "task ps failed"; return 1; }
  echo "$out" | awk 'NR > 1 && $1 ~ /^[0-9]+$/' | grep -q . || { log "task ps: '$out'"; return 1; }
  $CTR task kill "$id" || return 1  # SIGTERM
  wait_status "$id" STOPPED || return 1
  $CTR task rm "$id" >/dev/null || return 1
  $CTR c rm "$id" || return 1
  # SIGKILL on a process that ignores TERM.
  id=$(new_id killed)
  run -d "$IMG" "$id" sh -c 'trap "" TERM; while true; do sleep 0.2; done' </dev/null || return 1
  wait_status "$id" RUNNING || return 1
  $CTR task kill -s KILL "$id" || return 1
  wait_status "$id" STOPPED || return 1
  $CTR task rm "$id" >/dev/null || return 1
  $CTR c rm "$id"
}

t_pause_resume() {
  local id
  id=$(new_id pause)
  run -d "$IMG" "$id" sleep 1000 </dev/null || return 1
  wait_status "$id" RUNNING || return 1
  $CTR task pause "$id" || return 1
  wait_status "$id" PAUSED 10 || return 1
  $CTR task resume "$id" || return 1
  wait_status "$id" RUNNING 10 || return 1
  $CTR task kill -s KILL "$id" && wait_status "$id" STOPPED || return 1
  $CTR task rm "$id" >/dev/null && $CTR c rm "$id"
}

t_metrics() {
  local id out
  id=$(new_id metrics)
  run -d "$IMG" "$id" sleep 1000 </dev/null || return 1
  wait_status "$id" RUNNING || return 1
  out=$($CTR task metrics "$id") || { log "task metrics failed: $out"; return 1; }
  echo "$out" | grep -q 'memory.usage_in_bytes' || { log "metrics: '$out'"; return 1; }
  $CTR task kill -s KILL "$id" && wait_status "$id" STOPPED || return 1
  $CTR task rm "$id" >/dev/null && $CTR c rm "$id"
}

t_two_in_one_sandbox() {
  local a b out shims
  a=$(new_id poda)
  b=$(new_id podb)
  run -d "$IMG" "$a" sleep 1000 </dev/null || return 1
  wait_status "$a" RUNNING || return 1
  out=$(run --rm --annotation io.kubernetes.cri.container-type=container \
        --annotation "io.kubernetes.cri.sandbox-id=$a" "$IMG" "$b" echo from-second </dev/null)
  [ "$out" = from-second ] || { log "second container output: '$out'"; return 1; }
  shims=$(leftover_pids | grep -- "-socket-fd" | grep -c -- "-id $PREFIX")
  [ "$shims" = 1 ] || { log "$shims shims for one pod: $(leftover_pids)"; return 1; }
  $CTR task kill -s KILL "$a" && wait_status "$a" STOPPED || return 1
  $CTR task rm "$a" >/dev/null && $CTR c rm "$a"
}

t_qemu_killed() {
  local id qpid st
  id=$(new_id qkill)
  run -d "$IMG" "$id" sleep 1000 </dev/null || return 1
  wait_status "$id" RUNNING || return 1
  qpid=$(pgrep -f "qemu.*$id" | head -1)
  [ -n "$qpid" ] || { log "no QEMU process for $id"; return 1; }
  kill -9 "$qpid"
  wait_status "$id" STOPPED 30 || return 1
  st=$($CTR task rm "$id" 2>&1)
  log "task rm after the VM died: $st"
  echo "$st" | grep -q 'exit status 0' && { log "the task ended with status 0"; return 1; }
  $CTR c rm "$id"
}

# Issue 11 item 6: the shim's listening socket must not leak into QEMU; after the shim dies
# its socket refuses connections and `ctr task rm -f` cleans up (before: containerd hung).
t_shim_killed() {
  local id shim qpid inode sock st
  id=$(new_id shimkill)
  run -d "$IMG" "$id" sleep 1000 </dev/null || return 1
  wait_status "$id" RUNNING || return 1
  shim=$(leftover_pids | grep -- "-socket-fd" | grep -- "-id $id" | cut -d: -f1 | head -1)
  qpid=$(pgrep -f "qemu.*$id" | head -1)
  [ -n "$shim" ] && [ -n "$qpid" ] || { log "shim '$shim' or QEMU '$qpid' not found"; return 1; }
  inode=$(readlink "/proc/$shim/fd/3")
  case "$inode" in socket:*) ;; *) log "the shim's fd 3 is '$inode', not its socket"; return 1 ;; esac
  if ls -l "/proc/$qpid/fd" | grep -qF "$inode"; then
    log "QEMU holds the shim's socket $inode: $(ls -l /proc/$qpid/fd | grep -F "$inode")"
    return 1
  fi
  sock=$(shim_socket "$id")
  kill -9 "$shim"
  sleep 0.5
  st=$(timeout 10 python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX)
try:
  s.connect(sys.argv[1]); print("connected")
except OSError as e:
  print(type(e).__name__)' "$sock")
  [ "$st" = ConnectionRefusedError ] || [ "$st" = FileNotFoundError ] ||
    { log "connecting to the dead shim's socket: '$st'"; return 1; }
  # containerd may have cleaned up after the dead shim already (`shim delete`): then the task is
  # not found; either way it must answer, and nothing is left (QEMU included).
  st=$(timeout 120 $CTR task rm -f "$id" 2>&1)
  case "$?:$st" in
    0:* | *"not found"*) ;;
    *) log "task rm -f after the shim died: $st"; return 1 ;;
  esac
  local i
  for i in $(seq 50); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$qpid" 2>/dev/null && { log "QEMU $qpid of the dead shim survived"; return 1; }
  $CTR c rm "$id"
}

# Issue 11 item 14: a stopped (SIGSTOP) VM must not make the pod undeletable.
t_qemu_stopped() {
  local id qpid st start
  id=$(new_id qstop)
  run -d "$IMG" "$id" sleep 1000 </dev/null || return 1
  wait_status "$id" RUNNING || return 1
  qpid=$(pgrep -f "qemu.*$id" | head -1)
  [ -n "$qpid" ] || { log "no QEMU process for $id"; return 1; }
  kill -STOP "$qpid"
  start=$(date +%s)
  st=$(timeout 120 $CTR task rm -f "$id" 2>&1) || { log "task rm -f of a stopped VM: $st"; return 1; }
  log "task rm -f of a stopped VM took $(( $(date +%s) - start )) s"
  kill -0 "$qpid" 2>/dev/null && { log "QEMU $qpid survived"; return 1; }
  $CTR c rm "$id"
}

# entropy_source (default /dev/urandom): the guest has a virtio-rng device and its random pool is
# ready when a container starts, so /dev/random (which waits for that) answers at once.
t_entropy() {
  local id out
  id=$(new_id rng)
  out=$(run --rm "$IMG" "$id" sh -c \
    'cat /sys/class/misc/hw_random/rng_current; timeout 5 head -c 32 /dev/random | wc -c' </dev/null) ||
    { log "ctr run failed: $out"; return 1; }
  [ "$out" = "$(printf 'virtio_rng.0\n32')" ] || { log "output: '$out'"; return 1; }
}

t_device_cgroup() {  # Kata's CVE-2020-2023: mknod works, opening another device does not
  local id out
  id=$(new_id devcg)
  out=$(run --rm --cap-add CAP_MKNOD "$IMG" "$id" sh -c '
    mknod /dev/t c 4 64 && echo mknod-ok; mknod /dev/k c 1 11
    timeout 5 sh -c "echo x > /dev/t" 2>&1 || echo ttyS0-denied
    timeout 5 sh -c "echo x > /dev/k" 2>&1 || echo kmsg-denied
    echo x > /dev/null && echo null-ok; echo "zero $(head -c 3 /dev/zero | wc -c)"' </dev/null)
  log "in the container: $(echo "$out" | tr '\n' '|')"
  local want
  for want in mknod-ok "/dev/t: Operation not permitted" ttyS0-denied \
      "/dev/k: Operation not permitted" kmsg-denied null-ok "zero 3"; do
    echo "$out" | grep -qF -- "$want" || { log "missing: $want"; return 1; }
  done
}

# Issue 11 item 13: several pods at once (each VM its own vsock CID where vhost-vsock exists;
# virtio-serial here): all run, each answers an exec, all are deleted, nothing is left.
t_three_pods() {
  local ids="" id out
  for n in 1 2 3; do
    id=$(new_id "pod$n")
    ids="$ids $id"
    run -d "$IMG" "$id" sleep 1000 </dev/null || return 1
  done
  for id in $ids; do wait_status "$id" RUNNING || return 1; done
  [ "$(pgrep -fc "qemu.*$PREFIX-pod")" = 3 ] || { log "not 3 QEMUs: $(leftover_pids)"; return 1; }
  for id in $ids; do
    out=$($CTR task exec --exec-id x "$id" echo "in-$id" </dev/null)
    [ "$out" = "in-$id" ] || { log "exec in $id: '$out'"; return 1; }
  done
  for id in $ids; do
    $CTR task kill -s KILL "$id" && wait_status "$id" STOPPED || return 1
    $CTR task rm "$id" >/dev/null && $CTR c rm "$id" || return 1
  done
}

# Issue 11 item 12: 100 live processes in one container (a wait and two stdio reads each in
# the agent) and the pod still answers: an exec and a kill each within 30 s (before: ~43
# froze it). Then everything goes away.
t_many_live_execs() {
  local id i n=${E2E_LIVE_EXECS:-100} live=0 start pids="" k=0 out
  id=$(new_id live)
  run -d "$IMG" "$id" sleep 1000 </dev/null || return 1
  wait_status "$id" RUNNING || return 1
  start=$(date +%s)
  for i in $(seq "$n"); do
    timeout 900 $CTR task exec --exec-id "s$i" "$id" sleep 300 </dev/null >/dev/null 2>&1 &
    pids="$pids $!"
  done
  # Until all of them run (counted inside the container); the pod must answer throughout.
  while [ "$live" -lt "$n" ]; do
    [ $(( $(date +%s) - start )) -lt 600 ] || { log "only $live of $n execs run after 600 s"; return 1; }
    sleep 5
    k=$((k + 1))
    out=$(timeout 60 $CTR task exec --exec-id "count$k" "$id" sh -c 'ps | grep -c "[s]leep 300"' </dev/null) ||
      { log "the pod did not answer an exec with $live live execs: '$out'"; return 1; }
    live=$out
    log "$live of $n execs live after $(( $(date +%s) - start )) s"
  done
  start=$(date +%s%N)
  out=$(timeout 30 $CTR task exec --exec-id ok "$id" echo ok </dev/null)
  log "exec with $n live execs: '$out' in $(( ($(date +%s%N) - start) / 1000000 )) ms"
  [ "$out" = ok ] || { log "exec with $n live execs did not answer within 30 s"; return 1; }
  start=$(date +%s%N)
  timeout 30 $CTR task kill -s KILL "$id" || { log "kill did not answer within 30 s"; return 1; }
  log "kill answered in $(( ($(date +%s%N) - start) / 1000000 )) ms"
  wait_status "$id" STOPPED 120 || return 1
  for i in $pids; do wait "$i"; done  # each ctr exec returns once its exit is published
  $CTR task rm "$id" >/dev/null && $CTR c rm "$id"
}


# Issue 13: an OOM kill in the guest reaches containerd as /tasks/oom (TaskOOM) for the
# container (containerd's CRI turns it into the reason OOMKilled); the process exits 137.
t_oom() {
  local id ev_pid st
  id=$(new_id oom)
  $CTR events >"$T/events" 2>&1 &
  ev_pid=$!
  run -d --memory-limit 33554432 "$IMG" "$id" dd if=/dev/zero of=/dev/null bs=100M count=1 \
    </dev/null || { kill $ev_pid; return 1; }
  wait_status "$id" STOPPED 120 || { kill $ev_pid; return 1; }
  st=$($CTR task ls | awk -v id="$id" '$1 == id {print $3}')
  local i
  for i in $(seq 50); do grep -q "/tasks/oom.*$id" "$T/events" && break; sleep 0.1; done
  kill $ev_pid; wait $ev_pid 2>/dev/null
  log "events: $(grep -F "$id" "$T/events" | grep -o '/tasks/[a-z-]*' | tr '\n' ' ')"
  grep -q "/tasks/oom.*\"container_id\":\"$id\"" "$T/events" || { log "no /tasks/oom for $id"; return 1; }
  grep -q "/tasks/exit.*\"container_id\":\"$id\".*\"exit_status\":137" "$T/events" \
    || { log "no exit 137 for $id"; return 1; }
  $CTR task rm "$id" >/dev/null && $CTR c rm "$id"
}

# Issue 13: a pod sandbox asking 512 MiB and 2 CPUs (containerd CRI's sizing annotations)
# gets a VM of default_memory + 512 MiB and default_vcpus + 2 vCPUs (default_maxvcpus = 4).
t_pod_size() {
  local id out cpus mem_kib
  id=$(new_id size)
  out=$(run --rm --annotation io.kubernetes.cri.container-type=sandbox \
        --annotation "io.kubernetes.cri.sandbox-id=$id" \
        --annotation io.kubernetes.cri.sandbox-memory=536870912 \
        --annotation io.kubernetes.cri.sandbox-cpu-quota=200000 \
        --annotation io.kubernetes.cri.sandbox-cpu-period=100000 \
        --annotation io.kubernetes.cri.sandbox-cpu-shares=2048 \
        "$IMG" "$id" sh -c 'nproc; grep MemTotal /proc/meminfo' </dev/null)
  log "in the guest: $(echo "$out" | tr '\n' '|')"
  cpus=$(echo "$out" | head -1)
  mem_kib=$(echo "$out" | awk '/MemTotal/ {print $2}')
  [ "$cpus" = 3 ] || { log "nproc $cpus, want 3 (1 + 2)"; return 1; }
  # 512 + 512 MiB of RAM, less what the guest kernel keeps: within (896, 1024] MiB.
  [ -n "$mem_kib" ] && [ "$mem_kib" -gt $((896 * 1024)) ] && [ "$mem_kib" -le $((1024 * 1024)) ] \
    || { log "MemTotal $mem_kib kB, want about 1024 MiB"; return 1; }
}

# Issue 13: shareProcessNamespace. Containers whose pid namespace has a path (containerd's CRI
# gives them the pause container's) share the pod's PID namespace in the guest and see each
# other's processes; a container without one does not.
t_shared_pidns() {
  local pod a b c out pod_ann
  pod=$(new_id pidpod)
  a=$(new_id pida)
  b=$(new_id pidb)
  c=$(new_id pidc)
  run -d "$IMG" "$pod" sleep 1000 </dev/null || return 1
  wait_status "$pod" RUNNING || return 1
  pod_ann="--annotation io.kubernetes.cri.container-type=container --annotation io.kubernetes.cri.sandbox-id=$pod"
  run -d $pod_ann --with-ns pid:/proc/1/ns/pid "$IMG" "$a" sleep 777 </dev/null || return 1
  wait_status "$a" RUNNING || return 1
  out=$(run --rm $pod_ann --with-ns pid:/proc/1/ns/pid "$IMG" "$b" ps -o args </dev/null)
  echo "$out" | grep -qx "sleep 777" || { log "shared: no 'sleep 777' in: $(echo "$out" | tr '\n' '|')"; return 1; }
  out=$(run --rm $pod_ann "$IMG" "$c" ps -o args </dev/null)
  echo "$out" | grep -q "sleep 777" && { log "own pid ns sees: $(echo "$out" | tr '\n' '|')"; return 1; }
  $CTR task kill -s KILL "$a" && wait_status "$a" STOPPED || return 1
  $CTR task rm "$a" >/dev/null && $CTR c rm "$a" || return 1
  $CTR task kill -s KILL "$pod" && wait_status "$pod" STOPPED || return 1
  $CTR task rm "$pod" >/dev/null && $CTR c rm "$pod"
}

# Issue 11 item 4: a privileged container floods the guest's console (hvc0, virtio-console)
# with 100 MiB; the host's console.log, rotated at console_log_max_bytes (1 MiB by default),
# never holds more than the cap, and the flood does not stall the pod. NUL bytes, no lines:
# with a newline every 57 bytes the tty's ONLCR turns each line into two virtqueue kicks, and
# TCG moves only ~0.25 MiB/s (a 7-minute case); the cap is the same either way.
t_console_flood() {
  local id out start dir f size cap=$((1 << 20))
  id=$(new_id flood)
  run -d --privileged "$IMG" "$id" sleep 1000 </dev/null || return 1
  wait_status "$id" RUNNING || return 1
  dir=/run/vc/vm/$id
  # Before the flood: the console shows the agent's start (on hvc0; with a kernel whose
  # virtio_console is a module, on the UART until it is loaded).
  local want
  for want in 'msg="init step" step=mounts' 'msg=serving'; do
    grep -qaF -- "$want" "$dir/console.log" ||
      { log "console.log lacks '$want': $(head -c 2000 "$dir/console.log")"; return 1; }
  done
  start=$(date +%s%N)
  out=$(timeout 600 $CTR task exec --exec-id flood "$id" sh -c '
    [ -c /dev/hvc0 ] || mknod /dev/hvc0 c 229 0
    dd if=/dev/zero bs=64k count=1600 2>/dev/null >/dev/hvc0 && echo flood-done' </dev/null 2>&1)
  log "100 MiB to the console in $(( ($(date +%s%N) - start) / 1000000 )) ms: $out"
  echo "$out" | grep -qx flood-done || return 1
  for f in "$dir/console.log" "$dir/console.log.1"; do
    size=$(stat -c %s "$f") || { log "no $f"; return 1; }
    log "$f: $size bytes, mode $(stat -c %a "$f")"
    [ "$size" -le $cap ] || { log "$f is over the cap ($cap)"; return 1; }
  done
  # The console drops what the host cannot take at once (QEMU's virtconsole never stalls the
  # guest), so a line written right after the flood may be lost: it must get through soon.
  local i
  for i in $(seq 20); do
    $CTR task exec --exec-id "mark$i" "$id" sh -c 'echo kata-console-after-flood >/dev/hvc0' \
      </dev/null
    sleep 0.5
    grep -qa kata-console-after-flood "$dir/console.log" && break
  done
  grep -qa kata-console-after-flood "$dir/console.log" ||
    { log "nothing written after the flood reaches console.log"; return 1; }
  out=$($CTR task exec --exec-id after "$id" echo still-answers </dev/null) &&
    [ "$out" = still-answers ] || { log "exec after the flood: '$out'"; return 1; }
  $CTR task kill -s KILL "$id" && wait_status "$id" STOPPED || return 1
  $CTR task rm "$id" >/dev/null && $CTR c rm "$id"
}

# Issue 13: the pod's host cgroup (ctr run --cgroup = linux.cgroupsPath): QEMU and the shim
# (its parent) run in it while the pod runs; it is gone with the pod.
t_pod_cgroup() {
  local id rel dir qpid spid list
  id=$(new_id cg)
  rel="kata-e2e-$PREFIX/pod"
  if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    dir=/sys/fs/cgroup/$rel list=cgroup.procs  # v2
  else
    dir=/sys/fs/cgroup/memory/$rel list=tasks  # v1
  fi
  run -d --cgroup "/$rel" "$IMG" "$id" sleep 1000 </dev/null || return 1
  wait_status "$id" RUNNING || return 1
  qpid=$(pgrep -f "qemu.*$id" | head -1)
  spid=$(ps -o ppid= -p "$qpid" | tr -d ' ')
  log "QEMU $qpid, shim $spid; $dir/$list: $(tr '\n' ' ' < "$dir/$list" 2>&1 | cut -c1-200)"
  grep -qx "$qpid" "$dir/$list" || { log "QEMU $qpid not in $dir"; return 1; }
  grep -qx "$spid" "$dir/$list" || { log "shim $spid not in $dir"; return 1; }
  $CTR task kill -s KILL "$id" && wait_status "$id" STOPPED || return 1
  $CTR task rm "$id" >/dev/null && $CTR c rm "$id" || return 1
  for i in $(seq 50); do [ -e "${dir%/pod}" ] || break; sleep 0.1; done
  [ -e "${dir%/pod}" ] && { log "left cgroup ${dir%/pod}"; return 1; }
  return 0
}

[ -n "${E2E_ONLY:-}" ] && log "only the cases matching '$E2E_ONLY'"
check "run --rm echo hello" t_hello
check "exit code 3 and stderr" t_exit_code
check "stdin to cat, EOF reaches the process" t_stdin
check "20000 lines, none lost at exit" t_big_output
check "-t tty" t_tty
check "--log-uri binary://: the logging binary gets stdout/stderr, then EOF" t_binary_log
check "detached, exec, ps, kill TERM/KILL, delete" t_detached_exec_kill
check "pause/resume" t_pause_resume
check "task metrics" t_metrics
check "two containers in one sandbox" t_two_in_one_sandbox
if [ "$MODE" = vm ]; then
  check "read-only rootfs, read-only and read-write volumes" t_volumes
  check "QEMU killed from outside" t_qemu_killed
  check "device cgroup: mknod of ttyS0/kmsg, open EPERM" t_device_cgroup
  check "entropy_source: virtio-rng in the guest, /dev/random ready" t_entropy
  check "shim killed: its socket refuses, task rm -f cleans up" t_shim_killed
  check "QEMU stopped (SIGSTOP): task rm -f cleans up" t_qemu_stopped
  check "three pods at once: all run, exec into each, all deleted" t_three_pods
  # Long under TCG: only in e2e_vm_load_test.
  [ "${E2E_ONLY:-}" = t_many_live_execs ] &&
    check "100 live execs: exec and kill still answer within 30 s" t_many_live_execs
  check "OOM kill: /tasks/oom for the container, exit 137" t_oom
  check "pod sizing: 512 MiB and 2 CPUs more in the guest" t_pod_size
  check "shareProcessNamespace: pod containers see each other's processes" t_shared_pidns
  check "100 MiB to the console from a privileged container: console.log under its cap" \
    t_console_flood
  check "pod cgroup: QEMU and the shim in it, gone with the pod" t_pod_cgroup
fi

log "$PASSED passed, $FAILED failed ($MODE)"
[ $FAILED -eq 0 ]
