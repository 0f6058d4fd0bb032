# shellcheck shell=bash
# A private containerd with its CRI plugin, for the CRI end-to-end test and tools/bench/cri_pod.sh:
#
#   source tests/cri/cri_lib.sh          # (sources tools/lib/containerd.sh)
#   cri_setup DIR CRI_CTL SHIM PAUSE_BIN MAKE_PAUSE MAKE_BUSYBOX [GUEST_FILES...]
#   cri runp --runtime kata pod.json     # cri-ctl on the private endpoint
#   cri_teardown                         # e.g. from an EXIT trap; safe to call twice
#
# cri_setup writes, under DIR (short: socket paths): the kata-cpp configuration
# (CRI_KATA_CONFIG: q35, TCG, 1 vCPU, 512 MiB, 9p, the guest kernel vmlinux.container and
# initrd *.img among GUEST_FILES), a CNI conflist (bridge + host-local from Debian's
# containernetworking-plugins in /usr/lib/cni, on a private bridge CRI_BRIDGE with subnet
# CRI_SUBNET, IPAM data in DIR/ipam), the CRI plugin's table (sandbox_image = CRI_PAUSE_IMAGE,
# restrict_oom_score_adj, runtime handlers `runc` (default) and `kata` = io.containerd.kata.v2
# with ConfigPath CRI_KATA_CONFIG; SHIM is linked as DIR/bin/containerd-shim-kata-v2, first
# in containerd's PATH), starts containerd (containerd.sh) and
# imports the pause and busybox (CRI_BUSYBOX_IMAGE) images into the k8s.io namespace.
# cri_teardown stops and removes every pod still there, stops containerd, removes DIR and the
# bridge. Sets CRI_DIR, CRI_SOCK, CRI_CTL. Functions return non-zero with a message on failure.
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib/containerd.sh"

CRI_DIR=""
CRI_SOCK=""
CRI_CTL=""
CRI_KATA_CONFIG=""
CRI_BRIDGE=""
CRI_SUBNET=""
CRI_PAUSE_IMAGE=registry.k8s.io/pause:kata-cri
CRI_BUSYBOX_IMAGE=docker.io/library/busybox:kata-cri
CRI_CNI_BIN=/usr/lib/cni

_cri_err() { echo "cri_lib.sh: $*" >&2; }

cri() { "$CRI_CTL" --endpoint "$CRI_SOCK" "$@"; }

_cri_write_kata_config() {  # file kernel initrd
  cat > "$1" <<TOML
[hypervisor.qemu]
path = "/usr/bin/qemu-system-x86_64"
kernel = "$2"
initrd = "$3"
machine_type = "q35"
accelerator = "tcg"
default_vcpus = 1
default_maxvcpus = 4
default_memory = 512
shared_fs = "virtio-9p"
valid_hypervisor_paths = ["/usr/bin/qemu-system-x86_64"]

[agent.kata]
dial_timeout = 90

[runtime]
enable_debug = true
sandbox_cgroup_only = true
static_sandbox_resource_mgmt = true
TOML
}

_cri_write_cni() {  # dir
  mkdir -p "$1/net.d" "$1/ipam"
  cat > "$1/net.d/10-kcri.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "kcri",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CRI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$1/ipam",
        "ranges": [[{"subnet": "$CRI_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
JSON
}

_cri_write_plugin_config() {  # file dir
  cat > "$1" <<TOML
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$CRI_PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  stats_collect_period = 1
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CRI_CNI_BIN"
    conf_dir = "$2/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata]
      runtime_type = "io.containerd.kata.v2"
      pod_annotations = ["io.katacontainers.*"]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata.options]
        ConfigPath = "$CRI_KATA_CONFIG"
TOML
}

cri_setup() {
  local dir=${1:?cri_setup: DIR} crictl shim pause make_pause make_busybox f
  crictl=$(readlink -f "${2:?CRI_CTL}")
  shim=$(readlink -f "${3:?SHIM}")
  pause=$(readlink -f "${4:?PAUSE_BIN}")
  make_pause=$(readlink -f "${5:?MAKE_PAUSE}")
  make_busybox=$(readlink -f "${6:?MAKE_BUSYBOX}")
  shift 6
  local kernel=/usr/share/kata-containers/vmlinux.container
  local initrd=/usr/share/kata-containers/kata-containers-initrd.img
  for f in "$@"; do
    case "$f" in
      *vmlinux.container) kernel=$(readlink -f "$f") ;;
      *.img) initrd=$(readlink -f "$f") ;;
    esac
  done
  for f in "$kernel" "$initrd" "$CRI_CNI_BIN/bridge" "$CRI_CNI_BIN/host-local" \
           "$CRI_CNI_BIN/loopback"; do
    [ -e "$f" ] || { _cri_err "$f is missing (tools/setup; the guest image)"; return 1; }
  done
  CRI_DIR=$dir
  CRI_CTL=$crictl
  CRI_SOCK=$dir/c.sock
  CRI_KATA_CONFIG=$dir/kata.toml
  # A bridge name (at most 15 bytes) and a /24 of their own, from the directory's name.
  local n=$(( $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 200 + 20 ))
  CRI_BRIDGE=kcri$n-$$
  CRI_BRIDGE=${CRI_BRIDGE:0:15}
  CRI_SUBNET=10.213.$n.0/24
  _cri_write_kata_config "$CRI_KATA_CONFIG" "$kernel" "$initrd"
  _cri_write_cni "$dir"
  _cri_write_plugin_config "$dir/cri.toml" "$dir"
  # containerd 1.6's CRI finds a runtime's shim as containerd-shim-<name>-v2 in its PATH
  # (runtime_path is not used by the CRI plugin there).
  mkdir -p "$dir/bin"
  ln -sf "$shim" "$dir/bin/containerd-shim-kata-v2"
  PATH=$dir/bin:$PATH containerd_start "$dir" --cri --debug --append "$dir/cri.toml" || return 1
  python3 "$make_pause" "$dir/pause.tar" "$CRI_PAUSE_IMAGE" "$pause" || return 1
  python3 "$make_busybox" "$dir/busybox.tar" "$CRI_BUSYBOX_IMAGE" || return 1
  local img
  for img in pause busybox; do
    ctr -a "$CRI_SOCK" -n k8s.io images import "$dir/$img.tar" >/dev/null ||
      { _cri_err "importing the $img image"; return 1; }
  done
}

# Every pod's id ("" when containerd does not answer).
cri_pod_ids() {
  cri pods 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin).get("items", []): print(p["id"])' 2>/dev/null
}

cri_teardown() {
  local -
  set +e
  [ -n "$CRI_DIR" ] || return 0
  local id
  if [ -n "$CONTAINERD_PID" ]; then
    for id in $(cri_pod_ids); do
      cri stopp "$id" >/dev/null 2>&1
      cri rmp "$id" >/dev/null 2>&1
    done
  fi
  containerd_cleanup "$CRI_DIR"
  [ -n "$CRI_BRIDGE" ] && ip link del "$CRI_BRIDGE" >/dev/null 2>&1
  CRI_DIR=""
  return 0
}
