#!/bin/bash
# End-to-end host block devices (issue 17): a private containerd runs busybox containers in QEMU
# VMs through containerd-shim-kata-v2 with `ctr run --device /dev/loopN` on loop devices over
# files this test writes. Cases (E2E_ONLY=REGEX runs those whose name matches):
#   one-device   two devices in one container: the first 4 KiB of each match the host's
#                bytes; `ls -l` inside shows the guest's numbers (a virtio disk's, per the
#                guest's /sys/dev/block); while it runs QEMU holds the devices, then not.
#   pod          two containers of one pod, each with its own device: each reads its own; one
#                that mknods the other's guest numbers cannot open it (the device cgroup allows
#                exactly its own); after both are removed the VM (still running the pod) has
#                no virtio disk left, QEMU holds neither device, both are free (O_EXCL open)
#                and `losetup -d` works.
#   bad-input    a device path that does not exist, a non-device file, a device another
#                sandbox holds: a clear error, nothing attached, nothing left.
#   block-volume a bind mount whose source is a block device (ext4 on a loop device) is
#                mounted in the guest from the hot-plugged disk: a file written inside is on
#                the host's device afterwards.
#   block-rootfs a container whose rootfs is a block device, as containerd's devmapper
#                snapshotter gives it (one ext4 mount of /dev/...): the snapshotter here is
#                loopsnap (tests/e2e/loopsnap: ext4 images on loop devices, a containerd proxy
#                plugin), since this host's kernel has no device-mapper. The device is
#                hot-plugged, never mounted on the host, and is the container's / in the
#                guest; after removal it is unplugged and the snapshot's loop device is gone.
#
# usage: device_e2e_test.sh SHIM IMAGE_BUILDER [GUEST_IMAGE_FILES...]     (root)
set -u
export PATH=$PATH:/usr/sbin:/sbin  # losetup, mkfs.ext4, debugfs (Bazel's strict PATH has no sbin)
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib/containerd.sh"
source "$(dirname "${BASH_SOURCE[0]}")/loopsnap/loopsnap.sh"

SHIM=$(readlink -f "$1")
BUILDER=$(readlink -f "$2")
shift 2
GUEST_KERNEL=/usr/share/kata-containers/vmlinux.container
GUEST_INITRD=/usr/share/kata-containers/kata-containers-initrd.img
for f in "$@"; do
  case "$f" in
    *vmlinux.container) GUEST_KERNEL=$(readlink -f "$f") ;;
    *.img) GUEST_INITRD=$(readlink -f "$f") ;;
  esac
done
IMG=docker.io/library/busybox:kata-e2e
PREFIX="dev$$"
FAILED=0
PASSED=0

log() { echo "[dev-e2e $(date +%T.%N | cut -c1-12)] $*"; }
die() { log "FATAL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (containerd, loop devices, VMs)"
for tool in containerd ctr python3 losetup mkfs.ext4 debugfs; do
  command -v "$tool" >/dev/null || die "$tool is missing (tools/setup installs it)"
done

T=$(mktemp -d /tmp/kdev.XXXXXX)
CTR="ctr -a $T/c.sock"

cleanup() {
  local rc=$?
  set +e
  containerd_stop
  pkill -9 -f -- "qemu.*$PREFIX" 2>/dev/null
  loopsnap_stop "$T"  # and every loop device over a file of ours (numbers get reused)
  rm -rf /run/kata-containers/shared/sandboxes/"$PREFIX"-* /run/vc/vm/"$PREFIX"-*
  if [ $rc -ne 0 ] && [ -f "$T/containerd.log" ]; then
    log "containerd log (last 60 lines):"
    tail -60 "$T/containerd.log"
  fi
  containerd_cleanup "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
pcie_root_port = 4
valid_hypervisor_paths = ["/usr/bin/qemu-system-x86_64"]

[agent.kata]
dial_timeout = 90

[runtime]
enable_debug = true
TOML
export KATA_CONF_FILE=$T/configuration.toml
loopsnap_start "$T" || die "loopsnap did not start"
containerd_start "$T" --debug --append "$T/proxy.toml" || die "containerd did not come up"
python3 "$BUILDER" "$T/busybox.tar" "$IMG" >/dev/null || die "building the busybox image"
$CTR images import "$T/busybox.tar" >/dev/null || die "importing the busybox image"

# ---- helpers ----
new_loop() {  # new_loop NAME: a loop device over a new 1 MiB file of random bytes
  head -c 1048576 /dev/urandom > "$T/$1.img"
  local l
  l=$(losetup -f --show "$T/$1.img") || die "losetup $T/$1.img"
  echo "$l" >> "$T/loops"  # a file: this runs in $(...) subshells
  echo "$l"
}
run() { timeout 300 $CTR run --runtime "$SHIM" "$@"; }
in_pod() {  # in_pod POD ARGS...: ctr run ARGS as a container of POD's sandbox
  local pod=$1
  shift
  run --annotation io.kubernetes.cri.container-type=container \
    --annotation "io.kubernetes.cri.sandbox-id=$pod" "$@"
}
ex() { local id=$1; shift; timeout 120 $CTR task exec --exec-id "x$RANDOM" "$id" "$@" </dev/null; }
wait_status() {  # id status
  local i
  for i in $(seq 600); do
    $CTR task ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}' | grep -qx "$2" && return 0
    sleep 0.1
  done
  log "task $1 did not reach $2"
  return 1
}
remove() {  # remove ID...: kill, delete tasks and containers
  local id
  for id in "$@"; do
    $CTR task kill -s KILL "$id" >/dev/null 2>&1 && wait_status "$id" STOPPED
    timeout 120 $CTR task rm -f "$id" >/dev/null 2>&1
    $CTR c rm "$id" >/dev/null 2>&1
  done
}
qemu_of() { pgrep -f "qemu.*$1" | head -1; }
holds() {  # holds PID DEV: whether process PID has DEV open
  local f
  for f in /proc/"$1"/fd/*; do [ "$(readlink "$f")" = "$2" ] && return 0; done
  return 1
}
free_on_host() {  # DEV: nobody has it mounted or claimed (an O_EXCL open works)
  python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL))' "$1" 2>/dev/null
}
host_md5() { head -c 4096 "$1" | md5sum | cut -d' ' -f1; }
# "MAJ MIN" of DEV as `ls -l` shows it in container ID ("brw-... 254,   0 ... DEV").
guest_numbers() { ex "$1" ls -l "$2" | sed -n 's/^b[^ ]* *[0-9]* [^ ]* *[^ ]* *\([0-9]*\), *\([0-9]*\) .*/\1 \2/p'; }
nothing_left() {  # nothing_left ID...: no process, mount or directory of these ids
  local id ok=0
  for id in "$@"; do
    pgrep -af -- "$id" | grep -v -e pgrep -e device_e2e_test && { log "left processes of $id"; ok=1; }
    grep -F -- "$id" /proc/self/mountinfo && { log "left mounts of $id"; ok=1; }
    for d in "/run/kata-containers/shared/sandboxes/$id" "/run/vc/vm/$id"; do
      [ -e "$d" ] && { log "left $d"; ok=1; }
    done
    $CTR c ls -q | grep -qx -- "$id" && { log "left container $id"; ok=1; }
  done
  return $ok
}
check() {  # check NAME FUNCTION
  [ -n "${E2E_ONLY:-}" ] && ! echo "$1" | grep -qE -- "$E2E_ONLY" && return 0
  log "=== $1"
  if "$2"; then log "PASS $1"; PASSED=$((PASSED + 1)); else log "FAIL $1"; FAILED=$((FAILED + 1)); fi
}

# ---- cases ----
t_one_device() {
  local pod=$PREFIX-p1 c=$PREFIX-c1 l1 l2 out qpid nums rc=0
  l1=$(new_loop a1)
  l2=$(new_loop a2)
  run -d "$IMG" "$pod" sleep 1000 </dev/null || return 1
  wait_status "$pod" RUNNING || return 1
  qpid=$(qemu_of "$pod")
  in_pod "$pod" -d --device "$l1" --device "$l2" "$IMG" "$c" sleep 1000 </dev/null || return 1
  wait_status "$c" RUNNING || return 1
  for l in "$l1" "$l2"; do
    out=$(ex "$c" sh -c "head -c 4096 $l | md5sum | cut -d' ' -f1")
    [ "$out" = "$(host_md5 "$l")" ] || { log "$l: md5 inside '$out', host $(host_md5 "$l")"; rc=1; }
    nums=$(guest_numbers "$c" "$l")
    log "$l: host $(stat -c '%Hr %Lr' "$l"), guest ${nums:-?}"
    [ -n "$nums" ] && [ "${nums%% *}" != 7 ] || { log "$l does not have guest numbers: $(ex "$c" ls -l "$l")"; rc=1; }
    out=$(ex "$c" cat "/sys/dev/block/${nums// /:}/uevent" | sed -n 's/^DEVNAME=//p')
    echo "$out" | grep -qx 'vd[a-z]' || { log "guest ${nums// /:} is '$out', not a virtio disk"; rc=1; }
    holds "$qpid" "$l" || { log "QEMU does not hold $l"; rc=1; }
  done
  remove "$c"
  for l in "$l1" "$l2"; do holds "$qpid" "$l" && { log "QEMU still holds $l"; rc=1; }; done
  out=$(ex "$pod" ls /sys/block)
  echo "$out" | grep -q '^vd' && { log "virtio disks left in the VM: $out"; rc=1; }
  remove "$pod"
  for l in "$l1" "$l2"; do free_on_host "$l" || { log "$l is not free"; rc=1; }; done
  nothing_left "$pod" "$c" || rc=1
  return $rc
}

t_pod() {  # two containers of one pod, each with its own device; the cgroup allows only it
  local pod=$PREFIX-p2 c2=$PREFIX-c2 c3=$PREFIX-c3 l1 l2 n2 n3 out qpid rc=0
  l1=$(new_loop b1)
  l2=$(new_loop b2)
  run -d "$IMG" "$pod" sleep 1000 </dev/null || return 1
  wait_status "$pod" RUNNING || return 1
  qpid=$(qemu_of "$pod")
  in_pod "$pod" -d --device "$l1" "$IMG" "$c2" sleep 1000 </dev/null || return 1
  in_pod "$pod" -d --cap-add CAP_MKNOD --device "$l2" "$IMG" "$c3" sleep 1000 </dev/null || return 1
  wait_status "$c3" RUNNING || return 1
  n2=$(guest_numbers "$c2" "$l1")
  n3=$(guest_numbers "$c3" "$l2")
  log "guest numbers: $c2 $l1 = $n2, $c3 $l2 = $n3"
  [ -n "$n2" ] && [ -n "$n3" ] && [ "$n2" != "$n3" ] || { log "bad guest numbers"; return 1; }
  [ "$(ex "$c2" sh -c "head -c 4096 $l1 | md5sum | cut -d' ' -f1")" = "$(host_md5 "$l1")" ] ||
    { log "$c2 reads wrong bytes"; rc=1; }
  [ "$(ex "$c3" sh -c "head -c 4096 $l2 | md5sum | cut -d' ' -f1")" = "$(host_md5 "$l2")" ] ||
    { log "$c3 reads wrong bytes"; rc=1; }
  ex "$c3" ls "$l1" >/dev/null 2>&1 && { log "$c3 sees $c2's $l1"; rc=1; }
  out=$(ex "$c3" sh -c "mknod /dev/other b $n2 && echo mknod-ok; head -c 1 /dev/other >/dev/null 2>&1 && echo opened || echo denied")
  log "$c3 opening $c2's device ($n2): $(echo "$out" | tr '\n' ' ')"
  echo "$out" | grep -qx mknod-ok && echo "$out" | grep -qx denied ||
    { log "the device cgroup of $c3 lets it open $c2's device"; rc=1; }
  remove "$c2" "$c3"
  out=$(ex "$pod" ls /sys/block)
  echo "$out" | grep -q '^vd' && { log "virtio disks left in the VM: $out"; rc=1; }
  for l in "$l1" "$l2"; do
    holds "$qpid" "$l" && { log "QEMU still holds $l"; rc=1; }
    free_on_host "$l" || { log "$l is not free while the pod runs"; rc=1; }
  done
  remove "$pod"
  for l in "$l1" "$l2"; do
    losetup -d "$l" || { log "losetup -d $l failed"; rc=1; }
    losetup "$l" >/dev/null 2>&1 && { log "$l still set up after losetup -d"; rc=1; }
  done
  nothing_left "$pod" "$c2" "$c3" || rc=1
  return $rc
}

t_bad_input() {
  local c=$PREFIX-bad1 c2=$PREFIX-bad2 c3=$PREFIX-bad3 holder=$PREFIX-hold l out rc=0
  # ctr itself refuses these (it reads the device's numbers for the spec); it leaves the
  # snapshot it prepared, which is ctr's, not the runtime's: removed here.
  out=$(run --rm --device /dev/kata-no-such-device "$IMG" "$c" true 2>&1 </dev/null) &&
    { log "a missing device path was accepted"; rc=1; }
  log "missing path: $out"
  echo "$out" | grep -q "kata-no-such-device" || { log "the error does not name the path"; rc=1; }
  echo "plain" > "$T/plain"
  out=$(run --rm --device "$T/plain" "$IMG" "$c2" true 2>&1 </dev/null) &&
    { log "a plain file was accepted as a device"; rc=1; }
  log "plain file: $out"
  echo "$out" | grep -qi "not a device" || { log "the error does not say it is not a device"; rc=1; }
  $CTR snapshots rm "$c" "$c2" >/dev/null 2>&1
  nothing_left "$c" "$c2" || rc=1
  c=$c3
  l=$(new_loop h1)
  run -d --device "$l" "$IMG" "$holder" sleep 1000 </dev/null || return 1
  wait_status "$holder" RUNNING || return 1
  out=$(run --rm --device "$l" "$IMG" "$c" true 2>&1 </dev/null) &&
    { log "a device held by another sandbox was given again"; rc=1; }
  log "held by another sandbox: $out"
  echo "$out" | grep -q "device $l is in use" || { log "the error does not say it is in use"; rc=1; }
  $CTR snapshots rm "$c" >/dev/null 2>&1
  nothing_left "$c" || rc=1
  [ "$(ex "$holder" sh -c "head -c 4096 $l | md5sum | cut -d' ' -f1")" = "$(host_md5 "$l")" ] ||
    { log "the holder lost its device"; rc=1; }
  remove "$holder"
  free_on_host "$l" || { log "$l is not free"; rc=1; }
  nothing_left "$holder" || rc=1
  return $rc
}

t_block_volume() {  # ext4 on a loop device, bind-mounted: mounted in the guest from the disk
  local c=$PREFIX-vol l out rc=0
  truncate -s 16M "$T/vol.img" && mkfs.ext4 -q -F "$T/vol.img" || return 1
  l=$(losetup -f --show "$T/vol.img") || return 1
  echo "$l" >> "$T/loops"
  out=$(run --rm --mount "type=bind,src=$l,dst=/data,options=rbind:rw" "$IMG" "$c" \
    sh -c 'echo written-inside > /data/hello.txt && sync && cat /data/hello.txt && grep " /data " /proc/mounts' \
    2>&1 </dev/null) || { log "ctr run failed: $out"; rc=1; }
  log "in the container: $(echo "$out" | tr '\n' '|')"
  echo "$out" | grep -qx written-inside || { log "the file was not written inside"; rc=1; }
  echo "$out" | grep -q "^/dev/vd[a-z] /data ext4 rw" || { log "/data is not the disk, ext4, rw"; rc=1; }
  free_on_host "$l" || { log "$l is not free"; rc=1; }
  out=$(debugfs -R "cat /hello.txt" "$l" 2>/dev/null)
  [ "$out" = written-inside ] || { log "on the host device: '$out'"; rc=1; }
  # Read-only: the mount is, writes fail.
  out=$(run --rm --mount "type=bind,src=$l,dst=/data,options=rbind:ro" "$IMG" "$c" \
    sh -c 'cat /data/hello.txt; { echo x > /data/other; } 2>/dev/null && echo wrote || echo refused' \
    2>&1 </dev/null) || { log "ctr run (ro) failed: $out"; rc=1; }
  [ "$out" = "$(printf 'written-inside\nrefused')" ] || { log "read-only volume: '$out'"; rc=1; }
  nothing_left "$c" || rc=1
  return $rc
}

t_block_rootfs() {  # a block-device rootfs (loopsnap, as devmapper): hot-plugged, the guest's /
  # In a pod, so that the VM outlives the container and its unplug shows.
  local pod=$PREFIX-rp c=$PREFIX-root dev qpid out rc=0 i left
  run -d "$IMG" "$pod" sleep 1000 </dev/null || return 1
  wait_status "$pod" RUNNING || return 1
  qpid=$(qemu_of "$pod")
  out=$(in_pod "$pod" -d --snapshotter loopsnap "$IMG" "$c" sleep 1000 2>&1 </dev/null) ||
    { log "ctr run failed: $out"; remove "$pod"; return 1; }
  wait_status "$c" RUNNING || rc=1
  dev=$($CTR snapshots --snapshotter loopsnap mounts /mnt "$c" | grep -o '/dev/loop[0-9]*')
  [ -b "$dev" ] || { log "no loop device for snapshot $c: '$dev'"; remove "$c" "$pod"; return 1; }
  log "snapshot $c is $dev"
  holds "$qpid" "$dev" || { log "QEMU ($qpid) does not hold $dev"; rc=1; }
  grep -q "^$dev " /proc/mounts && { log "$dev is mounted on the host"; rc=1; }
  out=$(ex "$c" sh -c 'grep " / " /proc/mounts; echo inside > /written && cat /written; ls /bin/busybox')
  log "in the container: $(echo "$out" | tr '\n' '|')"
  echo "$out" | grep -q "^/dev/vd[a-z] / ext4 rw" || { log "/ is not the disk, ext4, rw"; rc=1; }
  echo "$out" | grep -qx inside || { log "cannot write to /"; rc=1; }
  echo "$out" | grep -qx /bin/busybox || { log "the image is not there"; rc=1; }
  ex "$c" sync
  out=$(debugfs -R "cat /written" "$dev" 2>/dev/null)
  [ "$out" = inside ] || { log "on the host's device: '$out'"; rc=1; }
  remove "$c"
  # The VM still runs the pod: the disk left it and QEMU let the device go.
  out=$(ex "$pod" ls /sys/block)
  echo "$out" | grep -q '^vd' && { log "virtio disks left in the VM: $out"; rc=1; }
  holds "$qpid" "$dev" && { log "QEMU still holds $dev"; rc=1; }
  # containerd removes the snapshot in its garbage collection, just after the delete
  # (loopsnap refuses while anything holds the device).
  for i in $(seq 100); do
    left=$(losetup -n -O NAME,BACK-FILE | grep -F "$T/snap/")
    [ -z "$left" ] && break
    sleep 0.1
  done
  [ -z "$left" ] || { log "loop devices of loopsnap left: $left; $(tail -3 "$T/snap.log")"; rc=1; }
  remove "$pod"
  nothing_left "$pod" "$c" || rc=1
  return $rc
}

[ -n "${E2E_ONLY:-}" ] && log "only the cases matching '$E2E_ONLY'"
check "one-device: two devices in one container, host bytes, guest numbers" t_one_device
check "pod: a device per container, the cgroup allows only its own, unplugged" t_pod
check "bad-input: missing path, plain file, device of another sandbox" t_bad_input
check "block-volume: a bind-mounted block device, written inside, on the host after" \
  t_block_volume
check "block-rootfs: a block-device rootfs (devmapper-like) is hot-plugged and is /" \
  t_block_rootfs
log "$PASSED passed, $FAILED failed"
[ $FAILED -eq 0 ] && [ $PASSED -gt 0 ]
