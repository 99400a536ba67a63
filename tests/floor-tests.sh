#!/usr/bin/env bash
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion, KUBE_FLOOR_VERSION in
# tests/controlplane/versions.env), against the cluster KUBECONFIG names: run through
# CP_FLOOR=1 tests/controlplane/with-controlplane.sh (make test-floor), which starts that
# version's kube-apiserver (and no controller manager).
#   1. the control plane's smoke checks, its version included;
#   2. helm install of the chart (its kubeVersion admits this API server; the CRDs with their
#      CEL rules, the RBAC, the aggregated ClusterRoles, the Deployment are all created), then
#      helm uninstall (the CRDs kept);
#   3. the end-to-end scenarios of admission (every refused manifest, by field) and a set of
#      reconciles: first reconcile, a change, pause, Secrets, a ProxyProvider, the chart's
#      RBAC, leader election.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KUBECONFIG:?KUBECONFIG must name the cluster to test against}"
# shellcheck source=controlplane/versions.env
source tests/controlplane/versions.env

server="$(kubectl version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
[[ "${server}" == "${KUBE_FLOOR_VERSION}" ]] || { echo "floor: the API server is ${server}, not ${KUBE_FLOOR_VERSION}" >&2; exit 1; }
echo "floor: API server ${server}"

# Every smoke check but garbage collection: no controller manager runs here.
SMOKE_KUBE_VERSION="${KUBE_FLOOR_VERSION}" tests/controlplane/smoke.sh crd_status_subresource \
  server_side_apply secret_event_lease rbac_serviceaccount serviceaccount_token helm_template_dry_run server_version

ns="floor-$(python3 -c 'import secrets; print(secrets.token_hex(3))')"
kubectl create namespace "${ns}" >/dev/null
kubectl label namespace "${ns}" pod-security.kubernetes.io/enforce=restricted >/dev/null
echo "floor: helm install of the chart into ${ns} (restricted)"
helm install floor charts/proxy-order-operator --namespace "${ns}" --wait=false --set replicaCount=2 >/dev/null
for crd in proxyorders.proxy-solutions.net proxyproviders.proxy-solutions.net; do
  kubectl wait --for condition=established --timeout=60s "crd/${crd}" >/dev/null
done
kubectl get -n "${ns}" deployment/floor-proxy-order-operator role/floor-proxy-order-operator-leader-election -o name
kubectl get clusterrole/floor-proxy-order-operator-edit clusterrole/floor-proxy-order-operator-view -o name
helm uninstall floor --namespace "${ns}" --no-hooks >/dev/null
kubectl delete namespace "${ns}" --wait=false >/dev/null
echo "floor: helm install and uninstall passed"

# The scenarios that need no controller manager (no garbage collection, no namespace deletion
# awaited): admission, reconciles, referenced Secrets, a ProxyProvider, the chart's RBAC and
# leader election.
features="${TEST_FEATURES:---features failpoints}"
# shellcheck disable=SC2086 # one or more cargo arguments
cargo test --locked ${features} --test e2e -- --test-threads="${E2E_THREADS:-4}" \
  admission:: \
  lifecycle::first_reconcile_publishes_secret_and_status \
  lifecycle::a_changed_field_is_one_call_with_only_that_field \
  lifecycle::paused_orders_make_no_calls_and_can_be_deleted \
  secrets::password_from_a_secret_is_sent_and_resent_on_change \
  secrets::missing_secrets_are_named_and_recover_without_restart \
  tenancy::providers::a_provider_serves_the_namespaces_it_allows \
  deployment::the_charts_permissions_are_enough \
  deployment::one_leader_reconciles_and_a_successor_takes_over
