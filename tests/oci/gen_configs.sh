#!/bin/bash
# Generates real OCI runtime-spec config.json files, written by the tools that write them in
# production, into OUTDIR (one NAME.json per config; their names are printed on stdout):
#
#   runc-spec, runc-spec-rootless, crun-spec, crun-spec-rootless
#       `runc spec` / `crun spec` [--rootless] in a temp dir.
#   containerd-*
#       the config.json containerd 1.6 writes into a real task bundle: a private containerd
#       (own config, root, state and sockets under a temp dir) imports a busybox-static image
#       built here, `ctr run -d` starts containers with varied options, and each bundle's
#       config.json is copied out before everything is torn down.
#
# Usage: gen_configs.sh OUTDIR [--only NAME]   (--only: generate just that one config)
#
# Needs root and: runc, crun, containerd, ctr, containerd-shim-runc-v2, busybox-static.
# A missing tool is an error, never a skip. On exit (success or not) nothing it started is
# left: no containerd, shim, task, mount, cgroup or temp dir.
set -euo pipefail
# The private containerd (tools/lib/containerd.sh; in Bazel's runfiles too, as a data dependency).
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib/containerd.sh"

# Bazel tests run with PATH=/bin:/usr/bin:/usr/local/bin; runc lives in /usr/sbin.
export PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

die() { echo "gen_configs: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: gen_configs.sh OUTDIR [--only NAME]"
OUT="$1"; shift
ONLY=""
if [[ "${1:-}" == "--only" ]]; then ONLY="${2:?--only needs a name}"; fi
mkdir -p "${OUT}"
OUT="$(cd "${OUT}" && pwd)"

wanted() { [[ -z "${ONLY}" || "${ONLY}" == "$1" ]]; }

need() {
  local tool="$1" pkg="$2"
  command -v "${tool}" >/dev/null 2>&1 ||
    die "required tool '${tool}' not found (Debian package: ${pkg}); install it (tools/setup does)"
}
need runc runc
need crun crun
need containerd containerd
need ctr containerd
need containerd-shim-runc-v2 containerd
need busybox busybox-static
need sha256sum coreutils
need tar tar
need script bsdutils
need unshare util-linux
[[ "$(id -u)" == 0 ]] || die "must run as root (starts containerd and containers)"

BUSYBOX="$(command -v busybox)"
# The image has no libc: the busybox must be the static one.
if ldd "${BUSYBOX}" >/dev/null 2>&1; then
  die "${BUSYBOX} is dynamically linked; install busybox-static"
fi

# --- runc / crun spec -------------------------------------------------------------------
spec_of() {  # NAME TOOL ARGS...
  local name="$1"; shift
  wanted "${name}" || return 0
  local d; d="$(mktemp -d)"
  (cd "${d}" && "$@" >/dev/null) || { rm -rf "${d}"; die "'$*' failed"; }
  mv "${d}/config.json" "${OUT}/${name}.json"
  rmdir "${d}"
  echo "${name}"
}
spec_of runc-spec runc spec
spec_of runc-spec-rootless runc spec --rootless
spec_of crun-spec crun spec
spec_of crun-spec-rootless crun spec --rootless

if [[ -n "${ONLY}" && "${ONLY}" != containerd-* ]]; then exit 0; fi

# --- containerd -------------------------------------------------------------------------
# Everything (sockets included, whose paths must stay under ~100 chars) lives in one short
# temp root; cleanup unmounts whatever is still mounted below it before removing it.
T="$(mktemp -d /tmp/kcfg.XXXX)"
# Containers in a user namespace must be able to traverse to their rootfs.
chmod 0711 "${T}"
SOCK="${T}/c.sock"  # the socket containerd_start gives containerd
NS="kcfg$$"
IDS=()

ctrc() { ctr -a "${SOCK}" -n "${NS}" "$@"; }

cleanup() {
  local rc=$?
  set +e
  local id
  # Every task (SIGKILL) and container, then containerd itself.
  containerd_stop
  # If containerd could not delete them, delete our containers with runc directly (the state
  # root the shim gives runc), then end our shims: those whose -address is our socket.
  local f p
  if [[ -d "/run/containerd/runc/${NS}" ]]; then
    for id in "${IDS[@]}"; do
      runc --root "/run/containerd/runc/${NS}" delete --force "${id}" >/dev/null 2>&1
    done
  fi
  for f in $(grep -lzxF -- "${SOCK}" /proc/[0-9]*/cmdline 2>/dev/null); do
    p="${f#/proc/}"; p="${p%/cmdline}"
    [[ "$(cat "/proc/${p}/comm" 2>/dev/null)" == containerd-shim* ]] && kill -KILL "${p}"
  done
  # runc removes each container's cgroup; the namespace's parent cgroup is ours to remove.
  local c
  for c in /sys/fs/cgroup/*/"${NS}" /sys/fs/cgroup/"${NS}"; do
    [[ -d "${c}" ]] && rmdir "${c}" 2>/dev/null
  done
  # The shim keeps runc's state root per namespace under /run/containerd/runc.
  [[ -d "/run/containerd/runc/${NS}" ]] && rmdir "/run/containerd/runc/${NS}" 2>/dev/null
  # Unmount anything left below the temp root, deepest first; remove it.
  containerd_cleanup "${T}"
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

containerd_start "${T}" \
  --disable io.containerd.internal.v1.opt \
  --disable io.containerd.internal.v1.tracing \
  --disable io.containerd.tracing.processor.v1.otlp \
  --disable io.containerd.snapshotter.v1.aufs \
  --disable io.containerd.snapshotter.v1.btrfs \
  --disable io.containerd.snapshotter.v1.devmapper \
  --disable io.containerd.snapshotter.v1.zfs ||
  die "containerd did not start"

# --- a busybox-static OCI image ---------------------------------------------------------
case "$(uname -m)" in
  x86_64) ARCH=amd64 ;;
  aarch64) ARCH=arm64 ;;
  *) ARCH="$(uname -m)" ;;
esac
REF="docker.io/kata-cpp/busybox:gen"
IMG="${T}/image"
mkdir -p "${IMG}/rootfs/bin" "${IMG}/rootfs/tmp" "${IMG}/layout/blobs/sha256"
cp "${BUSYBOX}" "${IMG}/rootfs/bin/busybox"
for applet in sh sleep ls cat echo true; do ln -s busybox "${IMG}/rootfs/bin/${applet}"; done
chmod 1777 "${IMG}/rootfs/tmp"

blob() {  # FILE -> prints "sha256:HEX SIZE" and stores the blob
  local hex size
  hex="$(sha256sum "$1" | cut -d' ' -f1)"
  size="$(stat -c %s "$1")"
  cp "$1" "${IMG}/layout/blobs/sha256/${hex}"
  echo "sha256:${hex} ${size}"
}

tar --numeric-owner --owner=0 --group=0 -C "${IMG}/rootfs" -cf "${IMG}/layer.tar" .
read -r LAYER_DIGEST LAYER_SIZE < <(blob "${IMG}/layer.tar")
cat >"${IMG}/config.json" <<EOF
{"architecture":"${ARCH}","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["${LAYER_DIGEST}"]}}
EOF
read -r CONFIG_DIGEST CONFIG_SIZE < <(blob "${IMG}/config.json")
cat >"${IMG}/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${CONFIG_DIGEST}","size":${CONFIG_SIZE}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"${LAYER_DIGEST}","size":${LAYER_SIZE}}]}
EOF
read -r MANIFEST_DIGEST MANIFEST_SIZE < <(blob "${IMG}/manifest.json")
cat >"${IMG}/layout/index.json" <<EOF
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"${MANIFEST_DIGEST}","size":${MANIFEST_SIZE},"annotations":{"io.containerd.image.name":"${REF}","org.opencontainers.image.ref.name":"gen"}}]}
EOF
echo '{"imageLayoutVersion":"1.0.0"}' >"${IMG}/layout/oci-layout"
tar -C "${IMG}/layout" -cf "${IMG}/image.tar" oci-layout index.json blobs
ctrc images import "${IMG}/image.tar" >/dev/null
ctrc images ls -q | grep -qx "${REF}" || die "image ${REF} not imported"

# --- containers -------------------------------------------------------------------------
mkdir -p "${T}/share" "${T}/fifo"
# A network namespace of our own, kept by a bind mount under the temp root, to join.
touch "${T}/netns"
unshare --net="${T}/netns" true
echo "shared" >"${T}/share/file"
printf 'FROM_FILE=1\nOTHER=two words\n' >"${T}/env"

BUNDLES="${T}/state/io.containerd.runtime.v2.task/${NS}"

run() {  # NAME ID CTR-RUN-OPTIONS... -- COMMAND...
  local name="$1" id="$2"; shift 2
  wanted "${name}" || return 0
  local opts=()
  while [[ "$1" != "--" ]]; do opts+=("$1"); shift; done
  shift
  IDS+=("${id}")
  local cmd=(ctr -a "${SOCK}" -n "${NS}" run -d --runtime io.containerd.runc.v2
             --fifo-dir "${T}/fifo" "${opts[@]}" "${REF}" "${id}" "$@")
  local ok=0
  if [[ " ${opts[*]} " == *" --tty "* ]]; then
    # ctr insists on a console of its own for --tty, even detached: lend it a pty.
    script -qec "$(printf '%q ' "${cmd[@]}")" /dev/null </dev/null >"${T}/${id}.out" 2>&1 || ok=$?
  else
    "${cmd[@]}" </dev/null >"${T}/${id}.out" 2>&1 || ok=$?
  fi
  if [[ "${ok}" != 0 ]]; then
    cat "${T}/${id}.out" >&2
    tail -n 20 "${T}/containerd.log" >&2
    die "ctr run ${id} (${opts[*]}) failed"
  fi
  cp "${BUNDLES}/${id}/config.json" "${OUT}/${name}.json"
  echo "${name}"
}

run containerd-plain plain --null-io -- sleep 60
run containerd-tty tty --tty --net-host --rootfs-propagation rslave -- sleep 60
run containerd-resources resources --null-io \
  --memory-limit 67108864 --cpus 0.5 --cpu-shares 512 \
  --env FOO=bar --env 'WITH_SPACE=a b' --env-file "${T}/env" --cwd /tmp \
  --mount "type=bind,src=${T}/share,dst=/share,options=rbind:ro" \
  --label team=kata --label tier=test --annotation io.katacontainers.test=annotated \
  --device /dev/null \
  -- sleep 60
run containerd-privileged privileged --null-io --privileged -- sleep 60
run containerd-hardened hardened --null-io \
  --seccomp --cap-add CAP_SYS_ADMIN --cap-drop CAP_NET_RAW --read-only \
  --rootfs-propagation slave --cpu-quota 20000 --cpu-period 100000 \
  --with-ns "network:${T}/netns" --cgroup "/${NS}/hardened-custom" \
  -- sleep 60
run containerd-userns userns --null-io --snapshotter native \
  --uidmap 0:100000:65536 --gidmap 0:100000:65536 --allow-new-privs \
  -- sleep 60
