# shellcheck shell=bash
# loopsnap (main.go: a containerd proxy snapshotter on loop devices, standing in for devmapper)
# for scripts and tests: built with build.sh next to this file, served under the caller's dir.
#
#   source tests/e2e/loopsnap/loopsnap.sh
#   loopsnap_start DIR [SIZE]    builds DIR/go/loopsnap, serves DIR/snap.sock (snapshots of SIZE,
#       default 128M, in DIR/snap; log DIR/snap.log), writes DIR/proxy.toml (the proxy plugin
#       "loopsnap" for `containerd_start DIR --append DIR/proxy.toml`) and waits for the socket;
#       sets LOOPSNAP_PID. Returns non-zero with a message on stderr when it fails.
#   loopsnap_stop DIR            stops it and detaches every loop device over a file under DIR
#       (snapshots containerd did not remove, and the caller's own); safe to call twice.
# Needs root, losetup and mkfs.ext4 (in /usr/sbin: add it to PATH) and Go (tools/setup).

LOOPSNAP_PID=""
_LOOPSNAP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

loopsnap_start() {
  local dir=${1:?loopsnap_start: DIR} size=${2:-128M}
  bash "$_LOOPSNAP_DIR/build.sh" "$dir/go" >/dev/null || { echo "loopsnap: build failed" >&2; return 1; }
  "$dir/go/loopsnap" -size "$size" "$dir/snap" "$dir/snap.sock" >"$dir/snap.log" 2>&1 &
  LOOPSNAP_PID=$!
  cat >"$dir/proxy.toml" <<TOML
[proxy_plugins]
  [proxy_plugins.loopsnap]
    type = "snapshot"
    address = "$dir/snap.sock"
TOML
  local _
  for _ in $(seq 100); do [ -S "$dir/snap.sock" ] && return 0; sleep 0.1; done
  echo "loopsnap did not come up: $(cat "$dir/snap.log")" >&2
  return 1
}

loopsnap_stop() {
  local dir=${1:?loopsnap_stop: DIR} l
  if [ -n "$LOOPSNAP_PID" ]; then
    kill "$LOOPSNAP_PID" 2>/dev/null && wait "$LOOPSNAP_PID" 2>/dev/null
    LOOPSNAP_PID=""
  fi
  for l in $(losetup -n -O NAME 2>/dev/null); do
    case "$(losetup -n -O BACK-FILE "$l" 2>/dev/null)" in "$dir"/*) losetup -d "$l" ;; esac
  done
  return 0
}
