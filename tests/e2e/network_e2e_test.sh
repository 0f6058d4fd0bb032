#!/bin/bash
# End-to-end pod networking (issue 12): a private containerd runs a busybox container in a QEMU
# VM through containerd-shim-kata-v2, in a network namespace the test made and wired with
# Debian's CNI plugins (bridge + host-local from containernetworking-plugins, invoked as
# containerd's CRI does: ADD with the netns path, then the container joins it with
# `ctr run --with-ns network:PATH`). Checks: the container's `ip addr` shows the pod IP and
# MAC; the host fetches a page from `busybox httpd` in the container by the pod IP; the
# container fetches a page from a server the test runs on the bridge's address; 127.0.0.1
# works inside; after removal no tap and no qdisc is left in the netns, and after CNI DEL no
# veth (on the bridge or in the host's netns). The host-side client is curl, or Python's urllib
# where curl is missing.
#
# usage: network_e2e_test.sh SHIM IMAGE_BUILDER [GUEST_IMAGE_FILES...]
#
# Traffic stays between this host and the namespace/VM the test creates, on a private bridge
# with a private subnet (no masquerading, no forwarding, no default route). Needs root.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../../tools/lib/containerd.sh"

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
CNI=/usr/lib/cni
BB=/usr/bin/busybox
BR="kbr$$"
NS="kata-net-e2e-$$"
ID="net-e2e-$$"
SUBNET=10.199.$(( $$ % 200 + 20 ))
HOST_IP=$SUBNET.1
IP=/usr/sbin/ip
TC=/usr/sbin/tc

log() { echo "[net-e2e $(date +%T.%N | cut -c1-12)] $*"; }
die() { log "FATAL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (containerd, namespaces, VMs)"
for f in "$CNI/bridge" "$CNI/host-local" "$BB" "$IP" "$TC"; do
  [ -x "$f" ] || die "$f is missing (tools/setup installs containernetworking-plugins, iproute2, busybox-static)"
done

T=$(mktemp -d /tmp/knet.XXXXXX)
CTR="ctr -a $T/c.sock"
SERVER_PID=""

cni() {  # ADD|DEL: the bridge plugin on the test's netns, as containerd's CRI runs it
  CNI_COMMAND=$1 CNI_CONTAINERID=$ID CNI_NETNS=/run/netns/$NS CNI_IFNAME=eth0 CNI_PATH=$CNI \
    "$CNI/bridge" < "$T/net.conf"
}

cleanup() {
  local rc=$?
  set +e
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  containerd_stop
  [ -e "/run/netns/$NS" ] && cni DEL >/dev/null 2>&1
  $IP netns del "$NS" 2>/dev/null
  $IP link del "$BR" 2>/dev/null
  if [ $rc -ne 0 ] && [ -f "$T/containerd.log" ]; then
    log "containerd log (last 40 lines):"
    tail -40 "$T/containerd.log"
  fi
  containerd_cleanup "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the private bridge, the pod's netns, CNI ----
$IP link add "$BR" type bridge || die "bridge $BR"
$IP addr add "$HOST_IP/24" dev "$BR" || die "address of $BR"
$IP link set "$BR" up || die "$BR up"
$IP netns add "$NS" || die "netns $NS"
cat > "$T/net.conf" <<JSON
{"cniVersion": "1.0.0", "name": "kata-net-e2e", "type": "bridge", "bridge": "$BR",
 "isGateway": false, "ipMasq": false,
 "ipam": {"type": "host-local", "dataDir": "$T/ipam",
          "ranges": [[{"subnet": "$SUBNET.0/24", "gateway": "$HOST_IP"}]]}}
JSON
cni ADD > "$T/cni.json" || die "CNI ADD: $(cat "$T/cni.json")"
POD_IP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"].split("/")[0])' "$T/cni.json")
POD_MAC=$($IP -n "$NS" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
# The veth's host end: the interface CNI reports without a sandbox.
HOST_VETH=$(python3 -c 'import json,sys; print([i["name"] for i in json.load(open(sys.argv[1]))["interfaces"] if not i.get("sandbox") and i["name"].startswith("veth")][0])' "$T/cni.json")
log "pod netns $NS: eth0 $POD_IP $POD_MAC on bridge $BR ($HOST_IP)"
[ -n "$POD_IP" ] && [ -n "$POD_MAC" ] || die "CNI gave no IP/MAC: $(cat "$T/cni.json")"

# ---- containerd with the VM runtime ----
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
valid_hypervisor_paths = ["/usr/bin/qemu-system-x86_64"]

[agent.kata]
dial_timeout = 90

[runtime]
enable_debug = true
internetworking_model = "tcfilter"
TOML
export KATA_CONF_FILE=$T/configuration.toml
containerd_start "$T" --debug || die "containerd did not come up"
python3 "$BUILDER" "$T/busybox.tar" "$IMG" >/dev/null || die "building the busybox image"
$CTR images import "$T/busybox.tar" >/dev/null || die "importing the busybox image"

FAILED=0
fail() { log "FAIL: $*"; FAILED=1; }

timeout 300 $CTR run -d --runtime "$SHIM" --with-ns "network:/run/netns/$NS" "$IMG" "$ID" \
  sh -c 'mkdir -p /www && echo kata-net-inside > /www/index.html && exec httpd -f -p 80 -h /www' \
  </dev/null || die "ctr run failed"
ex() { timeout 60 $CTR task exec --exec-id "x$RANDOM" "$ID" "$@" </dev/null; }
# A host-side HTTP GET: "<status> <body>" from curl if present, else Python's urllib.
host_get() {  # host_get URL
  if command -v curl >/dev/null; then
    curl -sS --max-time 5 -o "$T/body" -w '%{http_code}' "$1" 2>/dev/null && echo " $(cat "$T/body")"
  else
    python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    print(r.status, r.read().decode().strip())
PY
  fi
}

# The NIC and tc wiring on the host side.
$IP -n "$NS" -o link show tap0_kata >/dev/null 2>&1 || fail "no tap0_kata in $NS"
$TC -n "$NS" filter show dev eth0 ingress | grep -q tap0_kata || fail "no redirect eth0 -> tap0_kata"
$TC -n "$NS" filter show dev tap0_kata ingress | grep -q eth0 || fail "no redirect tap0_kata -> eth0"

addr=$(ex ip addr)
log "container ip addr: $(echo "$addr" | grep -E 'inet |link/ether' | tr -s ' ' | tr '\n' ';')"
echo "$addr" | grep -q "inet $POD_IP/24" || fail "the container has no $POD_IP/24"
echo "$addr" | grep -q "link/ether $POD_MAC" || fail "the container's NIC has not the MAC $POD_MAC"

# Host -> container by the pod IP, with a host-side HTTP client (the server may take a moment
# after the VM boots).
page=""
for _ in $(seq 30); do
  page=$(host_get "http://$POD_IP/")
  [ "$page" = "200 kata-net-inside" ] && break
  sleep 1
done
[ "$page" = "200 kata-net-inside" ] || fail "host fetch from http://$POD_IP/: '$page'"

# Container -> a server on the bridge address.
mkdir -p "$T/www" && echo kata-net-host > "$T/www/index.html"
$BB httpd -f -p "$HOST_IP:8081" -h "$T/www" &
SERVER_PID=$!
sleep 0.5
page=$(ex sh -c "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 $HOST_IP 8081 | tail -1")
[ "$page" = kata-net-host ] || fail "container fetch from http://$HOST_IP:8081/: '$page'"

# Loopback inside.
page=$(ex sh -c "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 127.0.0.1 80 | tail -1")
[ "$page" = kata-net-inside ] || fail "container fetch from 127.0.0.1: '$page'"
[ "$page" = kata-net-inside ] || log "container: $(ex sh -c 'ps; netstat -ltn; wget -O- http://127.0.0.1/ 2>&1' 2>&1)"

# Removal: no tap, no qdisc left in the netns; after CNI DEL no veth on the bridge.
timeout 60 $CTR task kill -s KILL "$ID" >/dev/null 2>&1
for _ in $(seq 100); do $CTR task ls | grep -q "^$ID .*STOPPED" && break; sleep 0.2; done
timeout 120 $CTR task rm -f "$ID" >/dev/null || fail "task rm"
$CTR c rm "$ID" >/dev/null || fail "container rm"
for _ in $(seq 50); do $IP -n "$NS" -o link | grep -q tap0_kata || break; sleep 0.2; done
$IP -n "$NS" -o link | grep -q tap0_kata && fail "tap0_kata left in $NS"
$TC -n "$NS" qdisc show | grep -q ingress && fail "ingress qdisc left in $NS: $($TC -n "$NS" qdisc show)"
$IP -n "$NS" -o link show type tun | grep -q . && fail "tap left in $NS: $($IP -n "$NS" -o link show type tun)"
cni DEL >/dev/null || fail "CNI DEL"
$IP netns del "$NS"
[ -z "$($IP -o link show master "$BR")" ] || fail "links left on $BR: $($IP -o link show master "$BR")"
[ -n "$HOST_VETH" ] && $IP link show "$HOST_VETH" >/dev/null 2>&1 && fail "host veth $HOST_VETH left"
$IP -o link show | grep -q _kata && fail "a kata tap in the host netns: $($IP -o link show | grep _kata)"

if [ $FAILED -ne 0 ]; then
  log "shim/VM logs:"; grep -h "network\|tap\|NIC" "$T/containerd.log" | tail -20
  exit 1
fi
log "PASS"
