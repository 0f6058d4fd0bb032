#!/bin/bash
# kata-agent (as a host process on a unix socket) driven by agent-ctl, the two real
# binaries: health, version, a real method, an unimplemented one, then SIGTERM.
set -euo pipefail
agent="$1"
ctl="$2"
dir="$(mktemp -d /tmp/kagent.XXXXXX)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
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
