#!/usr/bin/env bash
# The images' SBOMs: a CycloneDX 1.5 JSON document per binary that an image carries
# (proxy-order-operator, proxy-solutions-sim), per Rust target the Dockerfile builds
# (x86_64-unknown-linux-musl, aarch64-unknown-linux-musl), written by cargo-cyclonedx into
# target/sbom/<binary>_<target>.cdx.json.
#
#   hack/sbom.sh CARGO_CYCLONEDX [TARGET...]      (make sbom)
#
# Each document is then checked against cargo's own resolution for that target (cargo metadata
# --filter-platform): it lists every crate linked into the binary, at its locked version, with a
# package URL, and besides them only the proc macros the build runs and their dependencies: no
# build script's dependency, no dev-dependency, no crate of another platform.
set -euo pipefail

cdx="$1"
shift
targets=("$@")
(( ${#targets[@]} )) || targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${CARGO_TARGET_DIR:-${root}/target}/sbom"
mkdir -p "${out}"

for target in "${targets[@]}"; do
  # cargo-cyclonedx writes beside each package's Cargo.toml: collected and moved to ${out}.
  (cd "${root}" && "${cdx}" cyclonedx --manifest-path Cargo.toml --format json --describe binaries \
    --target "${target}" --target-in-filename --spec-version 1.5 --no-build-deps -q)
  for bin in proxy-order-operator proxy-solutions-sim; do
    file="$(find "${root}" -path "${root}/target" -prune -o -name "${bin}_bin_${target}.cdx.json" -print -quit)"
    [[ -n "${file}" ]] || { echo "sbom: cargo-cyclonedx wrote no SBOM for ${bin} (${target})" >&2; exit 1; }
    mv "${file}" "${out}/${bin}_${target}.cdx.json"
  done
  # The other binaries of the workspace (crdgen, docgen, kubectl-pxo) are in no image.
  find "${root}" -path "${root}/target" -prune -o -name "*_bin_${target}.cdx.json" -print0 | xargs -0 rm -f
  (cd "${root}" && cargo metadata --locked --format-version 1 --filter-platform "${target}") >"${out}/metadata-${target}.json"
  for bin in proxy-order-operator proxy-solutions-sim; do
    python3 - "${out}/${bin}_${target}.cdx.json" "${out}/metadata-${target}.json" "${bin}" "${target}" <<'PY'
import json, sys
sbom_path, meta_path, binary, target = sys.argv[1:]
sbom, meta = json.load(open(sbom_path)), json.load(open(meta_path))
problems = []
if sbom.get("bomFormat") != "CycloneDX" or sbom.get("specVersion") != "1.5":
    problems.append("not a CycloneDX 1.5 document")
top = sbom["metadata"]["component"]
props = {p["name"]: p["value"] for p in sbom["metadata"].get("properties", [])}
if props.get("cdx:rustc:sbom:target:triple") != target:
    problems.append("target %r, not %s" % (props.get("cdx:rustc:sbom:target:triple"), target))
listed = {(c["name"], c["version"]) for c in sbom.get("components", [])}
for c in sbom.get("components", []):
    if not c.get("purl", "").startswith("pkg:cargo/"):
        problems.append("%s has no cargo package URL" % c["name"])

# What cargo links into the binary for this target: the binary's package, then its normal
# dependencies (platform-filtered by cargo metadata), not descending into proc macros (they run
# in the compiler; their own dependencies are never linked).
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
owner = next(p for p in meta["packages"]
             if any(t["name"] == binary and "bin" in t["kind"] for t in p["targets"]))
seen, todo = set(), [owner["id"]]
while todo:
    pid = todo.pop()
    if pid in seen:
        continue
    seen.add(pid)
    if pid != owner["id"] and any("proc-macro" in t["kind"] for t in packages[pid]["targets"]):
        continue
    for dep in nodes[pid]["deps"]:
        if any(k["kind"] is None for k in dep["dep_kinds"]):
            todo.append(dep["pkg"])
# The proc macros reached, with their own dependencies: cargo-cyclonedx lists them too (they are
# part of the build, run by the compiler); nothing else may be listed.
macros = [p for p in seen if p != owner["id"] and any("proc-macro" in t["kind"] for t in packages[p]["targets"])]
linked = {(packages[p]["name"], packages[p]["version"]) for p in seen - set(macros) if p != owner["id"]}
compile_time, todo = set(), list(macros)
while todo:
    pid = todo.pop()
    if pid in compile_time:
        continue
    compile_time.add(pid)
    todo.extend(d["pkg"] for d in nodes[pid]["deps"] if any(k["kind"] is None for k in d["dep_kinds"]))
compile_time = {(packages[p]["name"], packages[p]["version"]) for p in compile_time}
for name, version in sorted(linked - listed):
    problems.append("missing: %s %s" % (name, version))
for name, version in sorted(listed - linked - compile_time):
    problems.append("neither linked for %s nor a proc macro's: %s %s" % (target, name, version))
if problems:
    sys.exit("sbom: %s:\n  %s" % (sbom_path, "\n  ".join(problems)))
print("sbom: %s: %d crates: the %d cargo links for %s, and %d proc macros and their dependencies"
      % (sbom_path.rsplit("/", 1)[-1], len(listed), len(linked), target, len(listed - linked)))
PY
  done
  rm -f "${out}/metadata-${target}.json"
done
