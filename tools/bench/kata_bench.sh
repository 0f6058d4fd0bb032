# Shared by the ctr-based benchmarks (ctr_run.sh, start_waterfall.sh, hotplug.sh, shared_fs.sh);
# sourced, not run.
#
#   kata_bench_build NAME [TARGETS...]  builds the statically linked shim, the guest image
#                                       (KATA_BENCH_IMAGE, default image_x86_64) and TARGETS
#                                       with BAZEL_FLAGS (unset: "-c opt", as packaged; "" for
#                                       the tests' fastbuild binaries); sets BIN, SHIM, GUEST;
#                                       NAME prefixes the error.
#   kata_bench_config FILE MEMORY_MIB SHARED_FS [LINES...] [-- MORE...]
#                                       writes a configuration for a TCG q35 VM with 1 vCPU on
#                                       that image: LINES go into [hypervisor.qemu], then
#                                       [agent.kata] (dial_timeout 90) and MORE after it (more
#                                       of [agent.kata], then other sections).
kata_bench_build() {
  local name=$1
  shift
  FLAGS=${BAZEL_FLAGS--c opt}
  local image=${KATA_BENCH_IMAGE:-image_x86_64}
  bazel build $FLAGS //src/runtime/shim:containerd-shim-kata-v2 "//tools/osbuilder:$image" \
    "$@" >/dev/null 2>&1 || { echo "$name: bazel build failed" >&2; return 1; }
  BIN=$(bazel info $FLAGS bazel-bin 2>/dev/null)
  SHIM=$BIN/src/runtime/shim/containerd-shim-kata-v2
  GUEST=$BIN/tools/osbuilder/$image
}

kata_bench_config() {
  local file=$1 memory=$2 shared_fs=$3
  shift 3
  cat > "$file" <<TOML
[hypervisor.qemu]
path = "/usr/bin/qemu-system-x86_64"
kernel = "$GUEST/vmlinux.container"
initrd = "$GUEST/kata-containers-initrd.img"
machine_type = "q35"
accelerator = "tcg"
default_vcpus = 1
default_memory = $memory
shared_fs = "$shared_fs"
valid_hypervisor_paths = ["/usr/bin/qemu-system-x86_64"]
TOML
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    echo "$1" >> "$file"
    shift
  done
  [ $# -gt 0 ] && shift  # the --
  printf '[agent.kata]\ndial_timeout = 90\n' >> "$file"
  local line
  for line in "$@"; do echo "$line" >> "$file"; done
}
