#!/bin/bash
# Builds one libFuzzer target (kata_cc_fuzzer in bazel/kata.bzl) with clang, libFuzzer, ASan
# and UBSan (`bazel build --config=fuzz`) and fuzzes it for SECONDS.
#
#   tools/fuzz/run.sh NAME [SECONDS] [libFuzzer flags...]     SECONDS defaults to 60
#   tools/fuzz/run.sh --list
#
# NAME is one of the targets below. The working corpus, /tmp/kata-fuzz/NAME/corpus
# ($KATA_FUZZ_DIR), starts from the checked-in seeds and grows from run to run; crash inputs go
# to /tmp/kata-fuzz/NAME/artifacts/. Replay one under the g++ build with
#   bazel run //<package>:<target>_regression -- /tmp/kata-fuzz/NAME/artifacts/crash-...
# and, once fixed, add it to the checked-in corpus so `bazel test` keeps replaying it.
# One process, one thread (no -jobs): the machine is shared. Exits non-zero on any crash, sanitizer report,
# timeout or broken contract. (The ttRPC frame fuzzer has its own script: ttrpc_frame.sh.)
# KATA_FUZZ_NO_BUILD=1 skips the build (runs the binary last built by --config=fuzz).
# Needs clang-14 and libclang-rt-14-dev.
set -euo pipefail

die() { echo "fuzz/run.sh: $*" >&2; exit 2; }

# NAME -> bazel target and checked-in corpus directory, and the largest input worth trying.
declare -A TARGET=(
  [oci_spec]=//src/libs/oci:spec_fuzzer
  [config]=//src/runtime/config:config_fuzzer
  [qmp]=//src/runtime/hypervisor/qemu/fuzz:qmp_fuzzer
  [agent]=//src/agent/rpc:agent_service_fuzzer
)
declare -A SEEDS=(
  [oci_spec]=src/libs/oci/testdata/fuzz/spec
  [config]=src/runtime/config/testdata/fuzz/config
  [qmp]=src/runtime/hypervisor/qemu/fuzz/corpus
  [agent]=src/agent/rpc/testdata/fuzz/agent
)
declare -A MAX_LEN=([oci_spec]=16384 [config]=16384 [qmp]=8192 [agent]=8192)

if [[ "${1:-}" == "--list" ]]; then
  for n in "${!TARGET[@]}"; do echo "$n ${TARGET[$n]}"; done | sort
  exit 0
fi
NAME="${1:-}"
[[ -n "$NAME" && -n "${TARGET[$NAME]:-}" ]] ||
  die "usage: run.sh NAME [SECONDS] [flags...]; NAME is one of: $(echo "${!TARGET[@]}" | tr ' ' '\n' | sort | tr '\n' ' ')"
SECONDS_TO_RUN="${2:-60}"
[[ "$SECONDS_TO_RUN" =~ ^[0-9]+$ ]] || die "SECONDS must be a number, got '$SECONDS_TO_RUN'"
shift $(( $# >= 2 ? 2 : 1 ))

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="${KATA_FUZZ_DIR:-/tmp/kata-fuzz}/$NAME"
mkdir -p "$WORK/corpus" "$WORK/artifacts"
command -v clang-14 >/dev/null || die "clang-14 not found (apt-get install clang-14 libclang-rt-14-dev)"

cd "$ROOT"
target="${TARGET[$NAME]}"
if [ -z "${KATA_FUZZ_NO_BUILD:-}" ]; then
  echo "== bazel build --config=fuzz $target"
  bazel build --config=fuzz "$target" || die "cannot build $target"
fi
pkg="${target#//}"; pkg="${pkg%%:*}"
# Not `bazel info` (it waits for the server lock again); --config=fuzz's output directory is
# named after its --platform_suffix (.bazelrc).
bin="$ROOT/bazel-out/k8-fastbuildclang-fuzz/bin/$pkg/${target##*:}"
[ -x "$bin" ] || die "missing $bin"
cp -n "${SEEDS[$NAME]}"/* "$WORK/corpus/" 2>/dev/null || true
[ -n "$(ls -A "$WORK/corpus")" ] || die "empty corpus $WORK/corpus"

echo "== fuzzing $NAME for ${SECONDS_TO_RUN}s (corpus $WORK/corpus)"
set +e
"$bin" -max_total_time="$SECONDS_TO_RUN" -max_len="${MAX_LEN[$NAME]}" -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$WORK/artifacts/" "$@" "$WORK/corpus" 2>&1 | tee "$WORK/last-run.log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "fuzz/run.sh: $NAME failed (exit $rc); inputs in $WORK/artifacts" >&2
  exit 1
fi
echo "fuzz/run.sh: $NAME: no finding in ${SECONDS_TO_RUN}s; corpus: $(ls "$WORK/corpus" | wc -l) inputs"
