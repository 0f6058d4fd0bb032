#!/bin/bash
# End-to-end tracing (issue 14): a private containerd runs `ctr run --rm` of a busybox container
# in a QEMU VM through containerd-shim-kata-v2 with [runtime] enable_tracing = true and a
# file:// tracing_endpoint. The file then holds OTLP/JSON export requests whose spans are all
# in one trace, every parent is in the file, every step of the start path and the teardown is
# there (shim start, config, VM start, QMP ready, agent dial, CreateSandbox, CreateContainer,
# StartContainer, Wait, DeleteContainer, shutdown, VM stop), children lie inside their
# parents' time, and `kata-runtime trace FILE` prints it as a waterfall. With [agent.kata]
# enable_tracing too, the agent's spans (its boot, every traced rpc, the container create's
# steps) come over the VM's "agent.trace" port into the same trace: each agent rpc span is the
# child of the shim's client span of that call, the boot the child of sandbox.start, and the
# waterfall shows them in one tree. With tracing off (the default) no file is written and QEMU
# has no trace port.
#
# usage: trace_e2e_test.sh SHIM IMAGE_BUILDER [GUEST_IMAGE_FILES...]     (root)
#   env: KATA_RUNTIME (kata-runtime)
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib/containerd.sh"

SHIM=$(readlink -f "$1")
BUILDER=$(readlink -f "$2")
shift 2
KATA_RUNTIME=$(readlink -f "${KATA_RUNTIME:?}")
GUEST_KERNEL=/usr/share/kata-containers/vmlinux.container
GUEST_INITRD=/usr/share/kata-containers/kata-containers-initrd.img
for f in "$@"; do
  case "$f" in
    *vmlinux.container) GUEST_KERNEL=$(readlink -f "$f") ;;
    *.img) GUEST_INITRD=$(readlink -f "$f") ;;
  esac
done
IMG=docker.io/library/busybox:kata-e2e
ID="trc$$"
FAILED=0

log() { echo "[trace-e2e $(date +%T.%N | cut -c1-12)] $*"; }
die() { log "FATAL: $*"; exit 1; }
fail() { log "FAIL: $*"; FAILED=$((FAILED + 1)); }

[ "$(id -u)" = 0 ] || die "must run as root (containerd, VMs)"
for tool in containerd ctr python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (tools/setup installs it)"
done

# One VM test at a time on this machine, whichever checkout runs it.
exec 9>/tmp/kata-e2e.lock
flock 9

T=$(mktemp -d /tmp/ktrc.XXXXXX)
CTR="ctr -a $T/c.sock"

cleanup() {
  local rc=$?
  set +e
  containerd_stop
  pkill -9 -f -- "qemu.*$ID" 2>/dev/null
  rm -rf /run/kata-containers/shared/sandboxes/"$ID"* /run/vc/vm/"$ID"* /run/vc/sbs/"$ID"*
  if [ $rc -ne 0 ] && [ -f "$T/containerd.log" ]; then
    log "containerd log (last 60 lines):"
    tail -60 "$T/containerd.log"
  fi
  containerd_cleanup "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

AGENT_TRACING=false
write_config() {  # tracing lines...
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
enable_tracing = $AGENT_TRACING

[runtime]
$*
TOML
}
export KATA_CONF_FILE=$T/configuration.toml
containerd_start "$T" || die "containerd did not come up"
python3 "$BUILDER" "$T/busybox.tar" "$IMG" >/dev/null || die "building the busybox image"
$CTR images import "$T/busybox.tar" >/dev/null || die "importing the busybox image"

# Off (the default): nothing is written.
write_config "tracing_endpoint = \"file://$T/off.jsonl\""
out=$(timeout 300 $CTR run --rm --runtime "$SHIM" "$IMG" "${ID}off" echo off </dev/null 2>&1)
[ "$out" = off ] || fail "tracing off: ctr run printed: $out"
[ -e "$T/off.jsonl" ] && fail "tracing off wrote $T/off.jsonl"

# On, the agent's too: one ctr run --rm.
AGENT_TRACING=true
TRACE=$T/trace.jsonl
write_config "enable_tracing = true" "
tracing_endpoint = \"file://$TRACE\""
out=$(timeout 300 $CTR run --rm --runtime "$SHIM" "$IMG" "$ID" echo traced </dev/null 2>&1)
[ "$out" = traced ] || fail "tracing on: ctr run printed: $out"
for i in $(seq 100); do [ -s "$TRACE" ] && break; sleep 0.1; done  # the shim exports as it ends
[ -s "$TRACE" ] || die "no trace file $TRACE"

python3 - "$TRACE" "$ID" <<'PY' || fail "the trace file's checks"
import json, sys
path, sid = sys.argv[1], sys.argv[2]
spans = []
for n, line in enumerate(open(path), 1):
    req = json.loads(line)
    for rs in req["resourceSpans"]:
        svc = [a["value"]["stringValue"] for a in rs["resource"]["attributes"] if a["key"] == "service.name"][0]
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                s["service"] = svc
                spans.append(s)
bad = []
ids = {s["spanId"]: s for s in spans}
traces = {s["traceId"] for s in spans}
if len(traces) != 1: bad.append("%d trace ids: %s" % (len(traces), traces))
for s in spans:
    for k in ("traceId", "spanId"):
        if len(s[k]) != {"traceId": 32, "spanId": 16}[k] or s[k] != s[k].lower():
            bad.append("%s: %s %r is not lowercase hex" % (s["name"], k, s[k]))
    if not isinstance(s["startTimeUnixNano"], str): bad.append(s["name"] + ": start is not a string")
    st, en = int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])
    if en < st: bad.append(s["name"] + ": ends before it starts")
    p = s.get("parentSpanId", "")
    if p:
        if p not in ids: bad.append("%s: parent %s is not in the file" % (s["name"], p)); continue
        q = ids[p]
        # A child lies in its parent's time (the agent's clock is the guest's: 50 ms slack).
        slack = 50_000_000 if s["service"] != q["service"] else 0
        if st + slack < int(q["startTimeUnixNano"]) or en - slack > int(q["endTimeUnixNano"]):
            bad.append("%s is not inside its parent %s" % (s["name"], q["name"]))
roots = [s for s in spans if not s.get("parentSpanId")]
if [r["name"] for r in roots] != ["containerd-shim-kata-v2"]:
    bad.append("roots: %s" % [r["name"] for r in roots])
names = {s["name"] for s in spans}
want = ["shim.start", "task.Create", "config.load", "sandbox.start", "vm.start", "qemu.spawn",
        "qmp.ready", "agent.dial", "agent.CreateSandbox", "container.share",
        "agent.CreateContainer", "task.Start", "agent.StartContainer", "task.Wait",
        "task.Delete", "agent.RemoveContainer", "task.Shutdown", "sandbox.shutdown", "vm.stop",
        "qemu.stop"]
for w in want:
    if w not in names: bad.append("no span " + w)
def parent_name(n):
    s = [x for x in spans if x["name"] == n]
    return ids[s[0]["parentSpanId"]]["name"] if s and s[0].get("parentSpanId") in ids else None
for child, parent in [("agent.CreateSandbox", "sandbox.start"), ("qmp.ready", "vm.start"),
                      ("vm.start", "sandbox.start"), ("agent.CreateContainer", "task.Create"),
                      ("agent.StartContainer", "task.Start"), ("task.Create", "containerd-shim-kata-v2")]:
    if parent_name(child) != parent: bad.append("%s's parent is %s, not %s" % (child, parent_name(child), parent))
for s in spans:
    if s["name"] == "agent.CreateContainer" and s.get("kind") != 3: bad.append("agent.CreateContainer is not a client span")
# The agent's spans: in the same trace (checked above for all), each rpc's parent the shim's
# client span of that call, the boot under sandbox.start, the create's steps under its rpc.
agent = [s for s in spans if s["service"] == "kata-agent"]
if not agent: bad.append("no span of the agent (service kata-agent)")
for child, parent in [("grpc.AgentService/CreateSandbox", "agent.CreateSandbox"),
                      ("grpc.AgentService/CreateContainer", "agent.CreateContainer"),
                      ("grpc.AgentService/StartContainer", "agent.StartContainer"),
                      ("agent.init", "sandbox.start"), ("init.mounts", "agent.init"),
                      ("agent.start", "agent.init"),
                      ("container.storages", "grpc.AgentService/CreateContainer"),
                      ("container.create", "grpc.AgentService/CreateContainer"),
                      ("container.init_setup", "container.create")]:
    if parent_name(child) != parent: bad.append("%s's parent is %s, not %s" % (child, parent_name(child), parent))
for s in agent:
    if s["name"].startswith("grpc.") and s.get("kind") != 2: bad.append(s["name"] + " is not a server span")
if not any({"key": "sandbox.id", "value": {"stringValue": sid}} in r.get("attributes", []) for r in roots):
    bad.append("the root span does not name sandbox " + sid)
for b in bad: print("trace check: " + b)
print("trace: %d spans, services %s" % (len(spans), sorted({s["service"] for s in spans})))
sys.exit(1 if bad else 0)
PY

"$KATA_RUNTIME" trace "$TRACE" > "$T/waterfall.txt" 2> "$T/waterfall.err" ||
  fail "kata-runtime trace: $(cat "$T/waterfall.err")"
cat "$T/waterfall.txt"
grep -q "^trace [0-9a-f]\{32\}: " "$T/waterfall.txt" || fail "no waterfall header"
grep -q "containerd-shim-kata-v2 " "$T/waterfall.txt" || fail "no root line in the waterfall"
grep -q "^ .*  *qmp.ready " "$T/waterfall.txt" || fail "no qmp.ready line in the waterfall"
grep -q "^ .*  *grpc.AgentService/CreateContainer " "$T/waterfall.txt" ||
  fail "no agent rpc line in the waterfall"
grep -q "^ .*  *container.init_setup " "$T/waterfall.txt" ||
  fail "no container create step in the waterfall"

if [ "$FAILED" -ne 0 ]; then
  log "$FAILED check(s) failed"
  exit 1
fi
log "all trace checks passed"
