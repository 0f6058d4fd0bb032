#!/bin/bash
# config.json parse and serialize: our C++ (//src/libs/oci:oci_benchmark) side by side with Go's
# runtime-spec types (encoding/json into specs.Spec, as containerd and runc do), on the same bytes.
#
#   sudo tools/bench/oci_json.sh [--min-time SECONDS]
#
# Inputs (generated, never checked in):
#   typical  the config.json containerd 1.6 writes for a container with a memory limit, cpus,
#            env, a bind mount and labels (tests/oci/gen_configs.sh: containerd-resources)
#   seccomp  the same with containerd's default seccomp profile (containerd-hardened)
#   large    typical + 200 env vars, 200 mounts, 1,000 linux.devices and 1,000 device cgroup
#            rules (tools/bench/oci_json/gen_large_config.py)
# Generating them starts a private containerd, so it needs root; or point OCI_BENCH_TYPICAL,
# OCI_BENCH_SECCOMP and OCI_BENCH_LARGE at files to use those instead.
#
# Prints a table of ns per operation (wall time; serialize is compact JSON on both sides) and
# ratio = Go / C++ (above 1: C++ is faster). Needs golang-go, golang-github-opencontainers-
# specs-dev, python3 and, to generate inputs, what tests/oci/gen_configs.sh needs.
set -euo pipefail

die() { echo "oci_json.sh: $*" >&2; exit 1; }

MIN_TIME=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --min-time) MIN_TIME="${2:?}"; shift 2 ;;
    *) die "usage: oci_json.sh [--min-time SECONDS]" ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON=/usr/bin/python3
GO_SPECS=/usr/share/gocode/src/github.com/opencontainers/runtime-spec/specs-go
command -v go >/dev/null || die "go not found (Debian package golang-go)"
command -v bazel >/dev/null || die "bazel not found (Debian package bazel-bootstrap)"
[[ -x "${PYTHON}" ]] || die "${PYTHON} not found (Debian package python3)"
[[ -d "${GO_SPECS}" ]] || die "no ${GO_SPECS} (Debian package golang-github-opencontainers-specs-dev)"

TMP="$(mktemp -d /tmp/oci_json_bench.XXXXXX)"
trap 'rm -rf "${TMP}"' EXIT

# --- the Go program (GOPATH mode, offline: runtime-spec comes from Debian's gocode) -----------
echo "building the Go benchmark..." >&2
mkdir -p "${TMP}/gopath"
[[ -n "${HOME:-}" ]] || export GOCACHE="${TMP}/gocache"
GO111MODULE=off GOFLAGS= GOPATH="/usr/share/gocode:${TMP}/gopath" \
  go build -o "${TMP}/oci_json_bench" "${ROOT}/tools/bench/oci_json/oci_json_bench.go"

# --- inputs ---------------------------------------------------------------------------------
TYPICAL="${OCI_BENCH_TYPICAL:-}"
SECCOMP="${OCI_BENCH_SECCOMP:-}"
if [[ -z "${TYPICAL}" || -z "${SECCOMP}" ]]; then
  echo "generating real configs (private containerd)..." >&2
  "${ROOT}/tests/oci/gen_configs.sh" "${TMP}/configs" >/dev/null
  TYPICAL="${TYPICAL:-${TMP}/configs/containerd-resources.json}"
  SECCOMP="${SECCOMP:-${TMP}/configs/containerd-hardened.json}"
fi
LARGE="${OCI_BENCH_LARGE:-}"
if [[ -z "${LARGE}" ]]; then
  LARGE="${TMP}/large.json"
  "${PYTHON}" "${ROOT}/tools/bench/oci_json/gen_large_config.py" "${TYPICAL}" >"${LARGE}"
fi
for f in "${TYPICAL}" "${SECCOMP}" "${LARGE}"; do [[ -s "${f}" ]] || die "no input ${f}"; done
TYPICAL="$(realpath "${TYPICAL}")"; SECCOMP="$(realpath "${SECCOMP}")"; LARGE="$(realpath "${LARGE}")"

# --- run both ---------------------------------------------------------------------------------
echo "running the Go benchmark..." >&2
"${TMP}/oci_json_bench" "${TYPICAL}" "${SECCOMP}" "${LARGE}" >"${TMP}/go.tsv"

echo "running the C++ benchmark (bazel run -c opt)..." >&2
cpp() {  # TYPICAL LARGE OUT [FILTER]
  (cd "${ROOT}" && OCI_BENCH_TYPICAL="$1" OCI_BENCH_LARGE="$2" \
    bazel run -c opt //src/libs/oci:oci_benchmark -- --benchmark_format=json \
      --benchmark_min_time="${MIN_TIME}" ${4:+--benchmark_filter="$4"}) >"$3" 2>"${TMP}/bazel.log" ||
    { tail -n 30 "${TMP}/bazel.log" >&2; die "the C++ benchmark failed"; }
}
cpp "${TYPICAL}" "${LARGE}" "${TMP}/cc.json"
cpp "${SECCOMP}" "${LARGE}" "${TMP}/cc_seccomp.json" Typical

# --- the table --------------------------------------------------------------------------------
"${PYTHON}" - "${TMP}/go.tsv" "${TMP}/cc.json" "${TMP}/cc_seccomp.json" \
    "${TYPICAL}" "${SECCOMP}" "${LARGE}" <<'EOF'
import json
import sys

go_tsv, cc_json, cc_seccomp_json, typical, seccomp, large = sys.argv[1:]

go = {}
for line in open(go_tsv):
    if line.startswith("#"):
        continue
    path, op, ns, _iters, _allocs, _abytes, size, exact = line.rstrip("\n").split("\t")
    go[(path, op)] = float(ns)
    go[(path, "bytes")] = int(size)
    go[(path, "exact")] = exact


def cc_times(path):
    doc = json.load(open(path))
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    out = {}
    for b in doc["benchmarks"]:
        if b.get("error_occurred"):
            sys.exit("C++ benchmark %s: %s" % (b["name"], b.get("error_message")))
        out[b["name"]] = b["real_time"] * scale[b.get("time_unit", "ns")]
        if "bytes" in b:
            out[b["name"] + ".bytes"] = int(b["bytes"])
    return out


cc = cc_times(cc_json)
cc_seccomp = cc_times(cc_seccomp_json)
rows = [
    ("typical", typical, cc["BM_ParseTypical"], cc["BM_SerializeTypical"]),
    ("seccomp", seccomp, cc_seccomp["BM_ParseTypical"], cc_seccomp["BM_SerializeTypical"]),
    ("large", large, cc["BM_ParseLarge"], cc["BM_SerializeLarge"]),
]
# Both sides must have measured the very same bytes (oci_benchmark reports its input size).
for (name, path, _, _), times, key in zip(rows, (cc, cc_seccomp, cc),
                                         ("BM_ParseTypical", "BM_ParseTypical", "BM_ParseLarge")):
    cc_bytes = times.get(key + ".bytes")
    if cc_bytes is not None and cc_bytes != go[(path, "bytes")]:
        sys.exit("%s: C++ parsed %d bytes, Go %d: not the same input (OCI_BENCH_* not seen?)"
                 % (name, cc_bytes, go[(path, "bytes")]))
header = ("file", "bytes", "Go parse ns", "C++ parse ns", "ratio",
          "Go serialize ns", "C++ serialize ns", "ratio", "Go exact")
print("%-8s %8s %14s %14s %7s %16s %16s %7s %8s" % header)
for name, path, cc_parse, cc_ser in rows:
    gp, gs = go[(path, "parse")], go[(path, "serialize")]
    print("%-8s %8d %14.0f %14.0f %7.2f %16.0f %16.0f %7.2f %8s" % (
        name, go[(path, "bytes")], gp, cc_parse, gp / cc_parse, gs, cc_ser, gs / cc_ser,
        go[(path, "exact")]))
print("ratio = Go / C++ (above 1: C++ faster); ns per operation, wall time; "
      "Go exact: Go's own round trip gives back the same document")
EOF
