# shellcheck shell=bash
# A private containerd for scripts and tests: its own config, root, state, sockets and log under
# one directory of the caller's, started in the background and stopped by its PID.
#
#   source tools/lib/containerd.sh
#   T=$(mktemp -d /tmp/kx.XXXXXX)            # short: socket paths must stay under ~100 bytes
#   containerd_start "$T" [--cri] [--runtime NAME=TYPE]... [--disable PLUGIN]... [--debug]
#   ctr -a "$CONTAINERD_SOCK" run ...
#   containerd_cleanup "$T"                  # e.g. from an EXIT trap; safe to call twice
#
# Functions (each returns non-zero with a message on stderr when it fails):
#   containerd_write_config DIR [OPTION]...  writes DIR/config.toml: root DIR/root, state
#       DIR/state, gRPC socket DIR/c.sock, ttRPC socket DIR/c.sock.ttrpc. The CRI plugin is
#       disabled unless --cri; --runtime NAME=TYPE adds a CRI runtime (e.g.
#       kata=io.containerd.kata.v2; needs --cri; runc stays the default runtime); --disable PLUGIN disables one more plugin;
#       --debug sets the log level to debug; --append FILE appends FILE's TOML (e.g. the CRI
#       plugin's own table, written by the caller; not with --runtime, which writes runtimes).
#   containerd_start DIR [OPTION]...   writes the config, starts containerd (log DIR/containerd.log)
#       and waits until it answers; sets CONTAINERD_DIR, CONTAINERD_SOCK, CONTAINERD_PID,
#       CONTAINERD_LOG. If it does not come up, stops it and prints the log's tail.
#   containerd_wait_ready [SECONDS]    waits ($CONTAINERD_START_TIMEOUT, default 10 s) until `ctr version` answers on
#       CONTAINERD_SOCK; fails at once if containerd exited.
#   containerd_stop                    SIGKILLs every task in every namespace, deletes tasks and
#       containers, then stops containerd (SIGTERM, SIGKILL after 5 s) and reaps it.
#   containerd_cleanup DIR             containerd_stop, then unmounts whatever is still mounted
#       below DIR (deepest first) and removes DIR (never crossing into a mount).
# containerd runs with the caller's PATH: shims (containerd-shim-*) are looked up there.

# Set by containerd_start (never taken from the environment).
# shellcheck disable=SC2034  # for the callers
CONTAINERD_DIR=""
CONTAINERD_SOCK=""
CONTAINERD_PID=""
CONTAINERD_LOG=""

_containerd_err() { echo "containerd.sh: $*" >&2; }

# Whether process $1 runs (a zombie, dead but not yet reaped by this shell, does not).
_containerd_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$state" ] && [ "$state" != Z ]
}

containerd_write_config() {
  local dir=${1:?containerd_write_config: DIR}
  shift
  local cri=0 level="" disabled=() runtimes=() name type append=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --cri) cri=1 ;;
      --debug) level=debug ;;
      --disable) disabled+=("${2:?--disable needs a plugin}"); shift ;;
      --runtime) runtimes+=("${2:?--runtime needs NAME=TYPE}"); shift ;;
      --append) append=${2:?--append needs a file}; shift ;;
      *) _containerd_err "unknown option '$1'"; return 2 ;;
    esac
    shift
  done
  if [ ${#runtimes[@]} -gt 0 ] && [ "$cri" = 0 ]; then
    _containerd_err "--runtime needs --cri (runtimes are CRI configuration)"
    return 2
  fi
  [ "$cri" = 1 ] || disabled=("io.containerd.grpc.v1.cri" "${disabled[@]}")
  # A runtimes table replaces containerd's defaults: keep the default runtime (runc) in it.
  if [ ${#runtimes[@]} -gt 0 ] && ! printf '%s\n' "${runtimes[@]}" | grep -q '^runc='; then
    runtimes+=("runc=io.containerd.runc.v2")
  fi
  {
    echo "version = 2"
    echo "root = \"$dir/root\""
    echo "state = \"$dir/state\""
    printf 'disabled_plugins = ['
    local sep="" p
    for p in "${disabled[@]}"; do printf '%s"%s"' "$sep" "$p"; sep=", "; done
    echo "]"
    echo "[grpc]"
    echo "  address = \"$dir/c.sock\""
    echo "[ttrpc]"
    echo "  address = \"$dir/c.sock.ttrpc\""
    if [ -n "$level" ]; then
      echo "[debug]"
      echo "  level = \"$level\""
    fi
    local r
    for r in "${runtimes[@]}"; do
      name=${r%%=*}
      type=${r#*=}
      if [ -z "$name" ] || [ "$name" = "$r" ] || [ -z "$type" ]; then
        _containerd_err "--runtime '$r': want NAME=TYPE"
        return 2
      fi
      echo "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.$name]"
      echo "  runtime_type = \"$type\""
    done
    if [ -n "$append" ]; then
      cat "$append" || { _containerd_err "--append: cannot read $append"; return 1; }
    fi
  } > "$dir/config.toml"
}

containerd_wait_ready() {
  local seconds=${1:-${CONTAINERD_START_TIMEOUT:-10}} _
  for _ in $(seq $((seconds * 10))); do
    # (ctr would wait 10 s for a socket that does not exist yet)
    [ -S "$CONTAINERD_SOCK" ] &&
      ctr -a "$CONTAINERD_SOCK" --connect-timeout 1s version >/dev/null 2>&1 && return 0
    _containerd_alive "$CONTAINERD_PID" || { _containerd_err "containerd exited"; return 1; }
    sleep 0.1
  done
  _containerd_err "containerd did not answer on $CONTAINERD_SOCK within ${seconds} s"
  return 1
}

containerd_start() {
  local dir=${1:?containerd_start: DIR}
  shift
  command -v containerd >/dev/null || { _containerd_err "containerd is missing (tools/setup)"; return 1; }
  command -v ctr >/dev/null || { _containerd_err "ctr is missing (tools/setup)"; return 1; }
  [ -n "$CONTAINERD_PID" ] && _containerd_alive "$CONTAINERD_PID" &&
    { _containerd_err "already running (pid $CONTAINERD_PID)"; return 1; }
  containerd_write_config "$dir" "$@" || return
  CONTAINERD_DIR=$dir
  CONTAINERD_SOCK=$dir/c.sock
  CONTAINERD_LOG=$dir/containerd.log
  containerd --config "$dir/config.toml" > "$CONTAINERD_LOG" 2>&1 &
  CONTAINERD_PID=$!
  if ! containerd_wait_ready "${CONTAINERD_START_TIMEOUT:-10}"; then
    tail -n 30 "$CONTAINERD_LOG" >&2
    containerd_stop
    return 1
  fi
}

containerd_stop() {
  local -
  set +e
  [ -n "$CONTAINERD_PID" ] || return 0
  if _containerd_alive "$CONTAINERD_PID"; then
    local ctr=(ctr -a "$CONTAINERD_SOCK" --connect-timeout 2s) ns id _ pending
    for ns in $("${ctr[@]}" namespaces ls -q 2>/dev/null); do
      for id in $("${ctr[@]}" -n "$ns" tasks ls -q 2>/dev/null); do
        "${ctr[@]}" -n "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1
      done
      for _ in $(seq 50); do  # up to 5 s for the tasks to stop
        pending=$("${ctr[@]}" -n "$ns" tasks ls 2>/dev/null | awk 'NR > 1 && $3 != "STOPPED"')
        [ -z "$pending" ] && break
        sleep 0.1
      done
      for id in $("${ctr[@]}" -n "$ns" tasks ls -q 2>/dev/null); do
        "${ctr[@]}" -n "$ns" tasks delete -f "$id" >/dev/null 2>&1
      done
      for id in $("${ctr[@]}" -n "$ns" containers ls -q 2>/dev/null); do
        "${ctr[@]}" -n "$ns" containers delete "$id" >/dev/null 2>&1
      done
    done
    kill -TERM "$CONTAINERD_PID" 2>/dev/null
    for _ in $(seq 50); do _containerd_alive "$CONTAINERD_PID" || break; sleep 0.1; done
    kill -KILL "$CONTAINERD_PID" 2>/dev/null
  fi
  wait "$CONTAINERD_PID" 2>/dev/null
  CONTAINERD_PID=""
  return 0
}

containerd_cleanup() {
  local -
  set +e
  local dir=${1:?containerd_cleanup: DIR} m
  containerd_stop
  [ -d "$dir" ] || return 0
  awk -v root="$dir/" 'index($5, root) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  rm -rf --one-file-system "$dir"
  return 0
}
