#!/bin/bash
# Builds the Go ttRPC interop peers (server, client) offline, in GOPATH mode, against Debian's
# Go ttrpc 1.1.1 (golang-github-containerd-ttrpc-dev) and golang-go.
#
#   build.sh OUTDIR        -> OUTDIR/go_server, OUTDIR/go_client
#
# The sources are copied into OUTDIR/gopath/src/katacpp/ttrpcinterop (their import path), so
# this works from a Bazel runfiles tree (symlinks) as well as from the source tree. GOCACHE is
# OUTDIR/gocache unless set; HOME may be unset.
set -euo pipefail

die() { echo "go/build.sh: $*" >&2; exit 1; }
[[ $# -eq 1 ]] || die "usage: build.sh OUTDIR"
OUT="$(mkdir -p "$1" && cd "$1" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GOCODE=/usr/share/gocode

command -v go >/dev/null || die "go not found (Debian package golang-go)"
[[ -f "${GOCODE}/src/github.com/containerd/ttrpc/client.go" ]] ||
  die "no Go ttrpc under ${GOCODE} (Debian package golang-github-containerd-ttrpc-dev)"
for f in echo/echo.go server/main.go client/main.go; do
  [[ -f "${SRC}/${f}" ]] || die "missing Go source ${SRC}/${f}"
done

PKG="${OUT}/gopath/src/katacpp/ttrpcinterop"
rm -rf "${PKG}"
mkdir -p "${PKG}/echo" "${PKG}/server" "${PKG}/client"
for f in echo/echo.go server/main.go client/main.go; do cp -L "${SRC}/${f}" "${PKG}/${f}"; done

export HOME="${HOME:-${OUT}}"
export GOCACHE="${GOCACHE:-${OUT}/gocache}"
export GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH="${GOCODE}:${OUT}/gopath"
go build -o "${OUT}/go_server" katacpp/ttrpcinterop/server
go build -o "${OUT}/go_client" katacpp/ttrpcinterop/client
