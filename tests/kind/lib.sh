# shellcheck shell=bash source-path=SCRIPTDIR
# shellcheck disable=SC2034 # the KIND_* variables are used by the sourcing scripts
# Shared paths, versions and helpers of the kind tier (tests/kind/*.sh). Source it; it does not
# change shell options.

KIND_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KIND_ROOT="$(cd "${KIND_DIR}/../.." && pwd)"
# shellcheck source=../controlplane/versions.env
source "${KIND_ROOT}/tests/controlplane/versions.env"
# shellcheck source=versions.env
source "${KIND_DIR}/versions.env"

KIND_CACHE_ROOT="${PROXY_ORDER_CACHE:-${HOME}/.cache/proxy-order-operator}"
# kubelet, kubeadm, ... built by tests/controlplane/build.sh (the same folder as the local
# control plane's binaries).
KIND_K8S_BIN="${KIND_CACHE_ROOT}/k8s-${KUBE_VERSION}"
# kind itself, by version.
KIND_BIN_DIR="${KIND_CACHE_ROOT}/tools/kind-${KIND_VERSION}"
KIND_BIN="${KIND_BIN_DIR}/bin/kind"
# The Docker engine the tier starts when none is running: socket, data, exec root, pid file, log.
KIND_ENGINE_DIR="${KIND_CACHE_ROOT}/docker"
# Work files of image builds (root file systems, tars), by version; removed after a build.
KIND_BUILD_DIR="${KIND_CACHE_ROOT}/kind-build"
# One run's files: kubeconfig, logs, the docker shim's PATH folder.
KIND_WORK="${PROXY_ORDER_KIND_WORK:-${KIND_ROOT}/target/kind}"
KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-proxy-order-kind}"
# The docker network the node joins (created --internal by cluster.sh: no route out).
KIND_NETWORK="${KIND_NETWORK:-proxy-order-kind}"

kind_say() { echo "kind: $*" >&2; }
kind_die() { echo "kind: error: $*" >&2; exit 1; }

# kind_public: KIND_PUBLIC_IMAGES=1 uses the public kindest/node and base images (a machine with
# Docker and internet); otherwise every image is built here.
kind_public() { [[ "${KIND_PUBLIC_IMAGES:-0}" == 1 ]]; }

# kind_engine_env: point the docker client at the engine the tier uses: an engine the user runs
# (DOCKER_HOST, or /var/run/docker.sock answering) as it is, else the tier's own socket.
kind_engine_env() {
  if [[ -n "${DOCKER_HOST:-}" ]]; then
    return 0
  fi
  if [[ -S /var/run/docker.sock ]] && docker -H unix:///var/run/docker.sock version >/dev/null 2>&1; then
    export DOCKER_HOST=unix:///var/run/docker.sock
    return 0
  fi
  export DOCKER_HOST="unix://${KIND_ENGINE_DIR}/docker.sock"
}

# kind_hash FILE...: a short content hash of files (a version tag for what they build).
kind_hash() { cat "$@" | sha256sum | cut -c1-12; }

# kind_image_exists REF
kind_image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# kind_timed NAME CMD...: runs CMD, prints and records its wall time in ${KIND_WORK}/times.
kind_timed() {
  local name="$1" start=${SECONDS} status=0
  shift
  "$@" || status=$?
  mkdir -p "${KIND_WORK}"
  echo "${name} $((SECONDS - start))" >>"${KIND_WORK}/times"
  kind_say "${name}: $((SECONDS - start))s$( ((status == 0)) || echo " (failed, exit ${status})")"
  return "${status}"
}
