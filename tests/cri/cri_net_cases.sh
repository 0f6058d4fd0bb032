# shellcheck shell=bash
# The pod network cases of cri_e2e_test.sh (issue 12; sourced by it after cri_cases.sh, using
# their helpers), for runc and kata alike: DNS and hosts as containerd writes them, and the
# pod IP serving the host over the CNI bridge.

# The files containerd's CRI writes for a pod (its sandbox root) and bind-mounts into each of
# its containers.
pod_file() {  # pod_file POD_ID NAME
  echo "$T/root/io.containerd.grpc.v1.cri/sandboxes/$1/$2"
}

# A host-side HTTP GET, "<status> <body>": curl if present, else Python's urllib.
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

body_net() {
  local h=$1 ok=0 c f want got ip page i
  c=$(run_container "$POD" "$CFG" web \
      '["mkdir -p /www && echo kcri-net-'"$h"' > /www/index.html && exec httpd -f -p 80 -h /www"]') ||
    { fail "web"; return 1; }
  wait_state "$c" CONTAINER_RUNNING 120 || return 1

  # /etc/resolv.conf, /etc/hosts and /etc/hostname: what containerd wrote, byte for byte.
  f=$(pod_file "$POD" resolv.conf)
  grep -qx "nameserver 192.0.2.53" "$f" && grep -qx "search kcri.example svc.kcri.example" "$f" &&
    grep -qx "options ndots:3" "$f" || fail "containerd's resolv.conf: $(cat "$f")" || ok=1
  for f in resolv.conf hosts hostname; do
    want=$(cat "$(pod_file "$POD" "$f")") || { fail "no $f for pod $POD"; ok=1; continue; }
    got=$(exec_in "$c" cat "/etc/$f") || fail "cat /etc/$f" || ok=1
    expect_eq "/etc/$f" "$got" "$want" || ok=1
    expect_eq "/etc/$f sha256" "$(exec_in "$c" sha256sum "/etc/$f" | cut -d' ' -f1)" \
      "$(sha256sum "$(pod_file "$POD" "$f")" | cut -d' ' -f1)" || ok=1
  done
  expect_eq "/etc/hostname" "$(exec_in "$c" cat /etc/hostname)" "net-$h-host" || ok=1
  expect_eq "hostname" "$(exec_in "$c" hostname)" "net-$h-host" || ok=1

  # Host -> container by the pod IP, over the CNI bridge (the server may need a moment).
  ip=$(cri inspectp "$POD" | json 'd["status"].get("network", {}).get("ip", "")')
  for i in $(seq 30); do
    page=$(host_get "http://$ip/")
    [ "$page" = "200 kcri-net-$h" ] && break
    sleep 1
  done
  expect_eq "GET http://$ip/ from the host" "$page" "200 kcri-net-$h" || ok=1
  return $ok
}

t_net() {
  local h=$1 rc=0
  CFG=$(pod_config "net-$h" "")
  python3 - "$CFG" "net-$h-host" <<'PY' || { fail "pod config"; return 1; }
import json, sys
d = json.load(open(sys.argv[1]))
d["hostname"] = sys.argv[2]
d["dns_config"] = {"servers": ["192.0.2.53"], "searches": ["kcri.example", "svc.kcri.example"],
                   "options": ["ndots:3"]}
json.dump(d, open(sys.argv[1], "w"))
PY
  CGROUP=$(json 'd["linux"]["cgroup_parent"]' < "$CFG")
  POD=$(cri runp --runtime "$h" "$CFG") || { fail "RunPodSandbox ($h)"; return 1; }
  body_net "$h" || rc=1
  remove_pod "$POD" "$CGROUP" || rc=1
  return $rc
}
