#!/usr/bin/env bash
# Static release binaries of the operator and the simulator (musl, stripped) for one Rust target:
#
#   hack/build-static.sh [TARGET] [OUT]
#
#   TARGET  x86_64-unknown-linux-musl (default) or aarch64-unknown-linux-musl
#   OUT     a folder to copy the binaries to (optional)
#   BINS    (environment) the binaries to build: default "proxy-order-operator proxy-solutions-sim"
#           (the images'); hack/plugin-dist.sh builds kubectl-pxo
#
# What the target needs is installed when missing: the Rust target (rustup), and a C compiler for
# the crates with C or assembly (ring, psm) with Debian's apt-get: musl-tools for x86_64 (musl-gcc),
# gcc-aarch64-linux-gnu and libc6-dev-arm64-cross for aarch64, whose gcc also links (with the musl
# C library and start files the Rust target brings). The Dockerfile's builder stage and the kind
# tier build with this script; `make test-arm64` runs the aarch64 binaries under qemu-user.
set -euo pipefail

target="${1:-x86_64-unknown-linux-musl}"
out="${2:-}"
read -r -a bins <<<"${BINS:-proxy-order-operator proxy-solutions-sim}"
(( ${#bins[@]} )) || { echo "build-static.sh: error: BINS names no binary" >&2; exit 1; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { echo "build-static.sh: $*" >&2; }
die() { echo "build-static.sh: error: $*" >&2; exit 1; }

install_packages() {
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } \
    || die "apt-get install $* failed"
}

case "${target}" in
  x86_64-unknown-linux-musl)
    command -v musl-gcc >/dev/null 2>&1 || install_packages musl-tools
    ;;
  aarch64-unknown-linux-musl)
    if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || [[ ! -f /usr/aarch64-linux-gnu/include/stdint.h ]]; then
      install_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    fi
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
    ;;
  *) die "unsupported target '${target}' (x86_64-unknown-linux-musl or aarch64-unknown-linux-musl)" ;;
esac

rustup target list --installed 2>/dev/null | grep -x "${target}" >/dev/null || rustup target add "${target}" >&2

say "cargo build --release --target ${target} (${bins[*]})"
bin_args=()
for bin in "${bins[@]}"; do bin_args+=(--bin "${bin}"); done
(cd "${root}" && cargo build --release --locked --target "${target}" "${bin_args[@]}" >&2)
built="${CARGO_TARGET_DIR:-${root}/target}/${target}/release"
if [[ -n "${out}" ]]; then
  mkdir -p "${out}"
  for bin in "${bins[@]}"; do cp "${built}/${bin}" "${out}/"; done
  say "copied to ${out}"
fi
