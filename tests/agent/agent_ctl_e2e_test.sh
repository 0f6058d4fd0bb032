#!/bin/bash
# kata-agent (as a host process on a unix socket) driven by agent-ctl, the two real
# binaries: health, version, a real method, an unimplemented one, then SIGTERM; then a second
# agent runs one busybox container by hand, as the runtime would: CreateSandbox (a bind
# storage stands in for the 9p share), CreateContainer with root.path in the share,
# StartContainer, ReadStdout to EOF, WaitProcess, DestroySandbox, after which the agent ends
# by itself. Needs root (mounts, namespaces, cgroups).
set -euo pipefail
agent="$1"
ctl="$2"
dir="$(mktemp -d /tmp/kagent.XXXXXX)"
pid=""
cg="kata-agentctl-e2e-$$"
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  for m in $(grep -o " $dir[^ ]*" /proc/self/mountinfo | sort -r); do umount -l "$m" || true; done
  for d in /sys/fs/cgroup/*/"$cg" /sys/fs/cgroup/"$cg"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$dir/agent.log" ] && sed 's/^/  agent: /' "$dir/agent.log"; exit 1; }

addr="unix://$dir/agent.sock"
"$agent" --server-addr "$addr" --log-level debug 2> "$dir/agent.log" &
pid=$!

out="$("$ctl" --addr "$addr" --timeout 5s check)" || fail "check: $out"
echo "$out" | grep -q SERVING || fail "check printed: $out"

out="$("$ctl" --addr "$addr" version)" || fail "version: $out"
echo "$out" | grep -q '"agent_version"' || fail "version printed: $out"

out="$("$ctl" --addr "$addr" call GetGuestDetails '{"mem_block_size": true}')" || fail "GetGuestDetails: $out"
echo "$out" | grep -q '"agent_details"' || fail "GetGuestDetails printed: $out"

set +e
out="$("$ctl" --addr "$addr" call MemAgentMemcgSet '{}' 2>&1)"
code=$?
set -e
[ "$code" = 1 ] || fail "MemAgentMemcgSet: exit $code, expected 1: $out"
echo "$out" | grep -q "UNIMPLEMENTED" || fail "MemAgentMemcgSet printed: $out"

kill -TERM "$pid"
for _ in $(seq 1 50); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then fail "kata-agent still running 5 s after SIGTERM"; fi
wait "$pid" || fail "kata-agent exited with $?"
pid=""
grep -q "level=" "$dir/agent.log" || fail "no structured log lines"
echo "PASS: check, version, GetGuestDetails, MemAgentMemcgSet=UNIMPLEMENTED, SIGTERM"

# --- one container by hand ---
[ "$(id -u)" = 0 ] || fail "the container part needs root"
rootfs="$dir/share/c1/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/dev" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for a in sh echo cat hostname; do ln -s busybox "$rootfs/bin/$a"; done
shared="$dir/run/shared/containers"
"$agent" --server-addr "$addr" --log-level debug 2> "$dir/agent2.log" &
pid=$!
call() { "$ctl" --addr "$addr" --timeout 20s call "$@"; }

out="$(call CreateSandbox "{\"hostname\": \"pod1\", \"sandbox_id\": \"sb1\",
  \"storages\": [{\"driver\": \"bind\", \"source\": \"$dir/share\",
                   \"mount_point\": \"$shared\"}]}" 2>&1)" || fail "CreateSandbox: $out"
grep -q " $shared " /proc/self/mountinfo || fail "the sandbox storage is not mounted"

out="$(call CreateContainer "{\"container_id\": \"c1\", \"exec_id\": \"c1\",
  \"OCI\": {\"Version\": \"1.0.2\",
    \"Process\": {\"Args\": [\"sh\", \"-c\", \"echo hello from \$(hostname); exit 3\"],
                  \"Env\": [\"PATH=/bin\"], \"Cwd\": \"/\"},
    \"Root\": {\"Path\": \"$shared/c1/rootfs\"},
    \"Mounts\": [{\"destination\": \"/proc\", \"source\": \"proc\", \"type\": \"proc\"}],
    \"Linux\": {\"CgroupsPath\": \"/$cg/c1\",
      \"Namespaces\": [{\"Type\": \"mount\"}, {\"Type\": \"uts\"}, {\"Type\": \"ipc\"}]}}}" 2>&1)" \
  || fail "CreateContainer: $out"
out="$(call StartContainer '{"container_id": "c1"}' 2>&1)" || fail "StartContainer: $out"

stdout=""
for _ in $(seq 1 20); do
  set +e
  out="$(call ReadStdout '{"container_id": "c1", "exec_id": "c1", "len": 4096}' 2>&1)"
  code=$?
  set -e
  if [ "$code" != 0 ]; then
    echo "$out" | grep -q "OUT_OF_RANGE" || fail "ReadStdout: $out"
    break
  fi
  data="$(echo "$out" | sed -n 's/.*"data": "\(.*\)".*/\1/p')"
  stdout="$stdout$(echo "$data" | base64 -d)"
done
[ "$stdout" = "hello from pod1" ] || fail "container stdout: '$stdout'"

out="$(call WaitProcess '{"container_id": "c1", "exec_id": "c1"}' 2>&1)" || fail "WaitProcess: $out"
echo "$out" | grep -q '"status": 3' || fail "WaitProcess printed: $out"

out="$(call DestroySandbox '{}' 2>&1)" || fail "DestroySandbox: $out"
for _ in $(seq 1 50); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then fail "kata-agent still running 5 s after DestroySandbox"; fi
wait "$pid" || fail "kata-agent exited with $? after DestroySandbox"
pid=""
grep -q "sandbox destroyed" "$dir/agent2.log" || fail "no 'sandbox destroyed' in the log"
if grep -q " $dir" /proc/self/mountinfo; then fail "mounts left behind"; fi
for d in /sys/fs/cgroup/*/"$cg"/c1 /sys/fs/cgroup/"$cg"/c1; do
  [ -d "$d" ] && fail "cgroup $d left behind"
done
echo "PASS: CreateSandbox, CreateContainer, StartContainer, ReadStdout, WaitProcess, DestroySandbox"
