#!/bin/bash
# Fails when a forbidden dependency edge exists anywhere in the workspace.
# It queries the real workspace (the source tree this test's runfiles link to) with a
# private, throwaway Bazel (--batch, its own output root), so it sees every BUILD file as it
# is now, including targets nobody asked to build.
set -euo pipefail
checker="$(dirname "$0")/check_layering.py"
workspace_file="$(readlink -f "$TEST_SRCDIR/kata_cpp/WORKSPACE")"
workspace="$(dirname "$workspace_file")"
[ -f "$workspace/bazel/kata.bzl" ] || { echo "cannot find the workspace (got $workspace)"; exit 2; }
bazel_bin="$(command -v bazel)" || { echo "bazel is not on PATH: run tools/setup"; exit 2; }
cd "$workspace"
# The output root must not lie under the workspace (TEST_TMPDIR of a local test does,
# through the bazel-* convenience links), so it goes under /tmp and is removed at exit.
root="$(mktemp -d /tmp/kata-layering.XXXXXX)"
trap 'rm -rf "$root"' EXIT
# Every top-level area that has packages (not //..., which would wander into the bazel-*
# links of whichever Bazel built this test).
patterns=()
for area in src tools tests packaging; do
  if [ -n "$(find "$area" -name BUILD.bazel -print -quit 2>/dev/null)" ]; then
    patterns+=("//$area/...")
  fi
done
query="deps($(IFS=+; echo "${patterns[*]}" | sed 's/+/ + /g'))"
out="$TEST_TMPDIR/graph.txt"
"$bazel_bin" --batch --nohome_rc --output_user_root="$root" \
  query --noshow_progress --output=graph --nograph:factored \
  "$query" > "$out"
/usr/bin/python3 "$checker" "$out"
