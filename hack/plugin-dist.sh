#!/usr/bin/env bash
# The kubectl plugin as krew distributes it (make plugin-dist): kubectl-pxo built static for
# linux amd64 and arm64 (hack/build-static.sh, as the images' binaries are), one archive per
# platform (the binary and the LICENSE), and the krew manifest rendered from
# plugin/krew/pxo.yaml.tmpl with the version and each archive's sha256. All into target/plugin/:
#   kubectl-pxo_v<version>_linux_amd64.tar.gz, kubectl-pxo_v<version>_linux_arm64.tar.gz, pxo.yaml
# The archives are reproducible (sorted entries, fixed owner and time), so the checksums depend
# on the binaries only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${CARGO_TARGET_DIR:-${root}/target}/plugin"
version="v$(sed -n 's/^version = "\(.*\)"$/\1/p' "${root}/Cargo.toml" | head -n1)"
[[ "${version}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]] || { echo "plugin-dist: no version in Cargo.toml" >&2; exit 1; }

rm -rf "${out}"
mkdir -p "${out}"
declare -A sums
for platform in amd64:x86_64-unknown-linux-musl arm64:aarch64-unknown-linux-musl; do
  arch="${platform%%:*}" target="${platform#*:}"
  stage="${out}/stage-${arch}"
  BINS=kubectl-pxo "${root}/hack/build-static.sh" "${target}" "${stage}"
  cp "${root}/LICENSE" "${stage}/"
  archive="${out}/kubectl-pxo_${version}_linux_${arch}.tar.gz"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "${stage}" -cf - kubectl-pxo LICENSE \
    | gzip -n >"${archive}"
  rm -rf "${stage}"
  sums[${arch}]="$(sha256sum "${archive}" | cut -d' ' -f1)"
  echo "plugin-dist: ${archive} sha256 ${sums[${arch}]}"
done

# The template's comment header is for the repository; the rendered manifest starts at apiVersion.
sed -n '/^apiVersion:/,$p' "${root}/plugin/krew/pxo.yaml.tmpl" \
  | sed -e "s/\${VERSION}/${version}/g" \
        -e "s/\${SHA256_LINUX_AMD64}/${sums[amd64]}/g" \
        -e "s/\${SHA256_LINUX_ARM64}/${sums[arm64]}/g" >"${out}/pxo.yaml"
if grep -n '\${' "${out}/pxo.yaml" >&2; then
  echo "plugin-dist: a placeholder is left in pxo.yaml" >&2
  exit 1
fi
echo "plugin-dist: ${out}/pxo.yaml"
