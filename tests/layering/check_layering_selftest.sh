#!/bin/bash
# The checker itself: it must flag each kind of forbidden edge and pass the allowed ones.
set -uo pipefail
checker="$(dirname "$0")/check_layering.py"
fail=0
expect() {  # expect STATUS EDGE...
  local want=$1; shift
  printf '%s\n' "$@" > "$TEST_TMPDIR/g.txt"
  /usr/bin/python3 "$checker" "$TEST_TMPDIR/g.txt" > "$TEST_TMPDIR/out.txt"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: expected exit $want, got $got for: $*"; cat "$TEST_TMPDIR/out.txt"; fail=1
  fi
}
ok='"//src/libs/device:spec_update" -> "//src/libs/oci:spec"'
expect 0 'digraph mygraph {' "$ok" '"//src/agent:x" -> "//src/libs/device:spec_update"' \
  '"//src/runtime/shim:shim" -> "//src/runtime:sandbox"' \
  '"//src/runtime/sandbox:vm_sandbox" -> "//src/runtime/hypervisor:hypervisor"' \
  '"//src/runtime/hypervisor/qemu:factory" -> "//src/runtime/config:config"' \
  '"//src/runtime/shim:shim" -> "//src/runtime/hypervisor/qemu:factory"' \
  '"//src/libs/oci:spec" -> "@system//:absl"' '"//tests/oci:t" -> "//src/libs/oci:oci_tool"' '}'
expect 1 "$ok" '"//src/agent/rpc:server" -> "//src/runtime/hypervisor:hypervisor"'
expect 1 "$ok" '"//src/runtime:sandbox" -> "//src/agent:agent_lib"'
expect 1 "$ok" '"//src/libs/oci:spec" -> "//src/agent:agent_lib"'
expect 1 "$ok" '"//src/libs/oci:spec" -> "//src/libs/device:spec_update"'
expect 1 "$ok" '"//src/runtime:sandbox" -> "//src/libs/device:spec_update"'
expect 1 "$ok" '"//src/runtime/hypervisor/qemu:qemu" -> "//src/runtime:sandbox"'
expect 1 "$ok" '"//src/runtime/sandbox:vm_sandbox" -> "//src/runtime/hypervisor/qemu:qemu"'
expect 1 "$ok" '"//src/runtime/sandbox:vm_link" -> "//src/runtime/hypervisor/qemu:factory"'
expect 1 "$ok" '"//src/runtime/config:config" -> "//src/runtime/hypervisor:hypervisor"'
expect 1 "$ok" '"//src/runtime/hypervisor/qemu:qemu" -> "//src/runtime/sandbox:layout"'
expect 1 "$ok" '"//src/runtime:sandbox" -> "//src/runtime/shim:service"'
expect 1 "$ok" '"//src/libs/ttrpc:ttrpc" -> "//tests/util:helpers"'
expect 1 "$ok" '"//src/runtime/shim:shim" -> "//packaging:deb"'
expect 2 'not a graph'
[ "$fail" = 0 ] && echo "check_layering self-test: all cases behave"
exit "$fail"
