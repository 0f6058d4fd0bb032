#!/bin/bash
# tools/install stages: `tools/install --prefix=/opt/x DESTDIR=STAGE` (built files taken from
# the test's runfiles with --from) puts every file of packaging/files.txt below STAGE, with
# its mode and bytes, and writes nothing outside STAGE; a second run changes nothing; DESTDIR
# from the environment works the same; bad arguments fail and write nothing. Runs as root,
# unsandboxed, so that a write outside STAGE would really land (and be caught).
set -uo pipefail
ROOT="$TEST_SRCDIR/kata_cpp"
INSTALL="$ROOT/tools/install"
T=$(mktemp -d /tmp/kata-stage-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
[ "$(id -u)" = 0 ] || { echo "FATAL: must run as root (what root could write is the point)"; exit 1; }

# What could be touched if staging leaked: the real places, before and after.
WATCH=(/opt/x /usr/local/bin/containerd-shim-kata-v2 /usr/local/bin/kata-runtime
  /usr/local/share/doc/kata-cpp /usr/share/defaults /usr/share/kata-containers
  /usr/share/doc/kata-cpp /etc/kata-containers /usr/bin/containerd-shim-kata-v2
  /usr/bin/kata-runtime /usr/local/share/man/man1/kata-runtime.1
  /usr/local/share/man/man1/containerd-shim-kata-v2.1 /usr/local/bin/kata-monitor
  /usr/bin/kata-monitor /usr/local/share/man/man1/kata-monitor.1)
snapshot() {
  local p
  for p in "${WATCH[@]}"; do
    if [ -e "$p" ]; then find "$p" -xdev -printf '%p %y %m %s %T@\n' 2>/dev/null; else echo "$p absent"; fi
  done | sort
}
snapshot > "$T/before"

stage=$T/stage
"$INSTALL" --from "$ROOT" --prefix=/opt/x DESTDIR="$stage" > "$T/out1" ||
  { cat "$T/out1"; fail "tools/install --prefix=/opt/x DESTDIR=$stage failed"; }
cat "$T/out1"
# Every entry, at its place, with its mode and bytes.
n=0
while read -r group src dest mode; do
  case "$group" in "" | "#"*) continue ;; esac
  dest="$stage${dest//\$PREFIX//opt/x}"
  n=$((n + 1))
  [ -f "$dest" ] || { fail "$dest is missing"; continue; }
  [ "$(stat -c %a "$dest")" = "${mode#0}" ] || fail "$dest: mode $(stat -c %a "$dest"), want $mode"
  cmp -s "$ROOT/$src" "$dest" || fail "$dest differs from $src"
done < "$ROOT/packaging/files.txt"
[ "$n" -ge 10 ] || fail "files.txt lists only $n files"
for f in opt/x/bin/containerd-shim-kata-v2 opt/x/bin/kata-runtime \
  usr/share/defaults/kata-containers/configuration.toml \
  usr/share/kata-containers/vmlinux.container usr/share/kata-containers/kata-containers-initrd.img \
  opt/x/share/doc/kata-cpp/examples/containerd-kata.toml; do
  [ -f "$stage/$f" ] || fail "$stage/$f is missing"
done
extra=$(cd "$stage" && find . -type f | sed 's|^\.||' | sort |
  comm -23 - <("$ROOT/packaging/stage" --list --prefix /opt/x | sort))
[ -z "$extra" ] || fail "files staged that files.txt does not list: $extra"
find "$stage" -name '.*.tmp.*' | grep -q . && fail "temporary files left in the stage"

# Idempotent: a second run leaves the same tree.
(cd "$stage" && find . -printf '%p %y %m %s\n' | sort) > "$T/tree1"
"$INSTALL" --from "$ROOT" --prefix=/opt/x DESTDIR="$stage" > /dev/null || fail "second run failed"
(cd "$stage" && find . -printf '%p %y %m %s\n' | sort) > "$T/tree2"
cmp -s "$T/tree1" "$T/tree2" || fail "a second run changed the tree: $(diff "$T/tree1" "$T/tree2")"

# DESTDIR from the environment, the default prefix /usr/local.
DESTDIR="$T/stage2" "$INSTALL" --from "$ROOT" > /dev/null || fail "DESTDIR=... tools/install failed"
[ -x "$T/stage2/usr/local/bin/containerd-shim-kata-v2" ] || fail "default prefix: no /usr/local/bin shim"

# Bad arguments: a clear error, nothing written.
for args in "--prefix=opt/x DESTDIR=$T/bad1" "--prefix=/opt/x DESTDIR=rel/stage" \
  "--bogus DESTDIR=$T/bad1" "--prefix=/opt/x --from $T/nowhere DESTDIR=$T/bad1"; do
  # shellcheck disable=SC2086
  if (cd "$T" && "$INSTALL" $args) > "$T/bad.out" 2>&1; then
    fail "tools/install $args succeeded"
  else
    echo "ok: tools/install $args: $(tail -1 "$T/bad.out")"
  fi
  grep -qE 'not an absolute path|unknown|not found' "$T/bad.out" || fail "no clear error for $args"
  [ ! -e "$T/bad1" ] && [ ! -e "$T/rel" ] || fail "tools/install $args wrote something"
done

snapshot > "$T/after"
cmp -s "$T/before" "$T/after" || fail "something outside the stage changed: $(diff "$T/before" "$T/after")"
[ "$FAILED" = 0 ] && echo "PASS: install_stage_test" || echo "FAILED: install_stage_test"
exit "$FAILED"
