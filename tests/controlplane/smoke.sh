#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Proof tests for a Kubernetes cluster: runs against whatever KUBECONFIG (or
# ~/.kube/config) points at, using kubectl and helm from PATH, so it works
# against tests/controlplane/up.sh, kind (tests/kind.sh) or any cluster.
#
# Usage: tests/controlplane/smoke.sh [CHECK...]   (default: all checks)
# Prints "ok - NAME" or "not ok - NAME: REASON" (plus "#" detail lines) per
# check, then a last line "N passed, N failed"; exits non-zero if any failed.
# Each run works in a fresh namespace smoke-XXXX, deleted at the end, and a
# throwaway CRD widgets.smoke.proxy-order.test, also deleted at the end.
# SMOKE_KUBE_VERSION overrides the expected server version (default:
# KUBE_VERSION from versions.env).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${here}/versions.env"
expect_version="${SMOKE_KUBE_VERSION:-${KUBE_VERSION}}"

all_checks=(
  crd_status_subresource
  server_side_apply
  secret_event_lease
  rbac_serviceaccount
  garbage_collection
  serviceaccount_token
  helm_template_dry_run
  server_version
)
checks=("$@")
(( ${#checks[@]} )) || checks=("${all_checks[@]}")
for c in "${checks[@]}"; do
  [[ " ${all_checks[*]} " == *" ${c} "* ]] || { echo "smoke.sh: unknown check '${c}'; known: ${all_checks[*]}" >&2; exit 2; }
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/smoke.XXXXXX")"
NS="smoke-$(date +%s)-${RANDOM}"
CRD=widgets.smoke.proxy-order.test
# Keep kubectl's discovery cache and helm's state out of $HOME.
export KUBECACHEDIR="${tmp}/kube-cache"
export HELM_CACHE_HOME="${tmp}/helm/cache" HELM_CONFIG_HOME="${tmp}/helm/config" HELM_DATA_HOME="${tmp}/helm/data"

cleanup() {
  kubectl delete namespace "${NS}" --wait=false --ignore-not-found >/dev/null 2>&1 || true
  kubectl delete crd "${CRD}" --wait=false --ignore-not-found >/dev/null 2>&1 || true
  rm -rf "${tmp}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers (used inside checks, which run in a subshell with set -e) -----------
fail() { echo "$*"; exit 1; }
k() { kubectl -n "${NS}" "$@"; }
# expect_eq WHAT GOT WANT
expect_eq() { [[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"; }
# poll SECONDS CMD...: retry CMD every second until it succeeds.
poll() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    (( SECONDS < deadline )) || return 1
    sleep 1
  done
}
sa_user() { echo "system:serviceaccount:${NS}:$1"; }

# --- checks ------------------------------------------------------------------------

# (a) CRD with a status subresource: Established, objects can be created, status
# only changes through /status, and spec only through the main resource.
crd_status_subresource() {
  kubectl apply -f - <<EOF
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${CRD}
spec:
  group: smoke.proxy-order.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties: {size: {type: integer}}
          status:
            type: object
            properties: {phase: {type: string}, observed: {type: integer}}
EOF
  kubectl wait --for=condition=Established "crd/${CRD}" --timeout=60s
  # The new resource shows up in discovery shortly after Established.
  poll 30 k get widgets.smoke.proxy-order.test >/dev/null 2>&1 || fail "widgets not served 30s after Established"
  k create -f - <<EOF
apiVersion: smoke.proxy-order.test/v1
kind: Widget
metadata: {name: w1}
spec: {size: 1}
EOF
  k patch widget w1 --subresource=status --type=merge -p '{"status":{"phase":"Ready","observed":1}}'
  expect_eq "status.phase after status patch" "$(k get widget w1 -o jsonpath='{.status.phase}')" Ready
  # A status patch must not change spec ...
  k patch widget w1 --subresource=status --type=merge -p '{"spec":{"size":99},"status":{"observed":2}}'
  expect_eq "spec.size after status patch" "$(k get widget w1 -o jsonpath='{.spec.size}')" 1
  expect_eq "status.observed after status patch" "$(k get widget w1 -o jsonpath='{.status.observed}')" 2
  # ... and a patch of the main resource must not change status.
  k patch widget w1 --type=merge -p '{"spec":{"size":2},"status":{"phase":"Hacked"}}'
  expect_eq "spec.size after spec patch" "$(k get widget w1 -o jsonpath='{.spec.size}')" 2
  expect_eq "status.phase after spec patch" "$(k get widget w1 -o jsonpath='{.status.phase}')" Ready
}

# (b) Server-side apply: field ownership, and a conflict for a second manager.
server_side_apply() {
  cm() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {key: %s}\n' "$1"; }
  cm one | k apply --server-side --field-manager=smoke-a -f -
  local managers
  managers="$(k get configmap ssa --show-managed-fields -o jsonpath='{range .metadata.managedFields[*]}{.manager}/{.operation} {end}')"
  [[ " ${managers} " == *" smoke-a/Apply "* ]] || fail "managedFields has no smoke-a/Apply entry: ${managers}"
  local out status=0
  out="$(cm two | k apply --server-side --field-manager=smoke-b -f - 2>&1)" || status=$?
  (( status != 0 )) || fail "second field manager changed an owned field without a conflict: ${out}"
  grep -qi 'conflict' <<<"${out}" || fail "second apply failed, but not with a conflict: ${out}"
  expect_eq "data.key after the conflicting apply" "$(k get configmap ssa -o jsonpath='{.data.key}')" one
  cm two | k apply --server-side --field-manager=smoke-b --force-conflicts -f -
  expect_eq "data.key after --force-conflicts" "$(k get configmap ssa -o jsonpath='{.data.key}')" two
}

# (c) The core objects an operator writes: Secret, Event, Lease.
secret_event_lease() {
  k create secret generic smoke-secret --from-literal=token=s3cr3t
  expect_eq "secret data" "$(k get secret smoke-secret -o jsonpath='{.data.token}' | base64 -d)" s3cr3t
  local now
  now="$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)"
  k create -f - <<EOF
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: smoke-event}
eventTime: "${now}"
reportingController: proxy-order.test/smoke
reportingInstance: smoke-1
action: Testing
reason: SmokeTest
type: Normal
note: smoke test event
regarding: {apiVersion: v1, kind: Secret, name: smoke-secret, namespace: ${NS}}
EOF
  expect_eq "event reason" "$(k get events.v1.events.k8s.io smoke-event -o jsonpath='{.reason}')" SmokeTest
  k create -f - <<EOF
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: smoke-lease}
spec: {holderIdentity: smoke-1, leaseDurationSeconds: 15, acquireTime: "${now}", renewTime: "${now}"}
EOF
  expect_eq "lease holder" "$(k get lease smoke-lease -o jsonpath='{.spec.holderIdentity}')" smoke-1
}

# (d) RBAC: a service account is denied until a Role + RoleBinding allow it.
rbac_serviceaccount() {
  k create serviceaccount probe
  local as out status=0
  as="$(sa_user probe)"
  out="$(k auth can-i get secrets --as="${as}" 2>&1)" || status=$?
  [[ "${out}" == no* && ${status} -eq 1 ]] || fail "can-i before the RoleBinding: want 'no' (exit 1), got '${out}' (exit ${status})"
  status=0
  out="$(k create secret generic rbac-denied --from-literal=a=b --as="${as}" 2>&1)" || status=$?
  (( status != 0 )) || fail "creating a Secret as ${as} succeeded without any RBAC grant"
  grep -q 'Forbidden\|forbidden' <<<"${out}" || fail "creating a Secret as ${as} failed, but not as Forbidden: ${out}"
  k create role secret-writer --verb=get,list,create --resource=secrets
  k create rolebinding probe-secret-writer --role=secret-writer --serviceaccount="${NS}:probe"
  # shellcheck disable=SC2317 # called through poll
  can() { [[ "$(k auth can-i get secrets --as="${as}" 2>/dev/null)" == yes* ]]; }
  poll 15 can || fail "can-i still says no 15s after the RoleBinding"
  k create secret generic rbac-allowed --from-literal=a=b --as="${as}"
  expect_eq "secret created as ${as}" "$(k get secret rbac-allowed -o jsonpath='{.metadata.name}')" rbac-allowed
}

# (e) Garbage collection of a dependent after its owner is deleted (needs a
# running kube-controller-manager).
garbage_collection() {
  k create configmap gc-owner --from-literal=role=owner
  local uid
  uid="$(k get configmap gc-owner -o jsonpath='{.metadata.uid}')"
  [[ -n "${uid}" ]] || fail "owner has no uid"
  k create -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: gc-dependent
  ownerReferences:
  - {apiVersion: v1, kind: ConfigMap, name: gc-owner, uid: "${uid}"}
data: {role: dependent}
EOF
  k get configmap gc-dependent >/dev/null
  k delete configmap gc-owner --wait=true
  # shellcheck disable=SC2317 # called through poll
  gone() { [[ -z "$(k get configmap gc-dependent --ignore-not-found -o name 2>/dev/null)" ]]; }
  poll 60 gone || fail "dependent ConfigMap still exists 60s after its owner was deleted (is kube-controller-manager's garbagecollector running?)"
}

# (f) TokenRequest: a ServiceAccount token can be issued, and the apiserver
# accepts it as that ServiceAccount (TokenReview).
serviceaccount_token() {
  k get serviceaccount token-probe >/dev/null 2>&1 || k create serviceaccount token-probe
  local token review
  token="$(k create token token-probe --duration=10m)"
  [[ "${token}" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "create token did not return a JWT: ${token:0:80}"
  review="$(kubectl create -o jsonpath='{.status.authenticated} {.status.user.username}' -f - <<EOF
apiVersion: authentication.k8s.io/v1
kind: TokenReview
spec: {token: "${token}"}
EOF
)"
  expect_eq "TokenReview of the token" "${review}" "true $(sa_user token-probe)"
  # ... and a tampered token is rejected (the review can really fail).
  review="$(kubectl create -o jsonpath='{.status.authenticated}' -f - <<EOF
apiVersion: authentication.k8s.io/v1
kind: TokenReview
spec: {token: "${token%?????}AAAAA"}
EOF
)"
  [[ "${review}" != true ]] || fail "a tampered token was authenticated"
}

# (g) helm template of a trivial chart applies with a server-side dry run.
helm_template_dry_run() {
  command -v helm >/dev/null || fail "helm not found on PATH"
  local chart="${tmp}/chart" out
  mkdir -p "${chart}/templates"
  printf 'apiVersion: v2\nname: smoke\nversion: 0.1.0\n' >"${chart}/Chart.yaml"
  printf 'greeting: hello\n' >"${chart}/values.yaml"
  cat >"${chart}/templates/configmap.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels:
    app.kubernetes.io/managed-by: {{ .Release.Service }}
data:
  greeting: {{ .Values.greeting | quote }}
EOF
  helm template smoke-rel "${chart}" --namespace "${NS}" --set greeting=hi >"${tmp}/rendered.yaml"
  grep -q 'greeting: "hi"' "${tmp}/rendered.yaml" || fail "rendered chart lacks the value: $(cat "${tmp}/rendered.yaml")"
  out="$(k apply --dry-run=server -f "${tmp}/rendered.yaml")"
  [[ "${out}" == *"smoke-rel-config created (server dry run)"* ]] || fail "unexpected dry-run output: ${out}"
  [[ -z "$(k get configmap smoke-rel-config --ignore-not-found -o name)" ]] || fail "the dry run created the ConfigMap"
}

# (h) The server reports the pinned Kubernetes version.
server_version() {
  local json got client
  json="$(kubectl version -o json)"
  got="$(python3 -c 'import json,sys; print(json.load(sys.stdin).get("serverVersion",{}).get("gitVersion",""))' <<<"${json}")"
  client="$(python3 -c 'import json,sys; print(json.load(sys.stdin).get("clientVersion",{}).get("gitVersion",""))' <<<"${json}")"
  expect_eq "server gitVersion (kubectl ${client})" "${got}" "${expect_version}"
}

# --- runner -------------------------------------------------------------------------
passed=0 failed=0
report_fail() { # NAME OUTPUT-FILE
  local reason
  reason="$(grep -v '^[[:space:]]*$' "$2" | tail -n 1)"
  echo "not ok - $1: ${reason:-failed}"
  tail -n 12 "$2" | sed 's/^/#   /'
}

command -v kubectl >/dev/null 2>&1 || { echo "smoke.sh: error: kubectl not found on PATH" >&2; exit 1; }
if ! kubectl create namespace "${NS}" >"${tmp}/setup.out" 2>&1; then
  for c in "${checks[@]}"; do
    report_fail "${c}" "${tmp}/setup.out"
    failed=$((failed + 1))
  done
  echo "${passed} passed, ${failed} failed"
  exit 1
fi

for c in "${checks[@]}"; do
  # The check runs in a subshell whose status is NOT tested directly, so that
  # set -e really applies inside it.
  set +e
  ( set -e; "${c}" ) >"${tmp}/${c}.out" 2>&1
  status=$?
  set -e
  if (( status == 0 )); then
    echo "ok - ${c}"
    passed=$((passed + 1))
  else
    report_fail "${c}" "${tmp}/${c}.out"
    failed=$((failed + 1))
  fi
done

echo "${passed} passed, ${failed} failed"
(( failed == 0 ))
