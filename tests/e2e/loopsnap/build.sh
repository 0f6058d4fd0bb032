#!/bin/bash
# Builds loopsnap (main.go: a containerd proxy snapshotter on loop devices) offline, in GOPATH
# mode, against Debian's containerd 1.6 Go sources (golang-github-containerd-containerd-dev)
# and golang-go.
#
#   build.sh OUTDIR        -> OUTDIR/loopsnap
#
# GOCACHE defaults to /var/cache/kata-cpp/go-build (Go keys it by content: later builds take
# seconds); HOME may be unset.
set -euo pipefail

die() { echo "loopsnap/build.sh: $*" >&2; exit 1; }
[[ $# -eq 1 ]] || die "usage: build.sh OUTDIR"
OUT="$(mkdir -p "$1" && cd "$1" && pwd)"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GOCODE=/usr/share/gocode

command -v go >/dev/null || die "go not found (Debian package golang-go)"
[[ -f "${GOCODE}/src/github.com/containerd/containerd/contrib/snapshotservice/service.go" ]] ||
  die "no containerd Go sources under ${GOCODE} (golang-github-containerd-containerd-dev)"

PKG="${OUT}/gopath/src/katacpp/loopsnap"
rm -rf "${PKG}"
mkdir -p "${PKG}"
cp -L "${SRC}/main.go" "${PKG}/main.go"
export HOME="${HOME:-${OUT}}"
export GOCACHE="${GOCACHE:-/var/cache/kata-cpp/go-build}"
mkdir -p "${GOCACHE}"
export GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH="${GOCODE}:${OUT}/gopath"
go build -o "${OUT}/loopsnap" katacpp/loopsnap
