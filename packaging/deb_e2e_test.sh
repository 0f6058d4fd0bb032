#!/bin/bash
# The Debian package on this host, end to end (issue 15): `apt-get install ./kata-cpp_*.deb`
# (offline: its Depends are installed by tools/setup), a private containerd whose PATH has only
# /usr/bin and /bin (so the package's /usr/bin/containerd-shim-kata-v2 is the shim, with the
# package's default configuration and guest image), `ctr run --rm --runtime
# io.containerd.kata.v2` of a busybox container that prints a line and the guest's kernel
# release (not the host's), then `apt-get remove --purge kata-cpp`: every path the package
# installed (dpkg -L) that was not there before is gone, no process or mount is left.
# Files that tools/install put at the package's paths beforehand are moved aside and put back.
# It fails at once, touching nothing, if kata-cpp is already installed or an /etc
# configuration would be used instead of the package's. Root, one at a time (the lock
# /tmp/kata-e2e.lock), never skipped.
#
# usage: deb_e2e_test.sh DEB IMAGE_BUILDER
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset KATA_CONF_FILE
source "$(dirname "${BASH_SOURCE[0]}")/../tools/lib/containerd.sh"
DEB=$(readlink -f "$1")
BUILDER=$(readlink -f "$2")
IMG=docker.io/library/busybox:kata-deb
ID="kdeb-$$"
log() { echo "[deb-e2e $(date +%T)] $*"; }
die() { log "FATAL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, containerd, VMs)"
for tool in apt-get dpkg containerd ctr python3 flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (tools/setup installs it)"
done
exec 9>/tmp/kata-e2e.lock
# Well inside the test's timeout (size large: 900 s), so that Bazel never kills it halfway.
flock -w 600 9 || die "could not take /tmp/kata-e2e.lock within 10 minutes"
if dpkg-query -W -f='${Status}' kata-cpp 2>/dev/null | grep -qv "not-installed"; then
  die "kata-cpp is already known to dpkg ($(dpkg-query -W -f='${Status} ${Version}' kata-cpp)):" \
    "this test installs and purges it, so it will not touch an existing installation"
fi
[ -e /etc/kata-containers/configuration.toml ] &&
  die "/etc/kata-containers/configuration.toml exists and would be used instead of the package's default"

T=$(mktemp -d /tmp/kdeb.XXXXXX)
INSTALLED=0
APT=(apt-get -y -q -o DPkg::Lock::Timeout=600)

cleanup() {
  local rc=$?
  set +e
  [ -n "${RUN_PID:-}" ] && kill "$RUN_PID" 2>/dev/null
  containerd_cleanup "$T/c"
  pkill -9 -f -- "qemu.*$ID" 2>/dev/null
  rm -rf "/run/kata-containers/shared/sandboxes/$ID" "/run/vc/vm/$ID"
  if [ "$INSTALLED" = 1 ]; then
    log "cleanup: purging kata-cpp"
    "${APT[@]}" remove --purge kata-cpp >/dev/null 2>&1 || dpkg --purge kata-cpp
  fi
  local f lost=0
  while read -r f; do
    [ -n "$f" ] || continue
    if mkdir -p "$(dirname "$f")" && mv -f "$T/aside$f" "$f"; then
      log "put back $f"
    else
      log "COULD NOT PUT BACK $f: it stays in $T/aside$f"
      lost=1
    fi
  done < <(cat "$T/moved" 2>/dev/null)
  # Only when every moved file is back: $T/aside may hold the only copy.
  if [ "$lost" = 0 ]; then rm -rf --one-file-system "$T"; else rc=1; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Files at the package's paths that no package owns (tools/install's): moved aside, put back
# by cleanup (its traps are set before the first move). All are checked before any moves.
mkdir -p "$T/aside"
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\.||' > "$T/deb-files"
while read -r f; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  dpkg -S "$f" >/dev/null 2>&1 && die "$f belongs to $(dpkg -S "$f" | cut -d: -f1)"
done < "$T/deb-files"
while read -r f; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  mkdir -p "$T/aside$(dirname "$f")"
  mv "$f" "$T/aside$f" || die "cannot move $f aside"
  echo "$f" >> "$T/moved"
  log "moved aside (not owned by a package): $f"
done < "$T/deb-files"

# What exists before (the package's directories that are already there stay after the purge).
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\.||; s|/$||' | grep . > "$T/deb-paths"
while read -r p; do [ -e "$p" ] && echo "$p"; done < "$T/deb-paths" > "$T/existed"

# ---- install ----
cp "$DEB" "$T/"
deb_copy="$T/$(basename "$DEB")"
chmod 0644 "$deb_copy"
log "apt-get install $deb_copy"
INSTALLED=1
# Offline: every Depends is installed already (tools/setup), so apt fetches nothing; the
# simulation says so first. (--no-download cannot be used: apt 2.6 then fails on a local
# .deb with "Pathname to install is not absolute".)
"${APT[@]}" -s install "$deb_copy" > "$T/apt-sim.log" 2>&1 ||
  { cat "$T/apt-sim.log"; die "apt-get cannot install the package here"; }
grep -E '^Inst ' "$T/apt-sim.log" | grep -v '^Inst kata-cpp ' > "$T/apt-extra" &&
  { cat "$T/apt-extra"; die "apt-get would install other packages (tools/setup not run?)"; }
DEBIAN_FRONTEND=noninteractive "${APT[@]}" install "$deb_copy" > "$T/apt.log" 2>&1 ||
  { cat "$T/apt.log"; die "apt-get install of the package failed"; }
tail -3 "$T/apt.log"
dpkg-query -W -f='${Status}' kata-cpp | grep -q "install ok installed" || die "kata-cpp is not installed"
dpkg -L kata-cpp > "$T/dpkg-L"
[ "$(dpkg -S /usr/bin/containerd-shim-kata-v2 | cut -d: -f1)" = kata-cpp ] ||
  die "/usr/bin/containerd-shim-kata-v2 is not the package's"
/usr/bin/kata-runtime env > "$T/env" 2>&1 || { cat "$T/env"; die "kata-runtime env failed"; }
grep -q /usr/share/defaults/kata-containers/configuration.toml "$T/env" ||
  { cat "$T/env"; die "kata-runtime does not use the packaged configuration"; }

# ---- a container through the package's shim ----
mkdir "$T/c"
PATH=/usr/bin:/bin containerd_start "$T/c" || die "containerd did not come up"
CTR=(ctr -a "$CONTAINERD_SOCK")
python3 "$BUILDER" "$T/busybox.tar" "$IMG" >/dev/null || die "building the busybox image"
"${CTR[@]}" images import "$T/busybox.tar" >/dev/null || die "importing the busybox image"
log "ctr run --rm --runtime io.containerd.kata.v2 $IMG $ID"
timeout 600 "${CTR[@]}" run --rm --runtime io.containerd.kata.v2 "$IMG" "$ID" \
  sh -c 'echo kata-deb-says-hello; uname -r' </dev/null > "$T/run.out" 2>&1 &
RUN_PID=$!
# While it runs: the shim serving it is the package's binary.
shim_exe=""
while kill -0 "$RUN_PID" 2>/dev/null; do
  for pid in $(pgrep -f -- "containerd-shim-kata-v2 .*$ID"); do
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) && [ -n "$exe" ] && shim_exe=$exe
  done
  [ -n "$shim_exe" ] && break
  sleep 0.1
done
wait "$RUN_PID"
rc=$?
RUN_PID=""
cat "$T/run.out"
[ "$rc" = 0 ] || { tail -40 "$CONTAINERD_LOG"; die "ctr run exited $rc"; }
[ "$shim_exe" = /usr/bin/containerd-shim-kata-v2 ] ||
  die "the shim that ran the container is '$shim_exe', not the package's"
[ "$(sed -n 1p "$T/run.out")" = kata-deb-says-hello ] || die "the container did not print its line"
guest=$(sed -n 2p "$T/run.out")
[ -n "$guest" ] && [ "$guest" != "$(uname -r)" ] ||
  die "the container's kernel '$guest' is not a guest's (host: $(uname -r))"
log "ok: the container ran in a VM (guest kernel $guest, host $(uname -r)) through $shim_exe"
containerd_cleanup "$T/c"

# ---- remove ----
log "apt-get remove --purge kata-cpp"
DEBIAN_FRONTEND=noninteractive "${APT[@]}" remove --purge kata-cpp > "$T/apt-rm.log" 2>&1 ||
  { cat "$T/apt-rm.log"; die "apt-get remove --purge failed"; }
INSTALLED=0
status=$(dpkg-query -W -f='${Status}' kata-cpp 2>/dev/null)
case "$status" in "" | *not-installed) ;; *) die "after the purge dpkg says kata-cpp is '$status'" ;; esac
left=0
while read -r p; do
  [ "$p" = "/." ] && continue
  grep -qxF "$p" "$T/existed" && continue
  if [ -e "$p" ] || [ -L "$p" ]; then log "left after the purge: $p"; left=1; fi
done < "$T/dpkg-L"
[ "$left" = 0 ] || die "the purge left files or directories"
procs=$(pgrep -af -- "$ID|/usr/bin/containerd-shim-kata-v2" | grep -v -e pgrep -e deb_e2e_test)
[ -z "$procs" ] || die "processes left: $procs"
mounts=$(grep -F -e "$ID" -e "$T" /proc/self/mountinfo)
[ -z "$mounts" ] || die "mounts left: $mounts"
log "PASS: installed, ran a container, purged; $(wc -l < "$T/dpkg-L") paths listed, none left"
