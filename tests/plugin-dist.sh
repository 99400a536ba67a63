#!/usr/bin/env bash
# The kubectl plugin as krew distributes and installs it (make test-plugin-dist; part of make
# test):
#   - hack/plugin-dist.sh builds both archives and renders the krew manifest;
#   - krew's own validator (validate-krew-manifest, built at the pinned KREW_VERSION into the
#     project cache) accepts the manifest, and refuses one with a platform no archive is for;
#   - krew installs the amd64 archive from the manifest into a fresh KREW_ROOT under target/
#     (the checksum checked by krew), and kubectl finds the installed plugin: `kubectl plugin
#     list` names it and `kubectl pxo --version` prints the crate's version;
#   - krew refuses an archive whose checksum is not the manifest's;
#   - the arm64 archive's binary runs under qemu-aarch64 (installed by make test-arm64).
# Nothing outside target/ and the project cache is written; no network is used.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "plugin-dist: $*"; }
die() { echo "plugin-dist: error: $*" >&2; exit 1; }

"${root}/hack/plugin-dist.sh"
out="${CARGO_TARGET_DIR:-${root}/target}/plugin"
crate_version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "${root}/Cargo.toml" | head -n1)"
version="v${crate_version}"
manifest="${out}/pxo.yaml"

"${root}/tests/controlplane/build.sh" krew validate-krew-manifest kubectl >&2
bindir="${PROXY_ORDER_CACHE:-${HOME}/.cache/proxy-order-operator}/k8s-$(sed -n 's/^KUBE_VERSION=//p' "${root}/tests/controlplane/versions.env")"

work="$(mktemp -d "${out}/test.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

# The validator: the manifest passes; a manifest with a platform no archive is for does not.
"${bindir}/validate-krew-manifest" -manifest "${manifest}" -skip-install >"${work}/validate.log" 2>&1 \
  || die "validate-krew-manifest refused ${manifest}: $(cat "${work}/validate.log")"
say "validate-krew-manifest: ${manifest} is valid"
mkdir -p "${work}/bad"
sed 's/arch: arm64/arch: amd64/' "${manifest}" >"${work}/bad/pxo.yaml"
if "${bindir}/validate-krew-manifest" -manifest "${work}/bad/pxo.yaml" -skip-install >"${work}/validate-bad.log" 2>&1; then
  die "validate-krew-manifest accepted a manifest with two platforms for linux/amd64"
fi
say "validate-krew-manifest refuses overlapping platforms"

# krew installs the amd64 archive; kubectl finds it.
export KREW_ROOT="${work}/krew"
"${bindir}/krew" install --manifest="${manifest}" \
  --archive="${out}/kubectl-pxo_${version}_linux_amd64.tar.gz" </dev/null >"${work}/install.log" 2>&1 \
  || die "krew install failed: $(cat "${work}/install.log")"
[[ -x "${KREW_ROOT}/bin/kubectl-pxo" ]] || die "krew installed no ${KREW_ROOT}/bin/kubectl-pxo"
plugins="$(PATH="${KREW_ROOT}/bin:${PATH}" "${bindir}/kubectl" plugin list 2>/dev/null || true)"
[[ "${plugins}" == *"${KREW_ROOT}/bin/kubectl-pxo"* ]] || die "kubectl plugin list does not name the installed plugin: ${plugins}"
got="$(PATH="${KREW_ROOT}/bin:${PATH}" "${bindir}/kubectl" pxo --version)"
[[ "${got}" == "kubectl-pxo ${crate_version}" ]] || die "kubectl pxo --version printed '${got}'"
say "krew installed the plugin; kubectl pxo --version: ${got}"

# A checksum that is not the manifest's: krew refuses the archive.
export KREW_ROOT="${work}/krew-bad"
if "${bindir}/krew" install --manifest="${manifest}" \
  --archive="${out}/kubectl-pxo_${version}_linux_arm64.tar.gz" </dev/null >"${work}/install-bad.log" 2>&1; then
  die "krew installed an archive whose sha256 is not the manifest's"
fi
grep -qi "sha256\|checksum" "${work}/install-bad.log" || die "krew refused, but not for the checksum: $(cat "${work}/install-bad.log")"
say "krew refuses an archive with another checksum"

# The arm64 archive.
mkdir -p "${work}/arm64"
tar -xzf "${out}/kubectl-pxo_${version}_linux_arm64.tar.gz" -C "${work}/arm64"
command -v qemu-aarch64 >/dev/null 2>&1 || die "qemu-aarch64 is missing: make test-arm64 installs it"
got="$(qemu-aarch64 "${work}/arm64/kubectl-pxo" --version)"
[[ "${got}" == "kubectl-pxo ${crate_version}" ]] || die "the arm64 kubectl-pxo --version printed '${got}'"
say "qemu-aarch64 kubectl-pxo --version: ${got}"
say "passed"
