#!/bin/bash
# kata-agent size and memory (issue 4): the stripped binary size, and the agent's RSS idle
# and while it runs 10 busybox containers (`sleep`), read from /proc/PID/status (VmRSS; VmHWM
# is the peak).
#
#   tools/bench/agent_size.sh            # as root, from the workspace
#
# The binary: the static guest build (`bazel build --config=guest-x86_64
# //src/agent:kata-agent`) when the workspace defines that config; otherwise the host build
# with -c opt, which is dynamically linked and labelled so. Goal: < 3 MB stripped static,
# < 3 MB RSS idle (Kata's Rust agent: ~23 MB stripped).
# Needs: root (containers), bazel, /bin/busybox (busybox-static), strip (binutils).
set -euo pipefail

die() { echo "agent_size.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the 10 containers need namespaces, mounts, cgroups)"
[ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"
command -v strip >/dev/null || die "strip missing (apt-get install binutils)"
cd "$(dirname "$0")/../.."

kind=""
if bazel build --config=guest-x86_64 //src/agent:kata-agent >/tmp/agent_size.build.log 2>&1; then
  bin="$(bazel info --config=guest-x86_64 bazel-bin 2>/dev/null)/src/agent/kata-agent"
  kind="static (--config=guest-x86_64)"
else
  if ! grep -q "guest-x86_64" /tmp/agent_size.build.log; then
    cat /tmp/agent_size.build.log >&2
    die "the guest build failed"
  fi
  echo "note: --config=guest-x86_64 is not defined here; measuring the host build" >&2
  bazel build -c opt //src/agent:kata-agent >/tmp/agent_size.build.log 2>&1 ||
    { cat /tmp/agent_size.build.log >&2; die "bazel build -c opt failed"; }
  bin="$(bazel info -c opt bazel-bin 2>/dev/null)/src/agent/kata-agent"
  kind="DYNAMIC host build (-c opt; shared libraries not counted)"
fi
bazel build -c opt //tools/agent-ctl:agent-ctl >/tmp/agent_size.build.log 2>&1 ||
  { cat /tmp/agent_size.build.log >&2; die "cannot build agent-ctl"; }
ctl="$(bazel info -c opt bazel-bin 2>/dev/null)/tools/agent-ctl/agent-ctl"
[ -x "$bin" ] || die "no binary at $bin"

dir="$(mktemp -d /tmp/kasize.XXXXXX)"
cg="kata-agent-size-$$"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  for d in /sys/fs/cgroup/*/"$cg" /sys/fs/cgroup/"$cg"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf "$dir"
}
trap cleanup EXIT

strip -o "$dir/kata-agent.stripped" "$bin"
size=$(stat -c %s "$dir/kata-agent.stripped")
unstripped=$(stat -c %s "$bin")

rootfs="$dir/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/dev" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/sleep"
addr="unix://$dir/agent.sock"
"$dir/kata-agent.stripped" --server-addr "$addr" 2>"$dir/agent.log" &
pid=$!
call() { "$ctl" --addr "$addr" --timeout 20s call "$@" >/dev/null; }
for _ in $(seq 1 50); do [ -S "$dir/agent.sock" ] && break; sleep 0.1; done
"$ctl" --addr "$addr" --timeout 5s check >/dev/null || die "the agent does not answer"
sleep 1
rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
idle_rss=$(rss VmRSS)

call CreateSandbox '{"sandbox_id": "size"}'
for i in $(seq 1 10); do
  call CreateContainer "{\"container_id\": \"c$i\", \"exec_id\": \"c$i\",
    \"OCI\": {\"Version\": \"1.0.2\",
      \"Process\": {\"Args\": [\"sleep\", \"1000\"], \"Env\": [\"PATH=/bin\"], \"Cwd\": \"/\"},
      \"Root\": {\"Path\": \"$rootfs\"},
      \"Linux\": {\"CgroupsPath\": \"/$cg/c$i\",
        \"Namespaces\": [{\"Type\": \"mount\"}, {\"Type\": \"pid\"}, {\"Type\": \"uts\"},
                         {\"Type\": \"ipc\"}]}}}"
  call StartContainer "{\"container_id\": \"c$i\"}"
done
sleep 1
busy_rss=$(rss VmRSS)
hwm=$(rss VmHWM)
threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$pid/status")
call DestroySandbox '{}'
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && die "the agent did not end after DestroySandbox"
pid=""

mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }
echo "kata-agent: $kind"
echo "  $(file -b "$bin" | cut -d, -f1-5)"
echo "  binary size      unstripped $(mib "$unstripped"), stripped $(mib "$size") ($size bytes)"
echo "  RSS idle         $(mib $((idle_rss * 1024)))"
echo "  RSS 10 containers $(mib $((busy_rss * 1024))) (peak VmHWM $(mib $((hwm * 1024))), $threads threads)"
