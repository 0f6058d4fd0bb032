#!/bin/bash
# tools/lib/containerd.sh against the real containerd: start (default and CRI configurations),
# readiness, the config it writes, option errors, a failed start, and cleanup (containerd gone,
# mounts below the directory unmounted without touching their sources, the directory removed).
# Needs root and containerd/ctr (tools/setup installs them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/containerd.sh"

fail() { echo "containerd_test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root"

T=$(mktemp -d /tmp/kcdt.XXXXXX)
SRC=$(mktemp -d "${TEST_TMPDIR:-/tmp}/kcdt-src.XXXXXX")
trap 'containerd_cleanup "$T"; rm -rf "$T" "$SRC"' EXIT

# Default: CRI disabled, own root/state/sockets, answers once started.
containerd_start "$T/a" 2>/dev/null && fail "started in a missing directory"
mkdir "$T/a"
containerd_start "$T/a" --debug --disable io.containerd.snapshotter.v1.btrfs
[ "$CONTAINERD_SOCK" = "$T/a/c.sock" ] || fail "socket $CONTAINERD_SOCK"
[ "$CONTAINERD_LOG" = "$T/a/containerd.log" ] || fail "log $CONTAINERD_LOG"
pid=$CONTAINERD_PID
kill -0 "$pid" || fail "containerd $pid not running"
ctr -a "$CONTAINERD_SOCK" version >/dev/null || fail "ctr version"
plugins=$(ctr -a "$CONTAINERD_SOCK" plugins ls)
echo "$plugins" | grep -q "io.containerd.grpc.v1 *cri" && fail "CRI not disabled: $plugins"
echo "$plugins" | grep -q "io.containerd.snapshotter.v1 *btrfs" && fail "btrfs not disabled"
grep -qx "root = \"$T/a/root\"" "$T/a/config.toml" || fail "root: $(cat "$T/a/config.toml")"
grep -qx "state = \"$T/a/state\"" "$T/a/config.toml" || fail "state"
grep -qx '  level = "debug"' "$T/a/config.toml" || fail "debug level"
containerd_start "$T/a" 2>/dev/null && fail "a second start while running succeeded"
containerd_stop
kill -0 "$pid" 2>/dev/null && fail "containerd $pid still running after containerd_stop"
[ -z "$CONTAINERD_PID" ] || fail "CONTAINERD_PID still set"
containerd_stop  # twice is fine

# CRI with an extra runtime: runc stays in the table, the plugin loads.
mkdir "$T/b"
containerd_start "$T/b" --cri --runtime kata=io.containerd.kata.v2
ctr -a "$CONTAINERD_SOCK" plugins ls | grep -q "io.containerd.grpc.v1 *cri .* ok" ||
  fail "CRI plugin not ok: $(ctr -a "$CONTAINERD_SOCK" plugins ls | grep cri)"
grep -q 'runtimes.kata\]' "$T/b/config.toml" || fail "no kata runtime"
grep -q 'runtimes.runc\]' "$T/b/config.toml" || fail "no runc runtime"
pid=$CONTAINERD_PID

# Option errors.
rc=0; containerd_write_config "$T" --runtime x=y 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "--runtime without --cri: rc $rc"
rc=0; containerd_write_config "$T" --cri --runtime novalue 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "--runtime without =: rc $rc"
rc=0; containerd_write_config "$T" --bogus 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "unknown option: rc $rc"

# Cleanup: containerd stopped, a mount below the directory undone (its source intact), the
# directory gone.
echo precious > "$SRC/file"
mkdir "$T/b/mnt"
mount --bind "$SRC" "$T/b/mnt"
containerd_cleanup "$T/b"
kill -0 "$pid" 2>/dev/null && fail "containerd $pid still running after containerd_cleanup"
[ -e "$T/b" ] && fail "$T/b left behind"
grep -qF "$T/b/" /proc/self/mountinfo && fail "mount left below $T/b"
[ "$(cat "$SRC/file")" = precious ] || fail "cleanup removed a mount's content"

# A containerd that exits at once: the start fails with its log.
mkdir -p "$T/fake" "$T/c"
printf '#!/bin/sh\necho "fake containerd: no" >&2\nexit 3\n' > "$T/fake/containerd"
chmod +x "$T/fake/containerd"
rc=0; err=$(PATH="$T/fake:$PATH" containerd_start "$T/c" 2>&1) || rc=$?
[ $rc != 0 ] || fail "start of a failing containerd succeeded"
echo "$err" | grep -q "fake containerd: no" || fail "no log tail in: $err"
echo "$err" | grep -q "containerd exited" || fail "no reason in: $err"
echo "containerd_test: PASS"
