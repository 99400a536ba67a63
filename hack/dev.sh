#!/usr/bin/env bash
# `make dev`: a local control plane, the provider simulator, the operator and an example
# order. Ctrl-C stops everything it started. DEV_EXIT_WHEN_READY=1 stops (and tears down)
# once the example order is Ready, for unattended checks (make test-cold COLD_TARGET=dev).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
work="$root/target/dev"
mkdir -p "$work"
sim_addr="127.0.0.1:18080"
metrics_addr="127.0.0.1:18081"
api_key="dev-key"
pids=()

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping the operator, the simulator and the control plane ..."
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  tests/controlplane/down.sh || true
}
trap cleanup INT TERM EXIT

echo "==> building the operator and the simulator"
cargo build --locked --bins

echo "==> starting the control plane"
tests/controlplane/up.sh
# shellcheck disable=SC1091
source target/controlplane/env

# --proxy-listeners: the orders' proxies are real HTTP proxies on loopback addresses
# (127.B.0.x), so the credentials in a Secret can be tried with curl.
echo "==> starting the provider simulator on $sim_addr (API key: $api_key, proxies on loopback)"
target/debug/proxy-solutions-sim --listen "$sim_addr" --api-key "$api_key" --proxy-listeners >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  curl -fsS "http://$sim_addr/_sim/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://$sim_addr/_sim/healthz" >/dev/null || { echo "simulator did not start; see $work/sim.log" >&2; exit 1; }

echo "==> installing the CRDs"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established crd/proxyorders.proxy-solutions.net crd/proxyproviders.proxy-solutions.net --timeout=30s >/dev/null

echo "==> starting the operator (log: $work/operator.log)"
target/debug/proxy-order-operator \
  --provider-url "http://$sim_addr/api" \
  --operator-namespace default \
  --verify-credentials --probe-target "$sim_addr" \
  --metrics-addr "$metrics_addr" >"$work/operator.log" 2>&1 &
pids+=($!)

echo "==> applying the API-key Secret and examples/proxyorder.yaml"
kubectl create secret generic provider-key --from-literal=api-key="$api_key" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -f examples/proxyorder.yaml >/dev/null
if ! kubectl wait --for=condition=Ready proxyorder/example --timeout=60s >/dev/null; then
  echo "the example did not become Ready:" >&2
  kubectl get proxyorder example -o yaml >&2
  exit 1
fi
# The credentials probe goes through the simulator's proxy listener to the simulator itself.
echo "==> waiting for CredentialsVerified (a CONNECT through the example's proxy)"
if ! kubectl wait --for=condition=CredentialsVerified proxyorder/example --timeout=30s >/dev/null; then
  echo "the example's credentials were not verified:" >&2
  kubectl get proxyorder example -o yaml >&2
  exit 1
fi

echo "==> a ProxyProvider for the simulator (examples/proxyprovider.yaml) and a tenant's order in team-a"
kubectl create namespace team-a --dry-run=client -o yaml | kubectl apply -f - >/dev/null
sed "s#^  url: .*#  url: http://$sim_addr/api#" examples/proxyprovider.yaml | kubectl apply -f - >/dev/null
kubectl apply -f examples/proxyorder-tenant.yaml >/dev/null
if ! kubectl -n team-a wait --for=condition=Ready proxyorder/scraper --timeout=60s >/dev/null; then
  echo "the tenant's example did not become Ready:" >&2
  kubectl -n team-a get proxyorder scraper -o yaml >&2
  exit 1
fi

echo
kubectl get proxyproviders -o wide
echo
kubectl get proxyorders -A -o wide
echo
echo "Secret example-proxy holds: $(kubectl get secret example-proxy -o go-template='{{range $k, $v := .data}}{{$k}} {{end}}')"
cat <<TXT

Try next (in another shell: source target/controlplane/env):
  kubectl get secret example-proxy -o jsonpath='{.data.urls}' | base64 -d
  curl -p -x "\$(kubectl get secret example-proxy -o jsonpath='{.data.urls}' | base64 -d | head -1)" http://$sim_addr/_sim/healthz
                                          # the Secret's credentials open the simulated proxy
  curl http://$sim_addr/_sim/proxy-connects   # CONNECTs per order and how they ended
  kubectl annotate pxo example proxy-solutions.net/rotate-password=\$(date +%s) --overwrite
  kubectl patch pxo example --type=merge -p '{"spec":{"login":"demo2"}}'
  kubectl patch pxo example --type=merge -p '{"spec":{"quantity":4}}'     # waits for expiry
  curl -X POST http://$sim_addr/_sim/orders/10000/status -d '{"status":"waiting"}' -H 'content-type: application/json'
  kubectl annotate pxo example proxy-solutions.net/sync-requested-at=\$(date +%s) --overwrite
  curl http://$sim_addr/_sim/requests     # every provider call the operator made
  curl http://$metrics_addr/metrics
  kubectl describe pxo example
  kubectl create namespace team-b && sed 's/team-a/team-b/' examples/proxyorder-tenant.yaml | kubectl apply -f -
                                          # not allowed by the provider: NamespaceNotAllowed
  kubectl label namespace team-b proxy-solutions.net/tenant=true   # now allowed: OrderConflict
  kubectl get leases -l proxy-solutions.net/order-claim=true   # who holds which order

Press Ctrl-C to stop everything.
TXT
if [[ "${DEV_EXIT_WHEN_READY:-0}" == 1 ]]; then
  echo "DEV_EXIT_WHEN_READY=1: the example order is Ready; stopping"
  exit 0
fi
wait
