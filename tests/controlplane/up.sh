#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start a throwaway Kubernetes control plane on loopback: etcd,
# kube-apiserver and kube-controller-manager built by build.sh (no nodes, no
# containers). Idempotent: if it is already up and healthy it says so.
#
# Writes, under target/controlplane/ of the repo:
#   kubeconfig   admin kubeconfig (CN=admin, O=system:masters)
#   env          `. target/controlplane/env` sets KUBECONFIG and puts the
#                matching kubectl and helm first on PATH
#   pids         "name pid binary" lines, read by down.sh
#   logs/        one log per component
#   pki/, data/  throwaway certificates and the etcd data dir
# Environment: PROXY_ORDER_CACHE (binary cache), CP_READY_TIMEOUT (seconds to
# wait for each component, default 120), CP_APISERVER_PORT (fixed apiserver
# port instead of a free one), CP_PROFILING=true (the API server's
# /debug/pprof endpoints, e.g. for a CPU profile during `make bench`).
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

say() { echo "up.sh: $*"; }
die() { echo "up.sh: error: $*" >&2; exit 1; }

timeout_s="${CP_READY_TIMEOUT:-120}"

for tool in openssl python3 curl; do
  command -v "${tool}" >/dev/null 2>&1 || die "'${tool}' not found on PATH; it is needed to start the control plane"
done

"${CP_DIR}/build.sh" || die "building the control plane binaries failed (exit $?); see the build.sh error above"

kubectl=("${CP_BIN}/kubectl" --kubeconfig "${CP_KUBECONFIG}")

apiserver_ready() {
  [[ -f "${CP_KUBECONFIG}" ]] && "${kubectl[@]}" --request-timeout=5s get --raw=/readyz >/dev/null 2>&1
}

# --- already up? ------------------------------------------------------------
if [[ -f "${CP_PIDS}" ]]; then
  all_alive=1
  while read -r name pid bin; do
    cp_pid_alive "${pid}" "${bin}" || { all_alive=0; say "${name} (pid ${pid}) is not running"; }
  done <"${CP_PIDS}"
  if (( all_alive )) && apiserver_ready; then
    cp_write_env "${CP_BIN}"
    say "control plane already up and healthy ($("${kubectl[@]}" config view --minify -o jsonpath='{.clusters[0].cluster.server}'))"
    say "use it with: . ${CP_ENV}"
    exit 0
  fi
  say "found a stale or unhealthy control plane; stopping it first"
  "${CP_DIR}/down.sh"
fi

# --- ports ------------------------------------------------------------------------
# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}
# Four distinct free loopback ports, chosen by the kernel.
read -r etcd_port etcd_peer_port kcm_port apiserver_port < <(python3 - <<'PY'
import socket
socks = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
if [[ -n "${CP_APISERVER_PORT:-}" ]]; then
  [[ "${CP_APISERVER_PORT}" =~ ^[0-9]+$ ]] || die "CP_APISERVER_PORT=${CP_APISERVER_PORT} is not a port number"
  apiserver_port="${CP_APISERVER_PORT}"
fi
check_port() { # PORT WHAT
  port_free "$1" || die "port $1 (for $2) on 127.0.0.1 is already in use; stop whatever listens there (or unset CP_APISERVER_PORT)"
}
check_port "${etcd_port}" "etcd clients"
check_port "${etcd_peer_port}" "etcd peers"
check_port "${apiserver_port}" "kube-apiserver"
check_port "${kcm_port}" "kube-controller-manager"

# From here on, a failure stops whatever was started (logs are kept).
started=0
on_exit() {
  local status=$?
  if (( status != 0 && started )); then
    echo "up.sh: stopping the components that were started (logs kept in ${CP_LOGS})" >&2
    "${CP_DIR}/down.sh" >/dev/null 2>&1 || true
  fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# Keep the previous run's logs (e.g. of a failed run) in logs.prev/.
rm -rf "${CP_PKI}" "${CP_DATA}" "${CP_LOGS}.prev"
if [[ -d "${CP_LOGS}" ]]; then mv "${CP_LOGS}" "${CP_LOGS}.prev"; fi
mkdir -p "${CP_PKI}" "${CP_DATA}" "${CP_LOGS}"

# --- certificates ---------------------------------------------------------------
say "creating throwaway CA and certificates in ${CP_PKI}"
pki_log="${CP_LOGS}/openssl.log"
ossl() { openssl "$@" >>"${pki_log}" 2>&1 || die "openssl $1 failed; see ${pki_log}"; }
ossl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
  -keyout "${CP_PKI}/ca.key" -out "${CP_PKI}/ca.crt" -subj "/CN=proxy-order-test-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"

# Front-proxy CA (request-header authentication of aggregated API servers).
ossl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
  -keyout "${CP_PKI}/front-proxy-ca.key" -out "${CP_PKI}/front-proxy-ca.crt" -subj "/CN=proxy-order-test-front-proxy-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"

# cert NAME SUBJECT EXTENSIONS [CA]: a leaf certificate signed by the test CA
# (or by pki/CA.crt).
cert() {
  local name="$1" subj="$2" ext="$3" ca="${4:-ca}"
  ossl req -new -newkey rsa:2048 -nodes -sha256 -keyout "${CP_PKI}/${name}.key" \
    -out "${CP_PKI}/${name}.csr" -subj "${subj}"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "${ext}" >"${CP_PKI}/${name}.ext"
  ossl x509 -req -sha256 -days 30 -in "${CP_PKI}/${name}.csr" -CA "${CP_PKI}/${ca}.crt" -CAkey "${CP_PKI}/${ca}.key" \
    -CAcreateserial -extfile "${CP_PKI}/${name}.ext" -out "${CP_PKI}/${name}.crt"
  rm -f "${CP_PKI}/${name}.csr" "${CP_PKI}/${name}.ext"
}
cert serving "/CN=kube-apiserver" "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert admin "/O=system:masters/CN=admin" "extendedKeyUsage=clientAuth"
cert controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
cert front-proxy-client "/CN=front-proxy-client" "extendedKeyUsage=clientAuth" front-proxy-ca
# service-account token signing keypair (TokenRequest, kube-root-ca.crt).
ossl genrsa -out "${CP_PKI}/sa.key" 2048
ossl rsa -in "${CP_PKI}/sa.key" -pubout -out "${CP_PKI}/sa.pub"

# --- processes --------------------------------------------------------------------
# start NAME ARGS...: start ${CP_BIN}/NAME in its own session (survives this
# script and the terminal), stdin from /dev/null, output to logs/NAME.log.
start() {
  local name="$1" bin="${CP_BIN}/$1" pid
  shift
  pid="$(cp_spawn "${CP_LOGS}/${name}.log" "${bin}" "$@")" || die "could not start ${name}"
  started=1
  echo "${name} ${pid} ${bin}" >>"${CP_PIDS}"
  say "started ${name} (pid ${pid}), log: ${CP_LOGS}/${name}.log"
}

# wait_ready NAME PORT CHECK...: wait until CHECK succeeds; fail clearly if the
# process dies or the timeout passes.
wait_ready() {
  local name="$1" port="$2" pid deadline=$((SECONDS + timeout_s))
  shift 2
  pid="$(awk -v n="${name}" '$1 == n {print $2}' "${CP_PIDS}")"
  until "$@" >/dev/null 2>&1; do
    if ! cp_pid_alive "${pid}" "${CP_BIN}/${name}"; then
      if grep -qi 'address already in use' "${CP_LOGS}/${name}.log"; then
        die "${name} could not listen: port ${port} on 127.0.0.1 is already in use (log: ${CP_LOGS}/${name}.log)"
      fi
      echo "up.sh: last 20 lines of ${CP_LOGS}/${name}.log:" >&2
      tail -n 20 "${CP_LOGS}/${name}.log" | sed 's/^/    /' >&2
      die "${name} exited before becoming ready; log: ${CP_LOGS}/${name}.log"
    fi
    if (( SECONDS >= deadline )); then
      echo "up.sh: last 20 lines of ${CP_LOGS}/${name}.log:" >&2
      tail -n 20 "${CP_LOGS}/${name}.log" | sed 's/^/    /' >&2
      die "${name} did not become ready within ${timeout_s}s; log: ${CP_LOGS}/${name}.log"
    fi
    sleep 1
  done
  say "${name} is ready"
}

curl_ok() { curl -fsS --max-time 5 "$@"; }

: >"${CP_PIDS}"

start etcd \
  --name=controlplane \
  --data-dir="${CP_DATA}/etcd" \
  --listen-client-urls="http://127.0.0.1:${etcd_port}" \
  --advertise-client-urls="http://127.0.0.1:${etcd_port}" \
  --listen-peer-urls="http://127.0.0.1:${etcd_peer_port}" \
  --initial-advertise-peer-urls="http://127.0.0.1:${etcd_peer_port}" \
  --initial-cluster="controlplane=http://127.0.0.1:${etcd_peer_port}" \
  --initial-cluster-state=new \
  --unsafe-no-fsync \
  --log-level=warn
wait_ready etcd "${etcd_port}" curl_ok "http://127.0.0.1:${etcd_port}/health"

start kube-apiserver \
  --etcd-servers="http://127.0.0.1:${etcd_port}" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --secure-port="${apiserver_port}" \
  --cert-dir="${CP_PKI}" \
  --tls-cert-file="${CP_PKI}/serving.crt" \
  --tls-private-key-file="${CP_PKI}/serving.key" \
  --client-ca-file="${CP_PKI}/ca.crt" \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="${CP_PKI}/sa.pub" \
  --service-account-signing-key-file="${CP_PKI}/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --requestheader-client-ca-file="${CP_PKI}/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User \
  --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="${CP_PKI}/front-proxy-client.crt" \
  --proxy-client-key-file="${CP_PKI}/front-proxy-client.key" \
  --endpoint-reconciler-type=none \
  --allow-privileged=true \
  --profiling="${CP_PROFILING:-false}" \
  --v=1

# Kubeconfigs (certificates embedded, so they can be copied elsewhere).
server="https://127.0.0.1:${apiserver_port}"
# kubeconfig FILE USER: a kubeconfig for the client cert pki/USER.{crt,key}.
kubeconfig() {
  local kc=("${CP_BIN}/kubectl" --kubeconfig "$1")
  rm -f "$1"
  {
    "${kc[@]}" config set-cluster controlplane --server="${server}" \
      --certificate-authority="${CP_PKI}/ca.crt" --embed-certs=true
    "${kc[@]}" config set-credentials "$2" --client-certificate="${CP_PKI}/$2.crt" \
      --client-key="${CP_PKI}/$2.key" --embed-certs=true
    "${kc[@]}" config set-context "$2@controlplane" --cluster=controlplane --user="$2"
    "${kc[@]}" config use-context "$2@controlplane"
  } >/dev/null || die "could not write kubeconfig $1"
  chmod 600 "$1"
}
kubeconfig "${CP_KUBECONFIG}" admin
kubeconfig "${CP_PKI}/controller-manager.kubeconfig" controller-manager
wait_ready kube-apiserver "${apiserver_port}" apiserver_ready

# CP_FLOOR=1 (make test-floor): the oldest supported API server alone; its tests need no
# controllers.
if [[ "${CP_FLOOR:-0}" != 1 ]]; then
start kube-controller-manager \
  --kubeconfig="${CP_PKI}/controller-manager.kubeconfig" \
  --authentication-kubeconfig="${CP_PKI}/controller-manager.kubeconfig" \
  --authorization-kubeconfig="${CP_PKI}/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 \
  --secure-port="${kcm_port}" \
  --tls-cert-file="${CP_PKI}/serving.crt" \
  --tls-private-key-file="${CP_PKI}/serving.key" \
  --client-ca-file="${CP_PKI}/ca.crt" \
  --requestheader-client-ca-file="${CP_PKI}/front-proxy-ca.crt" \
  --controllers='*' \
  --use-service-account-credentials=true \
  --service-account-private-key-file="${CP_PKI}/sa.key" \
  --root-ca-file="${CP_PKI}/ca.crt" \
  --cluster-signing-cert-file="${CP_PKI}/ca.crt" \
  --cluster-signing-key-file="${CP_PKI}/ca.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --leader-elect=false \
  --profiling=false \
  --v=1
wait_ready kube-controller-manager "${kcm_port}" \
  curl_ok --cacert "${CP_PKI}/ca.crt" "https://127.0.0.1:${kcm_port}/healthz"
fi

cp_write_env "${CP_BIN}"
trap - EXIT
say "control plane ${KUBE_VERSION} is up at ${server}"
say "use it with: . ${CP_ENV}    (stop it with tests/controlplane/down.sh)"
