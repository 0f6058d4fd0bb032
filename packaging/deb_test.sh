#!/bin/bash
# //packaging:deb: its contents (every entry of files.txt at its /usr place, Debian's docs),
# its control fields, its configuration's paths, no build paths, and its reproducibility: the
# same builder run twice more on the same inputs (in other directories, at other times) gives
# the same bytes.
#
# usage: deb_test.sh DEB
set -uo pipefail
export PATH=$PATH:/usr/sbin:/sbin  # ldconfig
DEB=$(readlink -f "$1")
ROOT="$TEST_SRCDIR/kata_cpp"
T=$(mktemp -d "$TEST_TMPDIR/deb.XXXXXX")
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else fail "$what"; fi
}

# ---- reproducible: two more builds, other work directories, other times ----
for run in a b; do
  mkdir -p "$T/$run"
  TMPDIR="$T/$run" "$ROOT/packaging/build-deb" --from "$ROOT" \
    --out "$T/$run/$(basename "$DEB")" || fail "build-deb run $run failed"
  sleep 1
done
sums=$(sha256sum "$DEB" "$T/a/$(basename "$DEB")" "$T/b/$(basename "$DEB")")
echo "$sums"
[ "$(echo "$sums" | awk '{print $1}' | sort -u | wc -l)" = 1 ] ||
  fail "three builds of the same inputs differ"
TMPDIR="$T" "$ROOT/packaging/build-deb" --from "$ROOT" --out "$T/kata-cpp_9.9_amd64.deb" \
  2>"$T/err" && fail "a wrong output name was accepted"
grep -q "must be kata-cpp_" "$T/err" || fail "wrong name: no clear error: $(cat "$T/err")"

# ---- contents ----
dpkg-deb -c "$DEB" > "$T/list" || fail "dpkg-deb -c"
awk '$1 !~ /^d/ {print $6}' "$T/list" | sed 's|^\./|/|' | sort > "$T/files"
{
  "$ROOT/packaging/stage" --list --prefix /usr | sed 's|^\(/usr/share/man/.*\.1\)$|\1.gz|'
  echo /usr/share/doc/kata-cpp/copyright
  echo /usr/share/doc/kata-cpp/changelog.Debian.gz
  echo /usr/share/lintian/overrides/kata-cpp
} | sort > "$T/want"
diff -u "$T/want" "$T/files" > "$T/diff" && echo "ok: the package holds exactly files.txt + docs" ||
  fail "package contents differ from files.txt: $(cat "$T/diff")"
for f in /usr/bin/containerd-shim-kata-v2 /usr/bin/kata-runtime \
  /usr/share/defaults/kata-containers/configuration.toml \
  /usr/share/kata-containers/vmlinux.container /usr/share/kata-containers/kata-containers-initrd.img \
  /usr/share/doc/kata-cpp/examples/containerd-kata.toml; do
  grep -qx "$f" "$T/files" || fail "$f is not in the package"
done
awk '$2 != "root/root" {print}' "$T/list" > "$T/owners"
check "every entry is root/root" test ! -s "$T/owners"
epoch=$(dpkg-parsechangelog -l "$ROOT/packaging/changelog" -S Timestamp)
stamp=$(TZ=UTC date -d "@$epoch" '+%Y-%m-%d %H:%M')
awk -v s="$stamp" '($4 " " $5) != s {print}' "$T/list" > "$T/times"
check "every mtime is the changelog's date ($stamp)" test ! -s "$T/times"
awk '$1 ~ /^d/ && $1 != "drwxr-xr-x" {print}' "$T/list" > "$T/dirmodes"
check "directories are 0755" test ! -s "$T/dirmodes"
grep -E '^-rwxr-xr-x .*/usr/bin/(containerd-shim-kata-v2|kata-runtime)$' "$T/list" | wc -l |
  grep -qx 2 || fail "the programs are not 0755"

mkdir "$T/x"
dpkg-deb -x "$DEB" "$T/x" || fail "dpkg-deb -x"
conf=$T/x/usr/share/defaults/kata-containers/configuration.toml
for key in kernel initrd; do
  path=$(sed -n "s/^$key = \"\(.*\)\"/\1/p" "$conf")
  [ -f "$T/x$path" ] || fail "configuration $key = '$path' is not a file of the package"
done
grep -qx 'path = "/usr/bin/qemu-system-x86_64"' "$conf" || fail "configuration: QEMU path"
grep -qx 'virtio_fs_daemon = "/usr/lib/qemu/virtiofsd"' "$conf" || fail "configuration: virtiofsd"
for f in "$T"/x/usr/bin/*; do
  file -b "$f" | grep -q ', stripped' || fail "$f is not stripped: $(file -b "$f")"
  objdump -p "$f" | grep -qE 'RPATH|RUNPATH' && fail "$f has an RPATH/RUNPATH"
done
zcat "$T/x/usr/share/doc/kata-cpp/changelog.Debian.gz" | head -1 | grep -q '^kata-cpp (' ||
  fail "changelog.Debian.gz is not the changelog"
# No absolute path of the build: the workspace, Bazel's output base, the test's directories.
# (Generated code's __FILE__ strings, "bazel-out/k8-fastbuild/bin/...", are relative: they do
# not depend on where or by whom it is built.)
workspace=$(dirname "$(dirname "$(readlink -f "$ROOT/packaging/stage")")")
if grep -rlaE "$TEST_TMPDIR|$workspace/|/_bazel_|/execroot/" "$T/x" > "$T/paths"; then
  fail "build paths recorded in: $(cat "$T/paths")"
else
  echo "ok: no build path ($workspace, Bazel's output base) in the files"
fi

# ---- control ----
dpkg-deb -f "$DEB" > "$T/control"
cat "$T/control"
field() { dpkg-deb -f "$DEB" "$1"; }
[ "$(field Package)" = kata-cpp ] || fail "Package"
[ "$(field Architecture)" = amd64 ] || fail "Architecture"
[ "$(field Version)" = "$(dpkg-parsechangelog -l "$ROOT/packaging/changelog" -S Version)" ] ||
  fail "Version is not the changelog's"
deps=$(field Depends)
for d in 'libc6 (>= ' 'libstdc++6 (>= ' 'qemu-system-x86' 'qemu-system-common'; do
  case "$deps" in *"$d"*) ;; *) fail "Depends lacks '$d': $deps" ;; esac
done
# Every library the programs link is covered: the package of each NEEDED is in Depends.
for lib in $(objdump -p "$T"/x/usr/bin/* | awk '$1 == "NEEDED" {print $2}' | sort -u); do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
  pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
  [ -n "$pkg" ] || pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
  case ", $deps" in *", $pkg "* | *", $pkg,"* | *", $pkg") ;; *) fail "$lib ($pkg) is not in Depends" ;; esac
done
[ "$(field Recommends)" = containerd ] || fail "Recommends: $(field Recommends)"
size=$(field Installed-Size)
du=$(du -s -k "$T/x" | cut -f1)
[ "$size" -ge $((du * 9 / 10)) ] && [ "$size" -le $((du * 11 / 10)) ] ||
  fail "Installed-Size $size KiB, the tree takes $du KiB"
(cd "$T/x" && dpkg-deb -e "$DEB" "$T/ctl" && md5sum --quiet -c "$T/ctl/md5sums") ||
  fail "md5sums do not match the files"

[ "$FAILED" = 0 ] && echo "PASS: deb_test" || echo "FAILED: deb_test"
exit "$FAILED"
