#!/usr/bin/env bash
# The arm64 (aarch64) build: the operator and the simulator cross-compiled for
# aarch64-unknown-linux-musl as the Dockerfile builds them (hack/build-static.sh), then run under
# qemu-user (Debian's qemu-user, installed with apt-get when missing, without qemu-user-binfmt:
# qemu-aarch64 is called by name and nothing is registered with the kernel):
#   - both are static aarch64 ELF executables;
#   - `proxy-order-operator --version` prints the crate's version;
#   - the simulator serves on loopback, and the operator's `healthcheck` (what the chart's helm
#     test runs) gets its /_sim/healthz: the arm64 network and HTTP stack of both, end to end.
# `make test-arm64`; part of `make test`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target=aarch64-unknown-linux-musl

say() { echo "arm64: $*"; }
die() { echo "arm64: error: $*" >&2; exit 1; }

if ! command -v qemu-aarch64 >/dev/null 2>&1; then
  say "installing qemu-user with apt-get (no binfmt registration)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user >/dev/null; } \
    || die "apt-get install qemu-user failed"
fi

"${root}/hack/build-static.sh" "${target}"
bin="${CARGO_TARGET_DIR:-${root}/target}/${target}/release"

# ELF header: class 64-bit (EI_CLASS 2), machine EM_AARCH64 (183), and no program interpreter
# (statically linked).
for name in proxy-order-operator proxy-solutions-sim; do
  python3 - "${bin}/${name}" <<'EOF' || die "${name} is no static aarch64 executable"
import struct, sys
with open(sys.argv[1], "rb") as f:
    data = f.read()
assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a 64-bit little-endian ELF"
machine = struct.unpack_from("<H", data, 18)[0]
assert machine == 183, "machine %d, not aarch64 (183)" % machine
phoff, = struct.unpack_from("<Q", data, 32)
phentsize, phnum = struct.unpack_from("<HH", data, 54)
types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
assert 3 not in types, "has a program interpreter (PT_INTERP): dynamically linked"
print("%s: aarch64, static, %.1f MiB" % (sys.argv[1].rsplit("/", 1)[-1], len(data) / 2**20))
EOF
done

want="proxy-order-operator $(sed -n 's/^version = "\(.*\)"$/\1/p' "${root}/Cargo.toml" | head -n1)"
got="$(qemu-aarch64 "${bin}/proxy-order-operator" --version)"
[[ "${got}" == "${want}" ]] || die "--version under qemu-aarch64 printed '${got}', not '${want}'"
say "qemu-aarch64 proxy-order-operator --version: ${got}"

# The simulator on a free loopback port, the operator's healthcheck against it.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$(mktemp "${TMPDIR:-/tmp}/arm64-sim.XXXXXX")"
qemu-aarch64 "${bin}/proxy-solutions-sim" --listen "127.0.0.1:${port}" --api-key arm64-key >"${log}" 2>&1 &
sim=$!
trap 'kill "${sim}" 2>/dev/null || true; wait "${sim}" 2>/dev/null || true; rm -f "${log}"' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null && break
  kill -0 "${sim}" 2>/dev/null || die "the arm64 simulator ended: $(cat "${log}")"
  sleep 0.2
done
qemu-aarch64 "${bin}/proxy-order-operator" healthcheck "http://127.0.0.1:${port}/_sim/healthz" \
  || die "the arm64 operator's healthcheck of the arm64 simulator failed; simulator log: $(cat "${log}")"
say "qemu-aarch64: the simulator served, the operator's healthcheck got its /_sim/healthz"
say "passed"
