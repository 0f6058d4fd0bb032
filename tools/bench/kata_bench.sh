# Shared by the ctr-based benchmarks (ctr_run.sh, start_waterfall.sh); sourced, not run.
#
#   kata_bench_build NAME [TARGETS...]  builds the statically linked shim, the guest image and
#                                       TARGETS with BAZEL_FLAGS (default "-c opt", as packaged;
#                                       "" for the tests' fastbuild binaries); sets BIN, SHIM,
#                                       GUEST; NAME prefixes the error.
#   kata_bench_config FILE [LINES...]   writes a configuration like the shipped one's VM
#                                       (TCG, q35, 1 vCPU, 256 MiB, reclaim_guest_freed_memory,
#                                       9p) on that image; LINES are appended (more sections).
kata_bench_build() {
  local name=$1
  shift
  FLAGS=${BAZEL_FLAGS--c opt}
  bazel build $FLAGS //src/runtime/shim:containerd-shim-kata-v2 //tools/osbuilder:image_x86_64 \
    "$@" >/dev/null 2>&1 || { echo "$name: bazel build failed" >&2; return 1; }
  BIN=$(bazel info $FLAGS bazel-bin 2>/dev/null)
  SHIM=$BIN/src/runtime/shim/containerd-shim-kata-v2
  GUEST=$BIN/tools/osbuilder/image_x86_64
}

kata_bench_config() {
  local file=$1
  shift
  cat > "$file" <<TOML
[hypervisor.qemu]
path = "/usr/bin/qemu-system-x86_64"
kernel = "$GUEST/vmlinux.container"
initrd = "$GUEST/kata-containers-initrd.img"
machine_type = "q35"
accelerator = "tcg"
default_vcpus = 1
default_memory = 256
reclaim_guest_freed_memory = true
shared_fs = "virtio-9p"
valid_hypervisor_paths = ["/usr/bin/qemu-system-x86_64"]
[agent.kata]
dial_timeout = 90
TOML
  local line
  for line in "$@"; do echo "$line" >> "$file"; done
}
