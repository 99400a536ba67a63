#!/usr/bin/env bash
# `make test-cold`: what a new user or a fresh CI machine gets. Clones HEAD into a temporary
# folder and runs a make target there (default `test`, the same command as .ci/run) with every
# cache pointed at an empty folder:
#   PROXY_ORDER_CACHE  the control plane, helm, cargo-deny, kind, the kind tier's Docker engine
#                      data (so every image is built again)
#   GOMODCACHE/GOCACHE Go modules and Go's build cache
#   CARGO_HOME         crates.io index and downloaded crates (toolchains stay in RUSTUP_HOME)
# and a bare environment (HOME, PATH, CI=true), as CI runs it. Prints the wall time.
#
# Usage: hack/test-cold.sh [TARGET [VAR=value...]]
#   hack/test-cold.sh                     make test
#   hack/test-cold.sh dev                 make dev, stopping once the example order is Ready
#   hack/test-cold.sh bench BENCH_N=200   make bench
# Environment: COLD_KEEP=1 keeps the temporary folder (it is kept anyway when the run fails);
# COLD_DIR=DIR uses DIR (must not exist yet) instead of a new folder under ${TMPDIR:-/tmp};
# COLD_SCOPE=project empties only the project's own cache (PROXY_ORDER_CACHE) and keeps Go's and
# cargo's download and build caches: every install step the project owns still runs from
# nothing, in minutes instead of the Go compile's quarter hour (default: all).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:-test}"
(( $# )) && shift

say() { echo "test-cold: $*"; }

if [[ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]]; then
  say "warning: uncommitted changes are not tested; this runs HEAD ($(git -C "$root" rev-parse --short HEAD))"
fi

if [[ -n "${COLD_DIR:-}" ]]; then
  [[ ! -e "${COLD_DIR}" ]] || { echo "test-cold: COLD_DIR=${COLD_DIR} exists already" >&2; exit 2; }
  mkdir -p "${COLD_DIR}"
  work="$(cd "${COLD_DIR}" && pwd)"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/proxy-order-cold.XXXXXX")"
fi
git clone --quiet --no-hardlinks "$root" "$work/src"
mkdir -p "$work/cache" "$work/go/mod" "$work/go/build" "$work/cargo"

# The toolchains themselves are the machine's (rustup's cargo, the Go distribution).
path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
for tool in cargo go; do
  dir="$(dirname "$(command -v "$tool")")" || { echo "test-cold: $tool not found on PATH" >&2; exit 2; }
  [[ ":$path:" == *":$dir:"* ]] || path="$dir:$path"
done
env_args=(
  HOME="$HOME" PATH="$path" CI=true LANG=C.UTF-8
  PROXY_ORDER_CACHE="$work/cache"
)
case "${COLD_SCOPE:-all}" in
  all) env_args+=(GOMODCACHE="$work/go/mod" GOCACHE="$work/go/build" GOPATH="$work/go" CARGO_HOME="$work/cargo") ;;
  project)
    # The caller's own Go and cargo caches, wherever they are.
    for var in GOMODCACHE GOCACHE GOPATH CARGO_HOME; do
      if [[ -n "${!var:-}" ]]; then env_args+=("$var=${!var}"); fi
    done
    ;;
  *) echo "test-cold: COLD_SCOPE must be all or project, not '${COLD_SCOPE}'" >&2; exit 2 ;;
esac
if [[ -n "${RUSTUP_HOME:-}" ]]; then env_args+=(RUSTUP_HOME="$RUSTUP_HOME"); fi
case "$target" in
  test) cmd=(bash .ci/run) ;;
  dev) env_args+=(DEV_EXIT_WHEN_READY=1); cmd=(make dev "$@") ;;
  *) cmd=(make "$target" "$@") ;;
esac

say "HEAD $(git -C "$work/src" rev-parse --short HEAD) in $work/src; empty caches (${COLD_SCOPE:-all}) under $work"
say "running: ${cmd[*]}"
start=$SECONDS
status=0
(cd "$work/src" && exec env -i "${env_args[@]}" "${cmd[@]}" </dev/null) || status=$?
elapsed=$((SECONDS - start))
took="$((elapsed / 60))m $((elapsed % 60))s"

if (( status != 0 )); then
  say "FAILED: '${cmd[*]}' exited ${status} after ${took}; kept $work"
  exit "$status"
fi
say "'${cmd[*]}' passed from a fresh clone with empty caches (${COLD_SCOPE:-all}) in ${took} (${elapsed}s)"
if [[ "${COLD_KEEP:-0}" == 1 ]]; then
  say "kept $work"
else
  # Go's module cache is read-only.
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
fi
