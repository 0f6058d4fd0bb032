#!/bin/bash
# Fuzzes the ttRPC frame and message decoder (src/libs/ttrpc/frame_fuzzer.cc) with libFuzzer,
# ASan and UBSan, built by clang outside Bazel's (gcc) toolchain.
#
#   tools/fuzz/ttrpc_frame.sh [SECONDS]      default 60
#
# The corpus lives in /tmp/kata-fuzz/ttrpc_frame/corpus (seeded on first use from
# //src/libs/ttrpc:frame_fuzzer_replay --write-seeds) and grows from run to run; crash inputs
# go to /tmp/kata-fuzz/ttrpc_frame/artifacts/. Replay one with
#   bazel-bin/src/libs/ttrpc/frame_fuzzer_replay /tmp/kata-fuzz/ttrpc_frame/artifacts/crash-...
# Exits non-zero on any crash, sanitizer report or failed check.
# Needs clang and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes), pkg-config,
# libprotobuf-dev, libabsl-dev, and bazel (for the generated .pb.cc files).
set -euo pipefail

die() { echo "ttrpc_frame.sh: $*" >&2; exit 2; }

SECONDS_TO_RUN="${1:-60}"
[[ "$SECONDS_TO_RUN" =~ ^[0-9]+$ ]] || die "SECONDS must be a number, got '$SECONDS_TO_RUN'"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="${KATA_FUZZ_DIR:-/tmp/kata-fuzz}/ttrpc_frame"
CORPUS="$WORK/corpus"
ARTIFACTS="$WORK/artifacts"
mkdir -p "$WORK/obj" "$CORPUS" "$ARTIFACTS"

CXX="${CXX:-clang++}"
command -v "$CXX" >/dev/null || die "$CXX not found (apt-get install clang)"
command -v pkg-config >/dev/null || die "pkg-config not found"

cd "$ROOT"
echo "== bazel build (generated protobuf code, seed writer)"
bazel build //src/libs/protocols:ttrpc_proto //src/libs/protocols:status_proto \
  //src/libs/ttrpc:frame_fuzzer_replay
BIN="$(bazel info bazel-bin 2>/dev/null)"
for f in src/libs/protocols/ttrpc.pb.cc src/libs/protocols/google/rpc/status.pb.cc; do
  [ -f "$BIN/$f" ] || die "missing generated $BIN/$f"
done

echo "== $CXX: frame_fuzzer with libFuzzer + ASan + UBSan"
FLAGS=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -fno-omit-frame-pointer -I"$ROOT" -I"$BIN" $(pkg-config --cflags protobuf absl_status absl_strings))
SRCS=(src/libs/ttrpc/frame.cc src/libs/ttrpc/status.cc src/libs/ttrpc/frame_fuzzer.cc
      "$BIN/src/libs/protocols/ttrpc.pb.cc" "$BIN/src/libs/protocols/google/rpc/status.pb.cc")
OBJS=()
for src in "${SRCS[@]}"; do
  obj="$WORK/obj/$(basename "$src" .cc).o"
  # Our code builds warning-free, as under Bazel; generated code is not ours to fix.
  case "$src" in
    src/*) warn=(-Wall -Wextra -Werror -Wno-unused-parameter) ;;
    *) warn=(-w) ;;
  esac
  "$CXX" "${FLAGS[@]}" "${warn[@]}" -c "$src" -o "$obj" \
    || die "cannot compile $src (is libclang-rt-14-dev installed?)"
  OBJS+=("$obj")
done
"$CXX" "${FLAGS[@]}" "${OBJS[@]}" -o "$WORK/frame_fuzzer" \
  $(pkg-config --libs protobuf absl_status absl_strings) -lpthread \
  || die "cannot link (is libclang-rt-14-dev installed?)"

if [ -z "$(ls -A "$CORPUS")" ]; then
  "$BIN/src/libs/ttrpc/frame_fuzzer_replay" --write-seeds "$CORPUS"
fi

echo "== fuzzing for ${SECONDS_TO_RUN}s (corpus $CORPUS)"
set +e
"$WORK/frame_fuzzer" -max_total_time="$SECONDS_TO_RUN" -max_len=16384 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$ARTIFACTS/" "$CORPUS"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "ttrpc_frame.sh: the fuzzer failed (exit $rc); inputs in $ARTIFACTS" >&2
  exit 1
fi
echo "ttrpc_frame.sh: no crash in ${SECONDS_TO_RUN}s; corpus: $(ls "$CORPUS" | wc -l) inputs"
