#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Run the control-plane smoke tests against a kind cluster (needs Docker or
# Podman, and `kind` on PATH): an alternative to tests/controlplane/up.sh for
# machines with a container engine.
#
#   tests/kind.sh [up]   create kind cluster "proxy-order-test" (kept if it
#                        already exists), write target/controlplane/kubeconfig
#                        and target/controlplane/env like up.sh, run smoke.sh
#   tests/kind.sh down   delete the cluster
#
# KIND_NODE_IMAGE overrides the node image (default kindest/node:KUBE_VERSION
# from tests/controlplane/versions.env). kubectl and helm come from the
# tests/controlplane/build.sh cache if built there, else from PATH.
set -euo pipefail

# shellcheck source=controlplane/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/controlplane/lib.sh"

cluster=proxy-order-test
marker="${CP_WORK}/kind-cluster"
image="${KIND_NODE_IMAGE:-kindest/node:${KUBE_VERSION}}"

say() { echo "kind.sh: $*"; }
die() { echo "kind.sh: error: $*" >&2; exit 1; }

command -v kind >/dev/null 2>&1 \
  || die "'kind' not found on PATH; install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation) or use tests/controlplane/up.sh"

cluster_exists() { kind get clusters 2>/dev/null | grep -qx "${cluster}"; }

case "${1:-up}" in
  down)
    if cluster_exists; then
      kind delete cluster --name "${cluster}"
    else
      say "kind cluster ${cluster} does not exist"
    fi
    if [[ -f "${marker}" ]]; then
      rm -f "${CP_KUBECONFIG}" "${CP_ENV}" "${marker}"
    fi
    exit 0
    ;;
  up) ;;
  *) die "usage: $0 [up|down]" ;;
esac

[[ ! -f "${CP_PIDS}" ]] \
  || die "a local control plane from tests/controlplane/up.sh is running (it owns ${CP_KUBECONFIG}); stop it with tests/controlplane/down.sh"

# kubectl and helm: the version-matched ones from the build cache, else PATH.
bindir="${CP_BIN}"
if [[ ! -x "${bindir}/kubectl" || ! -x "${bindir}/helm" ]]; then
  bindir="${CP_WORK}/kind-bin"
  mkdir -p "${bindir}"
  for tool in kubectl helm; do
    if [[ -x "${CP_BIN}/${tool}" ]]; then
      ln -sf "${CP_BIN}/${tool}" "${bindir}/${tool}"
    elif command -v "${tool}" >/dev/null 2>&1; then
      ln -sf "$(command -v "${tool}")" "${bindir}/${tool}"
    else
      die "'${tool}' not found in ${CP_BIN} or on PATH; run tests/controlplane/build.sh (builds it) or install it"
    fi
  done
fi

if cluster_exists; then
  say "kind cluster ${cluster} already exists; reusing it"
else
  say "creating kind cluster ${cluster} (${image})"
  kind create cluster --name "${cluster}" --image "${image}" --wait 120s \
    || die "kind create cluster failed (is Docker running? does ${image} exist? set KIND_NODE_IMAGE)"
fi

mkdir -p "${CP_WORK}"
kind get kubeconfig --name "${cluster}" >"${CP_KUBECONFIG}"
chmod 600 "${CP_KUBECONFIG}"
cp_write_env "${bindir}"
echo "${cluster}" >"${marker}"
say "kubeconfig: ${CP_KUBECONFIG}; use it with: . ${CP_ENV}"

# shellcheck source=/dev/null
source "${CP_ENV}"
exec "${CP_DIR}/smoke.sh" "${@:2}"
