#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The kind tier (`make test-kind`, and the last step of `make test`): a real single-node kind
# cluster, the chart installed with the project's images, a user's journey on it.
#
#   tests/kind/run.sh
#
# 1. a Docker engine (engine.sh: the user's own, else Debian's dockerd on its own socket and data
#    folder under ${PROXY_ORDER_CACHE}/docker, started here and stopped at the end)
# 2. kind ${KIND_VERSION} (go install, cached by version in ${PROXY_ORDER_CACHE}/tools)
# 3. every image (images.sh: built here from Debian packages, Go modules and this project, cached
#    by version in the engine's data folder), and the kubectl plugin as krew ships it (static,
#    release; hack/build-static.sh), which the suite runs on this machine against the cluster
# 4. the cluster (cluster.sh: created, its guards checked before any pod starts)
# 5. the suite (suite.sh)
# 6. the cluster deleted and the engine stopped, also on failure and Ctrl-C; then the machine's
#    kernel settings are compared with those before the run (nothing of the machine may change)
#
# Settings (environment):
#   KIND_PUBLIC_IMAGES=1   kind's public kindest/node and the Dockerfile's public base images
#                          (a machine with Docker and internet; see docs/kind.md)
#   KIND_KEEP=1            keep the cluster and the engine running at the end (then delete with
#                          `tests/kind/cluster.sh delete; tests/kind/engine.sh stop`)
#   PROXY_ORDER_CACHE      the project cache (default ~/.cache/proxy-order-operator)
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

total_start=${SECONDS}
mkdir -p "${KIND_WORK}"
rm -f "${KIND_WORK}/times"
# kubectl's and helm's caches and settings in the run's folder, not under ${HOME}.
export KUBECACHEDIR="${KIND_WORK}/kube-cache" HELM_CACHE_HOME="${KIND_WORK}/helm/cache" \
  HELM_CONFIG_HOME="${KIND_WORK}/helm/config" HELM_DATA_HOME="${KIND_WORK}/helm/data"

# --- the machine before -------------------------------------------------------------------------
# Kernel settings that change by themselves (counters, random values) and those of the network
# interfaces Docker adds and removes (veth*, br-*, docker*) are left out; every other one, net.*
# of the machine's own network namespace included, must be the same at the end.
volatile='^(fs\.(dentry-state|file-nr|inode-nr|inode-state|aio-nr|quota\.[a-z_]+)|kernel\.(ns_last_pid|random\.(uuid|entropy_avail)|pty\.nr|sched_domain\..*)|net\.(ipv4|ipv6)\.(conf|neigh)\.(veth|br-|docker)[^.]*\..*|net\.netfilter\.nf_conntrack_count|net\.ipv6\.conf\.[^.]*\.stable_secret) '
# sysctl, dockerd and ip live in the system's sbin folders, which a bare PATH may lack.
for dir in /usr/local/sbin /usr/sbin /sbin; do
  [[ -d "${dir}" && ":${PATH}:" != *":${dir}:"* ]] && PATH="${PATH}:${dir}"
done
export PATH
command -v sysctl >/dev/null 2>&1 || kind_die "'sysctl' not found (procps), needed to compare the machine's kernel settings before and after"
host_state() {
  sysctl -a 2>/dev/null | grep -vE "${volatile}" | sort
  echo "lib-modules-exists=$([[ -e /lib/modules ]] && echo yes || echo no)"
}
host_state >"${KIND_WORK}/host-before.txt"

cleanup_done=0
cleanup() {
  local status=$?
  ((cleanup_done)) && return
  cleanup_done=1
  trap '' INT TERM
  if [[ "${KIND_KEEP:-0}" == 1 ]]; then
    kind_say "KIND_KEEP=1: the cluster and the engine stay (kubeconfig: ${KIND_WORK}/kubeconfig)"
  else
    kind_timed cluster-delete "${KIND_DIR}/cluster.sh" delete || true
    "${KIND_DIR}/engine.sh" stop || true
    host_state >"${KIND_WORK}/host-after.txt"
    if diff -u "${KIND_WORK}/host-before.txt" "${KIND_WORK}/host-after.txt" >"${KIND_WORK}/host-diff.txt"; then
      kind_say "the machine's kernel settings are as before the run ($(wc -l <"${KIND_WORK}/host-before.txt") compared), /lib/modules unchanged"
    elif kind_public; then
      # kindest/node runs --privileged with a writable /proc/sys (kubelet sets its kernel
      # settings), as kind does everywhere: reported, not failed on.
      cat "${KIND_WORK}/host-diff.txt" >&2
      kind_say "warning: kindest/node changed the machine's kernel settings (diff above; KIND_PUBLIC_IMAGES=1 has no node guard)"
    else
      cat "${KIND_WORK}/host-diff.txt" >&2
      kind_say "FAILED: the machine's kernel settings changed during the run (diff above)"
      ((status != 0)) || status=1
    fi
  fi
  if [[ -f "${KIND_WORK}/times" ]]; then
    kind_say "times (s):"
    sed 's/^/    /' "${KIND_WORK}/times" >&2
  fi
  kind_say "kind tier: $( ((status == 0)) && echo passed || echo "FAILED (exit ${status})") in $((SECONDS - total_start))s"
  exit "${status}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. the engine ------------------------------------------------------------------------------
kind_timed engine-start "${KIND_DIR}/engine.sh" start
eval "export $("${KIND_DIR}/engine.sh" env)"

# --- 2. kind ------------------------------------------------------------------------------------
install_kind() {
  if [[ -x "${KIND_BIN}" ]] && "${KIND_BIN}" version 2>/dev/null | grep -q "kind ${KIND_VERSION} "; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || kind_die "'go' not found on PATH, needed to install kind"
  kind_say "installing kind ${KIND_VERSION} into ${KIND_BIN_DIR} (go install)"
  mkdir -p "${KIND_BIN_DIR}"
  exec 8>"${KIND_BIN_DIR}.lock"
  flock 8
  (cd "${KIND_BIN_DIR}" && GOFLAGS=-buildvcs=false GOBIN="${KIND_BIN_DIR}/bin" \
    go install "sigs.k8s.io/kind@${KIND_VERSION}")
}
kind_timed kind-install install_kind

# --- 3. images ----------------------------------------------------------------------------------
kind_timed images "${KIND_DIR}/images.sh" >"${KIND_WORK}/images.env"
# shellcheck source=/dev/null
source "${KIND_WORK}/images.env"
kind_say "images: $(tr '\n' ' ' <"${KIND_WORK}/images.env")"
kind_timed plugin-build env BINS=kubectl-pxo "${KIND_ROOT}/hack/build-static.sh" x86_64-unknown-linux-musl
PLUGIN_BIN="${CARGO_TARGET_DIR:-${KIND_ROOT}/target}/x86_64-unknown-linux-musl/release/kubectl-pxo"

# --- 4. the cluster -----------------------------------------------------------------------------
kind_timed cluster "${KIND_DIR}/cluster.sh" create "${NODE_IMAGE}"
export KUBECONFIG="${KIND_WORK}/kubeconfig"
load_images() {
  local images=("${OPERATOR_IMAGE}" "${SIMULATOR_IMAGE}" "${CONSUMER_IMAGE}")
  if kind_public; then docker pull -q "${CONSUMER_IMAGE}" >/dev/null; fi
  PATH="${KIND_DIR}/docker-shim:${PATH}" "${KIND_BIN}" load docker-image --name "${KIND_CLUSTER_NAME}" "${images[@]}"
}
kind_timed image-load load_images

# --- 5. the suite -------------------------------------------------------------------------------
# kubectl and helm at the control plane's pinned versions (built once into the same cache; kubectl
# is there already for the node image).
kind_timed tools "${KIND_ROOT}/tests/controlplane/build.sh" kubectl helm >&2
export OPERATOR_IMAGE SIMULATOR_IMAGE CONSUMER_IMAGE PLUGIN_BIN
kind_timed suite "${KIND_DIR}/suite.sh"
