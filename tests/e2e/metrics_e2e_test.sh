#!/bin/bash
# End-to-end metrics (issue 15): a private containerd runs a busybox container in a QEMU VM
# through containerd-shim-kata-v2; its shim serves /run/vc/sbs/<sid>/shim-monitor.sock (0600),
# `kata-runtime metrics <sid>` prints it, and Prometheus's own parser (expfmt, Go, built here
# offline: promcheck/main.go) reads it: the shim's, QEMU's, the agent's, the guest's and the
# container's series are there, and the container's CPU counter and the guest's CPU time move
# when the container burns CPU (dd for 2 s). An unknown or malformed sandbox id is a clear
# error; after removal the socket and its directory are gone.
#
# usage: metrics_e2e_test.sh SHIM IMAGE_BUILDER [GUEST_IMAGE_FILES...]     (root)
#   env: KATA_E2E_KATA_RUNTIME (kata-runtime), KATA_E2E_PROMCHECK (promcheck/main.go)
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib/containerd.sh"

SHIM=$(readlink -f "$1")
BUILDER=$(readlink -f "$2")
shift 2
KATA_RUNTIME=$(readlink -f "${KATA_E2E_KATA_RUNTIME:?}")
PROMCHECK_SRC=$(readlink -f "${KATA_E2E_PROMCHECK:?}")
GUEST_KERNEL=/usr/share/kata-containers/vmlinux.container
GUEST_INITRD=/usr/share/kata-containers/kata-containers-initrd.img
for f in "$@"; do
  case "$f" in
    *vmlinux.container) GUEST_KERNEL=$(readlink -f "$f") ;;
    *.img) GUEST_INITRD=$(readlink -f "$f") ;;
  esac
done
IMG=docker.io/library/busybox:kata-e2e
ID="met$$"
FAILED=0

log() { echo "[metrics-e2e $(date +%T.%N | cut -c1-12)] $*"; }
die() { log "FATAL: $*"; exit 1; }
fail() { log "FAIL: $*"; FAILED=$((FAILED + 1)); }

[ "$(id -u)" = 0 ] || die "must run as root (containerd, VMs)"
for tool in containerd ctr python3 go; do
  command -v "$tool" >/dev/null || die "$tool is missing (tools/setup installs it)"
done
[ -d /usr/share/gocode/src/github.com/prometheus/common/expfmt ] ||
  die "no Go expfmt (Debian package golang-github-prometheus-common-dev; tools/setup installs it)"

# One VM test at a time on this machine, whichever checkout runs it.
exec 9>/tmp/kata-e2e.lock
flock 9

T=$(mktemp -d /tmp/kmet.XXXXXX)
CTR="ctr -a $T/c.sock"

cleanup() {
  local rc=$?
  set +e
  containerd_stop
  pkill -9 -f -- "qemu.*$ID" 2>/dev/null
  rm -rf /run/kata-containers/shared/sandboxes/"$ID" /run/vc/vm/"$ID" /run/vc/sbs/"$ID"
  if [ $rc -ne 0 ] && [ -f "$T/containerd.log" ]; then
    log "containerd log (last 60 lines):"
    tail -60 "$T/containerd.log"
  fi
  containerd_cleanup "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prometheus's parser, offline, in GOPATH mode against Debian's packages.
mkdir -p "$T/gopath/src/katacpp/promcheck"
cp -L "$PROMCHECK_SRC" "$T/gopath/src/katacpp/promcheck/main.go"
HOME=$T GOCACHE=$T/gocache GO111MODULE=off GOFLAGS= GOPROXY=off \
  GOPATH="/usr/share/gocode:$T/gopath" go build -o "$T/promcheck" katacpp/promcheck ||
  die "building promcheck"
PROMCHECK=$T/promcheck

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
TOML
export KATA_CONF_FILE=$T/configuration.toml
containerd_start "$T" || die "containerd did not come up"
python3 "$BUILDER" "$T/busybox.tar" "$IMG" >/dev/null || die "building the busybox image"
$CTR images import "$T/busybox.tar" >/dev/null || die "importing the busybox image"

wait_status() {  # id status
  local i
  for i in $(seq 600); do
    $CTR task ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}' | grep -qx "$2" && return 0
    sleep 0.1
  done
  log "task $1 did not reach $2"
  return 1
}
# scrape FILE: kata-runtime metrics into FILE, checked by Prometheus's parser.
scrape() {
  "$KATA_RUNTIME" metrics "$ID" > "$1" 2> "$1.err" || { cat "$1.err"; return 1; }
  "$PROMCHECK" < "$1" > /dev/null
}
val() { "$PROMCHECK" "$2" < "$1"; }  # val FILE QUERY
guest_cpu_ms() {  # user + system of the guest, all CPUs
  local u s
  u=$(val "$1" 'kata_guest_cpu_time{cpu=total,item=user}') || return 1
  s=$(val "$1" 'kata_guest_cpu_time{cpu=total,item=system}') || return 1
  awk -v u="$u" -v s="$s" 'BEGIN { print u + s }'
}

timeout 300 $CTR run --runtime "$SHIM" -d "$IMG" "$ID" sleep 1000 </dev/null || die "ctr run"
wait_status "$ID" RUNNING || die "the container does not run"

SOCK=/run/vc/sbs/$ID/shim-monitor.sock
[ -S "$SOCK" ] || fail "no management socket $SOCK"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "$SOCK is mode $(stat -c %a "$SOCK"), not 600"
[ "$(stat -c %a "$(dirname "$SOCK")")" = 700 ] || fail "$(dirname "$SOCK") is not 0700"

scrape "$T/m1" || die "the first scrape does not parse"
log "first scrape: $(wc -l < "$T/m1") lines, $("$PROMCHECK" < "$T/m1")"
for q in kata_shim_threads kata_shim_process_resident_memory_bytes kata_hypervisor_threads \
  kata_hypervisor_fds 'kata_hypervisor_proc_status{item=vmrss}' kata_agent_threads \
  kata_agent_process_resident_memory_bytes 'kata_guest_meminfo{item=mem_total}' \
  'kata_guest_load{item=load1}' "kata_container_memory_usage_bytes{container_id=$ID}" \
  "kata_container_pids_current{container_id=$ID}"; do
  v=$(val "$T/m1" "$q") || { fail "no $q"; continue; }
  log "  $q = $v"
done
[ "$(val "$T/m1" kata_shim_scrape_errors)" = 0 ] || fail "scrape errors: $(grep -v '^kata' "$T/m1" | grep left)"
qpid=$(pgrep -f "qemu.*$ID" | head -1)
q_threads=$(awk '/^Threads:/ {print $2}' "/proc/$qpid/status")
log "  QEMU pid $qpid has $q_threads threads; metrics say $(val "$T/m1" kata_hypervisor_threads)"

c1=$(val "$T/m1" "kata_container_cpu_usage_seconds_total{container_id=$ID}") || fail "no container cpu"
g1=$(guest_cpu_ms "$T/m1") || fail "no guest cpu"
timeout 120 $CTR task exec --exec-id burn "$ID" sh -c \
  'dd if=/dev/zero of=/dev/null bs=64k & p=$!; sleep 2; kill $p' </dev/null ||
  fail "the burning exec failed"
scrape "$T/m2" || fail "the second scrape does not parse"
c2=$(val "$T/m2" "kata_container_cpu_usage_seconds_total{container_id=$ID}")
g2=$(guest_cpu_ms "$T/m2")
log "container cpu $c1 -> $c2 s, guest cpu (user+system) $g1 -> $g2 ms"
awk -v a="$c1" -v b="$c2" 'BEGIN { exit !(b - a >= 0.5) }' ||
  fail "the container's CPU counter did not move by 0.5 s ($c1 -> $c2)"
awk -v a="$g1" -v b="$g2" 'BEGIN { exit !(b - a >= 500) }' ||
  fail "the guest's CPU time did not move by 500 ms ($g1 -> $g2)"
a1=$(val "$T/m1" kata_agent_scrape_count)
a2=$(val "$T/m2" kata_agent_scrape_count)
awk -v a="$a1" -v b="$a2" 'BEGIN { exit !(b > a) }' || fail "the agent's scrape count did not move"

# Clear errors.
out=$("$KATA_RUNTIME" metrics "nosuch$ID" 2>&1) && fail "an unknown sandbox succeeded"
echo "$out" | grep -q "no sandbox nosuch$ID" || fail "unknown sandbox: $out"
out=$("$KATA_RUNTIME" metrics "../$ID" 2>&1) && fail "a bad id succeeded"
echo "$out" | grep -q "not a plain name" || fail "bad id: $out"

$CTR task kill -s KILL "$ID" >/dev/null 2>&1
wait_status "$ID" STOPPED
timeout 120 $CTR task rm -f "$ID" >/dev/null 2>&1
$CTR c rm "$ID" >/dev/null 2>&1
for i in $(seq 100); do [ -e "/run/vc/sbs/$ID" ] || break; sleep 0.1; done
[ -e "/run/vc/sbs/$ID" ] && fail "/run/vc/sbs/$ID is left after removal"

if [ "$FAILED" -ne 0 ]; then
  log "$FAILED check(s) failed"
  exit 1
fi
log "all metrics checks passed"
