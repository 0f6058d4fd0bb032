#!/bin/bash
# Round-trips real OCI config.json files through `oci_tool roundtrip` and checks that nothing
# changes and that the schema still holds.
#
#   real_configs_test.sh OCI_TOOL        (under Bazel: bazel test //tests/oci:real_configs_test)
#
# The configs are generated now, by the programs that write them in production (see
# gen_configs.sh: runc spec, crun spec, and the bundles of containers a private containerd
# runs), never checked in. For each one:
#   - `oci_tool roundtrip` (pretty) and `oci_tool roundtrip --compact` must both write the same
#     JSON document as the input (compare_and_validate.py: deep equality, exact integers);
#     the compact one must be a single line;
#   - input and outputs are validated against the runtime-spec JSON schema Debian ships; a real
#     input that the schema rejects is reported (why) but the round trip must still be exact;
#   - `oci_tool validate` must accept every schema-valid input.
# Needs root, runc, crun, containerd, ctr, busybox-static, python3-jsonschema and
# golang-github-opencontainers-specs-dev (the schema). A missing one is a failure, not a skip.
set -euo pipefail
export PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

die() { echo "real_configs_test: FAIL: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: real_configs_test.sh OCI_TOOL"
OCI_TOOL="$(realpath "$1")"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=/usr/bin/python3
SCHEMA_DIR=/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema

[[ -x "${OCI_TOOL}" ]] || die "oci_tool not executable: ${OCI_TOOL}"
[[ -x "${PYTHON}" ]] || die "${PYTHON} missing (Debian package python3)"
"${PYTHON}" -c 'import jsonschema' 2>/dev/null ||
  die "python module jsonschema missing for ${PYTHON} (Debian package python3-jsonschema)"
[[ -f "${SCHEMA_DIR}/config-schema.json" ]] ||
  die "no runtime-spec schema at ${SCHEMA_DIR} (Debian package golang-github-opencontainers-specs-dev)"

WORK="$(mktemp -d "${TEST_TMPDIR:-/tmp}/real_configs.XXXXXX")"
trap 'rm -rf "${WORK}"' EXIT

mapfile -t NAMES < <("${HERE}/gen_configs.sh" "${WORK}/in")
[[ ${#NAMES[@]} -ge 10 ]] || die "gen_configs.sh produced ${#NAMES[@]} configs, expected 10"

mkdir -p "${WORK}/out"
failed=()
for name in "${NAMES[@]}"; do
  in="${WORK}/in/${name}.json"
  pretty="${WORK}/out/${name}.pretty.json"
  compact="${WORK}/out/${name}.compact.json"
  if ! "${OCI_TOOL}" roundtrip <"${in}" >"${pretty}" 2>"${WORK}/err"; then
    echo "${name}: FAIL: oci_tool roundtrip exited $?: $(cat "${WORK}/err")"
    failed+=("${name}"); continue
  fi
  if ! "${OCI_TOOL}" roundtrip --compact <"${in}" >"${compact}" 2>"${WORK}/err"; then
    echo "${name}: FAIL: oci_tool roundtrip --compact exited $?: $(cat "${WORK}/err")"
    failed+=("${name}"); continue
  fi
  if [[ "$(tr -cd '\n' <"${compact}" | wc -c)" -gt 1 ]]; then
    echo "${name}: FAIL: roundtrip --compact wrote more than one line"
    failed+=("${name}"); continue
  fi
  rc=0
  report="$("${PYTHON}" "${HERE}/compare_and_validate.py" --schema-dir "${SCHEMA_DIR}" \
      --name "${name}" "${in}" "${pretty}" "${compact}")" || rc=$?
  echo "${report}"
  if [[ "${rc}" != 0 ]]; then
    echo "    input: $(head -c 300 "${in}")..."
    failed+=("${name}"); continue
  fi
  if [[ "$(head -n 1 <<<"${report}")" == *", schema valid" ]]; then
    # A schema-valid real config must pass our validation too.
    if ! "${OCI_TOOL}" validate <"${in}" >/dev/null 2>"${WORK}/err"; then
      echo "${name}: FAIL: oci_tool validate rejects a schema-valid config: $(cat "${WORK}/err")"
      failed+=("${name}"); continue
    fi
  else
    v=0; "${OCI_TOOL}" validate <"${in}" >/dev/null 2>"${WORK}/err" || v=$?
    echo "    (oci_tool validate on this schema-invalid input: exit ${v}; $(head -c 200 "${WORK}/err"))"
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  die "${#failed[@]} of ${#NAMES[@]} configs: ${failed[*]}"
fi
echo "real_configs_test: PASS: ${#NAMES[@]} real configs round-trip identically"
