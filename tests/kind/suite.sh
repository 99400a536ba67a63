#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The kind tier's suite: a user's journey on a real node, in the order a user acts. Run by
# tests/kind/run.sh on a fresh cluster (KUBECONFIG set, the images loaded into the node):
#
#   OPERATOR_IMAGE=... SIMULATOR_IMAGE=... CONSUMER_IMAGE=... PLUGIN_BIN=... tests/kind/suite.sh
#
# PLUGIN_BIN is the kubectl plugin (kubectl-pxo) built on this machine; it runs here, against the
# cluster, as a user's kubectl would.
#
# Every step asserts; the first failure stops the suite (with the operator's and simulator's logs
# and the namespaces' events in ${KIND_WORK}/suite-logs). Prints the time of each step and
# "N passed, 0 failed" at the end.
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

: "${KUBECONFIG:?}" "${OPERATOR_IMAGE:?}" "${SIMULATOR_IMAGE:?}" "${CONSUMER_IMAGE:?}" "${PLUGIN_BIN:?}"
export KUBECONFIG
kubectl="${KIND_K8S_BIN}/kubectl"
helm="${KIND_K8S_BIN}/helm"
[[ -x "${kubectl}" ]] || kubectl=kubectl
[[ -x "${helm}" ]] || helm=helm
k() { "${kubectl}" "$@"; }
h() { "${helm}" "$@"; }

chart="${KIND_ROOT}/charts/proxy-order-operator"
release=pxo
op_ns="proxy-order-system"
sim_ns="provider-sim"
tenant="tenant-a"
checks_ns="kind-checks"
fullname="${release}-proxy-order-operator"
sim_svc="proxy-solutions-sim.${sim_ns}.svc"
api_key="kind-tier-api-key"
order_id=10000
logs="${KIND_WORK}/suite-logs"
mkdir -p "${logs}"

passed=0
step_name=""
step_start=0
step() {
  end_step
  step_name="$1"
  step_start=${SECONDS}
  echo "--- ${step_name}"
}
end_step() {
  if [[ -n "${step_name}" ]]; then
    passed=$((passed + 1))
    echo "ok: ${step_name} ($((SECONDS - step_start))s)"
    echo "suite-step $((SECONDS - step_start)) ${step_name}" >>"${KIND_WORK}/times"
  fi
  step_name=""
}
fail() {
  echo "FAILED: ${step_name}: $*" >&2
  collect_logs
  echo "${passed} passed, 1 failed"
  exit 1
}
collect_logs() {
  {
    k -n "${op_ns}" logs -l app.kubernetes.io/name=proxy-order-operator --all-containers --tail=-1 --prefix || true
  } >"${logs}/operator.log" 2>&1
  k -n "${sim_ns}" logs deploy/proxy-solutions-sim --tail=-1 >"${logs}/simulator.log" 2>&1 || true
  for ns in "${op_ns}" "${sim_ns}" "${tenant}" "${checks_ns}" kube-system; do
    k -n "${ns}" get events --sort-by=.lastTimestamp >"${logs}/events-${ns}.txt" 2>&1 || true
    k -n "${ns}" get all -o wide >"${logs}/objects-${ns}.txt" 2>&1 || true
  done
  k get proxyorders -A -o yaml >"${logs}/proxyorders.yaml" 2>&1 || true
  echo "suite: logs in ${logs}" >&2
}

# wait_for DESCRIPTION TIMEOUT CMD...: CMD until it succeeds, or fail.
wait_for() {
  local what="$1" timeout="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for ${what}"
    sleep 1
  done
}

# json EXPR: evaluates a Python expression over the JSON on stdin (as `d`).
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# sim PATH: the simulator's admin API through the API server's service proxy.
sim_get() { k get --raw "/api/v1/namespaces/${sim_ns}/services/http:proxy-solutions-sim:8080/proxy/_sim/$1"; }
sim_post() {
  local body="${logs}/sim-post.json"
  printf '%s' "$2" >"${body}"
  k create --raw "/api/v1/namespaces/${sim_ns}/services/http:proxy-solutions-sim:8080/proxy/_sim/$1" -f "${body}"
}
# provider_calls: how many provider-API requests the simulator has received.
provider_calls() { sim_get requests | json 'len(d)'; }
# calls_since N: the requests after the first N, as "changes reads": changes are every call but
# a read of the order list (GET /api/user/orders).
calls_since() {
  sim_get requests | json "'%d %d' % (sum(1 for r in d[$1:] if not (r['method']=='GET' and r['path']=='/api/user/orders')), sum(1 for r in d[$1:] if r['method']=='GET' and r['path']=='/api/user/orders'))"
}
# provider_quiet: no provider call for 5 s.
provider_quiet() { local a; a="$(provider_calls)"; sleep 5; [[ "${a}" == "$(provider_calls)" ]]; }
# password_changed: the Secret's password is no longer ${old_password}.
password_changed() { [[ "$(secret_value password)" != "${old_password}" ]]; }
sim_password() { sim_get "orders/${order_id}" | json 'd["access"]["password"]'; }

condition() { # KIND NS NAME TYPE: the condition's status
  k -n "$2" get "$1" "$3" -o jsonpath="{.status.conditions[?(@.type==\"$4\")].status}"
}
is_true() { [[ "$(condition "$@")" == True ]]; }
secret_value() { k -n "${tenant}" get secret scraper-proxy -o jsonpath="{.data.$1}" | base64 -d; }

# run_pod NS NAME CMD: a one-off Pod of the consumer image (restricted-compliant); prints its
# log; its exit code is the command's.
run_pod() {
  local ns="$1" name="$2" cmd="$3"
  k -n "${ns}" delete pod "${name}" --ignore-not-found --wait=true >/dev/null
  k -n "${ns}" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: run
      image: ${CONSUMER_IMAGE}
      imagePullPolicy: IfNotPresent
      command: ["/bin/sh", "-c", $(printf '%s' "${cmd}" | json_quote)]
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
      volumeMounts: [{name: tmp, mountPath: /tmp}]
  volumes: [{name: tmp, emptyDir: {}}]
EOF
  local phase="" deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)); do
    phase="$(k -n "${ns}" get pod "${name}" -o jsonpath='{.status.phase}')"
    [[ "${phase}" == Succeeded || "${phase}" == Failed ]] && break
    sleep 1
  done
  k -n "${ns}" logs "${name}" 2>/dev/null || true
  k -n "${ns}" delete pod "${name}" --wait=false >/dev/null 2>&1 || true
  [[ "${phase}" == Succeeded ]]
}
json_quote() { python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'; }

restricted_namespace() {
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $1
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/audit: restricted
EOF
}

image_repo() { echo "${1%:*}"; }
image_tag() { echo "${1##*:}"; }

# The chart's values for this cluster (what a user sets): the operator image loaded into the
# node, the simulator as the provider, rollouts and the credentials probe on, a short lease and
# provider timeout so that a takeover is quick. The refresh interval is a day: a restarted operator
# reads the order list of a settled ProxyOrder or ProxyProvider first at a point of its first
# refresh interval that the object's UID picks, so with the default 10 minutes one run in
# five would see such a read within a minute of a restart and fail the steps that count zero
# provider requests through upgrades and reinstalls (with a day: about one in 700).
values="${KIND_WORK}/values.yaml"
write_values() {
  local replicas="$1" log_level="$2"
  cat >"${values}" <<EOF
replicaCount: ${replicas}
image:
  repository: $(image_repo "${OPERATOR_IMAGE}")
  tag: $(image_tag "${OPERATOR_IMAGE}")
  pullPolicy: IfNotPresent
provider:
  url: http://${sim_svc}:8080/api
  timeout: 10s
refreshInterval: 24h
rollout:
  enabled: true
verifyCredentials:
  enabled: true
  target: ${sim_svc}:8080
  interval: 1m
leaderElection:
  leaseDuration: 15s
logLevel: ${log_level}
EOF
}

operator_ready() { # REPLICAS
  [[ "$(k -n "${op_ns}" get deploy "${fullname}" -o jsonpath='{.status.readyReplicas}')" == "$1" \
    && "$(k -n "${op_ns}" get deploy "${fullname}" -o jsonpath='{.status.updatedReplicas}')" == "$1" \
    && "$(k -n "${op_ns}" get pods -l app.kubernetes.io/name=proxy-order-operator --no-headers 2>/dev/null | wc -l)" == "$1" ]]
}

order_ready() {
  is_true proxyorder "${tenant}" scraper Ready && is_true proxyorder "${tenant}" scraper Synced
}
all_orders_ready() {
  k get proxyorders -A -o json | json 'all(any(c["type"]=="Ready" and c["status"]=="True" for c in o.get("status",{}).get("conditions",[])) for o in d["items"]) and len(d["items"])>0' | grep -qx True
}

# deployment_settled NS NAME: every replica updated, ready and available, no old one left.
deployment_settled() {
  local s
  s="$(k -n "$1" get deploy "$2" -o json | json '"%s %s %s %s %s" % (d["status"].get("observedGeneration"), d["metadata"]["generation"], d["status"].get("updatedReplicas",0), d["status"].get("readyReplicas",0), d["status"].get("replicas",0))')"
  read -r observed generation updated ready total <<<"${s}"
  [[ "${observed}" == "${generation}" && "${updated}" == 1 && "${ready}" == 1 && "${total}" == 1 ]]
}
revision() { k -n "${tenant}" get deploy scraper -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}'; }

# ------------------------------------------------------------------------------------------------

step "pods cannot reach off the machine; DNS answers only the cluster's names"
restricted_namespace "${checks_ns}"
# 192.0.2.1 (TEST-NET-1) stands for any address off the machine: the same route decision as a
# public address, and nothing real is behind it if a guard were ever missing. It must fail at
# once (no route), not time out; an outside name must not resolve (REFUSED by CoreDNS), while
# the cluster's own names do.
# shellcheck disable=SC2016 # the script runs in the Pod
out="$(run_pod "${checks_ns}" netcheck '
  start=$(date +%s)
  if curl -sS --max-time 10 -o /dev/null http://192.0.2.1/ 2>/tmp/err; then echo "REACHED 192.0.2.1"; exit 1; fi
  echo "192.0.2.1: $(cat /tmp/err) after $(( $(date +%s) - start ))s"
  [ $(( $(date +%s) - start )) -le 3 ] || { echo "not refused at once"; exit 1; }
  if getent hosts example.com; then echo "RESOLVED example.com"; exit 1; fi
  echo "example.com: not resolved"
  getent hosts kubernetes.default.svc.cluster.local || { echo "cluster name not resolved"; exit 1; }
  echo ok' 2>&1)" || fail "network checks: ${out}"
awk '{print "    " $0}' <<<"${out}"

step "namespaces enforce Pod Security restricted"
for ns in "${op_ns}" "${sim_ns}" "${tenant}"; do restricted_namespace "${ns}"; done
for ns in "${op_ns}" "${sim_ns}" "${tenant}"; do
  [[ "$(k get ns "${ns}" -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}')" == restricted ]] \
    || fail "namespace ${ns} does not enforce restricted"
done

step "the provider simulator runs as a Deployment with its proxy listeners, behind a Service"
k -n "${sim_ns}" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: proxy-solutions-sim, labels: {app: proxy-solutions-sim}}
spec:
  replicas: 1
  selector: {matchLabels: {app: proxy-solutions-sim}}
  template:
    metadata: {labels: {app: proxy-solutions-sim}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: simulator
          image: ${SIMULATOR_IMAGE}
          imagePullPolicy: IfNotPresent
          # The proxies on the Pod's own address (--proxy-ip), so that other Pods reach them.
          args: [--listen, "0.0.0.0:8080", --api-key, ${api_key}, --proxy-listeners]
          env:
            - name: SIM_PROXY_IP
              valueFrom: {fieldRef: {fieldPath: status.podIP}}
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /_sim/healthz, port: http}, periodSeconds: 2}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {name: proxy-solutions-sim}
spec:
  selector: {app: proxy-solutions-sim}
  ports: [{name: http, port: 8080, targetPort: http}]
EOF
k -n "${sim_ns}" rollout status deploy/proxy-solutions-sim --timeout=120s >/dev/null || fail "the simulator did not become ready"
sim_ip="$(k -n "${sim_ns}" get pods -l app=proxy-solutions-sim -o jsonpath='{.items[0].status.podIP}')"
listeners="$(sim_get proxy-listeners)"
echo "    proxy listeners: ${listeners}"
echo "${listeners}" | json "any(l['order_id']==${order_id} and l['address']=='${sim_ip}:8000' for l in d)" | grep -qx True \
  || fail "order ${order_id}'s proxy is not served on the Pod's address ${sim_ip}:8000"

step "helm install: the operator's image starts under restricted, Ready through its probes"
k -n "${op_ns}" create secret generic provider-key --from-literal=api-key="${api_key}" >/dev/null
write_values 1 info
h install "${release}" "${chart}" --namespace "${op_ns}" -f "${values}" --wait --timeout 180s \
  >"${logs}/helm-install.txt" 2>&1 || { cat "${logs}/helm-install.txt"; fail "helm install failed"; }
if grep -i 'violate\|PodSecurity' "${logs}/helm-install.txt"; then fail "Pod Security warnings on install"; fi
operator_ready 1 || fail "the operator Deployment is not ready"
pod="$(k -n "${op_ns}" get pods -l app.kubernetes.io/name=proxy-order-operator -o jsonpath='{.items[0].metadata.name}')"
[[ "$(k -n "${op_ns}" get pod "${pod}" -o jsonpath='{.spec.containers[0].image}')" == "${OPERATOR_IMAGE}" ]] \
  || fail "the operator Pod does not run ${OPERATOR_IMAGE}"
probes="$(k -n "${op_ns}" get pod "${pod}" -o jsonpath='{.spec.containers[0].readinessProbe.httpGet.path} {.spec.containers[0].livenessProbe.httpGet.path}')"
[[ "${probes}" == "/readyz /healthz" ]] || fail "unexpected probes: ${probes}"
echo "    ${pod}: Ready (probes ${probes}), image ${OPERATOR_IMAGE}"

step "a ProxyProvider for the simulator is Ready"
k apply -f - >/dev/null <<EOF
apiVersion: proxy-solutions.net/v1alpha1
kind: ProxyProvider
metadata: {name: sim}
spec:
  url: http://${sim_svc}:8080/api
  apiKeySecretRef: {name: provider-key}
  namespaces: [${tenant}]
EOF
wait_for "ProxyProvider sim Ready" 60 is_true proxyprovider "" sim Ready

step "a tenant's ProxyOrder is Ready; its consumer fetches a page through the order's proxy"
# The consumer first: it reads HTTP_PROXY from the Secret the ProxyOrder publishes (its Pods wait
# for it), fetches the simulator's /_sim/healthz through the proxy every 2 s, and is Ready only
# while that works.
k -n "${tenant}" apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: scraper, labels: {app: scraper}}
spec:
  replicas: 1
  selector: {matchLabels: {app: scraper}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata: {labels: {app: scraper}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: fetch
          image: ${CONSUMER_IMAGE}
          imagePullPolicy: IfNotPresent
          command: ["/bin/sh", "-c"]
          args:
            - |
              while true; do
                if curl -fsS -p -x "\$HTTP_PROXY" --max-time 5 -o /tmp/page http://${sim_svc}:8080/_sim/healthz 2>/tmp/err; then
                  touch /tmp/ok; echo "fetched through the proxy: \$(cat /tmp/page)"
                else
                  rm -f /tmp/ok; echo "fetch failed: \$(cat /tmp/err)"
                fi
                sleep 2
              done
          env:
            - name: HTTP_PROXY
              valueFrom: {secretKeyRef: {name: scraper-proxy, key: HTTP_PROXY}}
          readinessProbe: {exec: {command: [test, -f, /tmp/ok]}, periodSeconds: 2}
          volumeMounts: [{name: tmp, mountPath: /tmp}]
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
      volumes: [{name: tmp, emptyDir: {}}]
EOF
k -n "${tenant}" apply -f - >/dev/null <<EOF
apiVersion: proxy-solutions.net/v1alpha1
kind: ProxyOrder
metadata: {name: scraper}
spec:
  orderId: ${order_id}
  providerRef: {name: sim}
  password: {generate: true}
  secret:
    name: scraper-proxy
    template: {HTTP_PROXY: "{{ url }}"}
    rolloutTargets: [{kind: Deployment, name: scraper}]
EOF
wait_for "ProxyOrder Ready and Synced" 90 order_ready
wait_for "RolloutsUpdated" 60 is_true proxyorder "${tenant}" scraper RolloutsUpdated
wait_for "the consumer Deployment settled with Ready Pods" 180 deployment_settled "${tenant}" scraper
[[ "$(secret_value password)" == "$(sim_password)" ]] || fail "the Secret's password is not the order's"
url="$(secret_value HTTP_PROXY)"
[[ "${url}" == "http://"*"@${sim_ip}:8000" ]] || fail "HTTP_PROXY does not name the simulator's proxy (${url//:*@/:***@})"
connects="$(sim_get "proxy-connects?order_id=${order_id}" | json 'd[0]["established"] if d else 0')"
((connects > 0)) || fail "the simulator's proxy saw no established CONNECT"
k -n "${tenant}" logs deploy/scraper --tail=2 | sed 's/^/    consumer: /'
echo "    CONNECTs established through order ${order_id}'s proxy: ${connects}"

step "CredentialsVerified from inside the cluster"
wait_for "CredentialsVerified" 90 is_true proxyorder "${tenant}" scraper CredentialsVerified

step "kubectl pxo: status shows the ProxyOrder and what it depends on, sync re-reads the order"
[[ -x "${PLUGIN_BIN}" ]] || fail "the plugin ${PLUGIN_BIN} was not built"
# The claims are in the release's namespace (the chart's POD_NAMESPACE).
pxo() { "${PLUGIN_BIN}" -n "${tenant}" --operator-namespace "${op_ns}" "$@" </dev/null; }
pxo status scraper -o json >"${logs}/pxo-status.json" 2>"${logs}/pxo-status.err" \
  || fail "kubectl-pxo status failed: $(cat "${logs}/pxo-status.err")"
# What the status must say; neither the password nor the API key may be in it.
problems="$(PXO_PASSWORD="$(secret_value password)" PXO_API_KEY="${api_key}" PXO_TENANT="${tenant}" \
  PXO_OP_NS="${op_ns}" PXO_ORDER="${order_id}" python3 - "${logs}/pxo-status.json" <<'PY'
import json, os, sys
text = open(sys.argv[1]).read()
d = json.loads(text)
env = os.environ
tenant, op_ns, order = env["PXO_TENANT"], env["PXO_OP_NS"], env["PXO_ORDER"]
problems = []
def want(what, got, expected):
    if got != expected:
        problems.append(f"{what}: {got!r}, not {expected!r}")
po = d["proxyOrder"]
want("proxyOrder", (po["namespace"], po["name"], po["orderId"]), (tenant, "scraper", int(order)))
p = d["provider"]
want("provider", (p["kind"], p["name"], p["keySecretNamespace"], p["keySecretName"], p["error"]),
     ("ProxyProvider", "sim", op_ns, "provider-key", None))
want("provider Ready", (p.get("ready") or {}).get("status"), "True")
c = d["claim"]
want("claim", (c["namespace"], c.get("holder"), c.get("orderId"), c.get("error")),
     (op_ns, f"{tenant}/scraper", order, None))
want("claim name", (c.get("name") or "").startswith("pxo-claim-"), True)
s = d["secret"]
want("secret", (s["name"], s["exists"], s.get("error")), ("scraper-proxy", True, None))
want("secret keys", {"password", "HTTP_PROXY"} <= set(s.get("keys", [])), True)
want("Ready", [x["status"] for x in d["conditions"] if x["type"] == "Ready"], ["True"])
t = ((d.get("rollout") or {}).get("targets") or [{}])[0]
want("rollout target", (t.get("kind"), t.get("name"), [w.get("current") for w in t.get("workloads", [])]),
     ("Deployment", "scraper", [True]))
if not env["PXO_PASSWORD"] or env["PXO_PASSWORD"] in text:
    problems.append("the password is in the output")
if env["PXO_API_KEY"] in text:
    problems.append("the API key is in the output")
print("; ".join(problems))
PY
)" || fail "reading kubectl-pxo's status: ${problems}"
[[ -z "${problems}" ]] || fail "kubectl-pxo status -o json (${logs}/pxo-status.json): ${problems}"
# The same through kubectl, which finds the plugin on PATH.
pxo_holder="$(PATH="$(dirname "${PLUGIN_BIN}"):${PATH}" k pxo status scraper -n "${tenant}" \
  --operator-namespace "${op_ns}" -o json </dev/null | json 'd["claim"].get("holder")')" \
  || fail "kubectl pxo status failed"
[[ "${pxo_holder}" == "${tenant}/scraper" ]] || fail "kubectl pxo status: the claim's holder is '${pxo_holder}'"
reads_before="$(calls_since 0 | cut -d' ' -f2)"
out="$(pxo sync scraper 2>&1)" || fail "kubectl-pxo sync failed: ${out}"
token="$(k -n "${tenant}" get proxyorder scraper -o jsonpath='{.metadata.annotations.proxy-solutions\.net/sync-requested-at}')"
[[ -n "${token}" && "${out}" == *"${token}"* ]] || fail "kubectl-pxo sync set no token (annotation '${token}'): ${out}"
synced() { [[ "$(k -n "${tenant}" get proxyorder scraper -o jsonpath='{.status.syncRequested}')" == "${token}" ]]; }
wait_for "status.syncRequested ${token}" 60 synced
reads_after="$(calls_since 0 | cut -d' ' -f2)"
((reads_after > reads_before)) || fail "no read of the order list after kubectl-pxo sync (${reads_before} before, ${reads_after} after)"
wait_for "ProxyOrder Ready and Synced after the sync" 60 order_ready
echo "    status: provider sim Ready, claim $(json 'd["claim"]["name"]' <"${logs}/pxo-status.json") held by ${tenant}/scraper, Secret keys $(json '",".join(d["secret"]["keys"])' <"${logs}/pxo-status.json")"
echo "    sync ${token}: status.syncRequested set, reads of the order list ${reads_before} -> ${reads_after}"

step "the metrics Service is scraped from inside the cluster"
out="$(run_pod "${checks_ns}" scrape "curl -fsS --max-time 10 http://${fullname}-metrics.${op_ns}.svc:8080/metrics" 2>&1)" \
  || fail "scraping the metrics Service failed: ${out}"
grep -q '^proxy_order_reconciles_total' <<<"${out}" || fail "no proxy_order_reconciles_total in the metrics"
grep -qiE '^proxy_order_orders\{.*ready="true".*\} 1' <<<"${out}" || fail "proxy_order_orders does not count 1 Ready order"
grep -E '^proxy_order_(orders|provider_requests_total)' <<<"${out}" | sed 's/^/    /'

step "helm test --logs passes and prints the check's log"
h test "${release}" --namespace "${op_ns}" --timeout 120s --logs >"${logs}/helm-test.txt" 2>&1 \
  || { cat "${logs}/helm-test.txt"; fail "helm test --logs failed"; }
grep -q 'healthcheck: http://.*/healthz: 200' "${logs}/helm-test.txt" \
  || { cat "${logs}/helm-test.txt"; fail "helm test --logs did not print the test Pod's log"; }
grep -q 'Phase:.*Succeeded' "${logs}/helm-test.txt" || { cat "${logs}/helm-test.txt"; fail "helm test did not report Succeeded"; }
grep -E 'TEST SUITE|Phase' "${logs}/helm-test.txt" | sed 's/^/    /'
# The kept test Pod is no operator Pod: the selector of the operator's Pods does not count it.
k -n "${op_ns}" get pod "${fullname:0:50}-test-healthz" >/dev/null || fail "the helm test Pod was not kept"
operator_ready 1 || fail "the operator's Pods, as its selector counts them, are not the 1 ready replica: $(k -n "${op_ns}" get pods --show-labels)"

step "a password rotation rolls the consumer out; the new Pods get through with the new password"
old_password="$(secret_value password)"
old_url="$(secret_value HTTP_PROXY)"
old_revision="$(revision)"
old_rs="$(k -n "${tenant}" get rs -l app=scraper -o jsonpath='{range .items[?(@.status.replicas>0)]}{.metadata.name}{end}')"
k -n "${tenant}" annotate proxyorder scraper proxy-solutions.net/rotate-password=kind-1 --overwrite >/dev/null
wait_for "a new password in the Secret" 60 password_changed
wait_for "ProxyOrder Ready after the rotation" 60 order_ready
newer_revision() { (($(revision) > old_revision)); }
wait_for "a new revision of the consumer" 60 newer_revision
wait_for "the consumer settled on the new revision" 180 deployment_settled "${tenant}" scraper
new_revision="$(revision)"
((new_revision == old_revision + 1)) || fail "one rotation made $((new_revision - old_revision)) rollouts"
new_rs="$(k -n "${tenant}" get rs -l app=scraper -o jsonpath='{range .items[?(@.status.replicas>0)]}{.metadata.name}{end}')"
[[ -n "${new_rs}" && "${new_rs}" != "${old_rs}" ]] || fail "no new ReplicaSet runs the consumer (${old_rs} -> ${new_rs})"
[[ "$(secret_value password)" == "$(sim_password)" ]] || fail "the Secret's new password is not the order's"
# The old password no longer opens the proxy: 407 from the simulator's proxy.
out="$(run_pod "${tenant}" oldpass "curl -sS -p -x '${old_url}' --max-time 5 -o /dev/null -w '%{http_connect}' http://${sim_svc}:8080/_sim/healthz; true" 2>&1)" || true
[[ "${out}" == *407* ]] || fail "the old password was not refused by the proxy (got: ${out})"
wait_for "CredentialsVerified with the new password" 90 is_true proxyorder "${tenant}" scraper CredentialsVerified
echo "    revision ${old_revision} -> ${new_revision}, ReplicaSet ${old_rs} -> ${new_rs}; the old password gets 407"

step "helm upgrade with changed values: no provider call, every ProxyOrder stays Ready (2 replicas, leader election)"
wait_for "the provider to be quiet" 60 provider_quiet
before="$(provider_calls)"
write_values 2 debug
h upgrade "${release}" "${chart}" --namespace "${op_ns}" -f "${values}" --wait --timeout 180s \
  >"${logs}/helm-upgrade.txt" 2>&1 || { cat "${logs}/helm-upgrade.txt"; fail "helm upgrade failed"; }
wait_for "2 operator replicas ready" 120 operator_ready 2
sleep 15
all_orders_ready || fail "a ProxyOrder is not Ready after the upgrade"
read -r changes reads <<<"$(calls_since "${before}")"
# No provider request at all: a new leader reads nothing for ProxyOrders and ProxyProviders left
# settled (their first list comes within the refresh interval, a day here).
((changes == 0 && reads == 0)) || { sim_get requests | json "d[${before}:]"; fail "the upgrade made ${changes} provider calls and ${reads} reads of the order list"; }
echo "    provider calls during the upgrade: ${changes} changes, ${reads} reads of the order list"
echo "suite-upgrade-reads ${reads}" >>"${KIND_WORK}/times"

step "the operator Pod deleted in the middle of a rotation: no repeated provider call, a standby takes over"
# The leader-election Lease is named after the release (the chart's --lease-name); the release
# namespace also holds the order-claim Leases.
lease="${fullname}"
holder="$(k -n "${op_ns}" get lease "${lease}" -o jsonpath='{.spec.holderIdentity}')"
[[ -n "${holder}" ]] || fail "no Lease holder"
leader_pod="${holder%%_*}"
k -n "${op_ns}" get pod "${leader_pod}" >/dev/null 2>&1 || leader_pod="$(k -n "${op_ns}" get pods -o name | grep -F "${holder}" | head -n1 | sed 's#pod/##')"
k -n "${op_ns}" get pod "${leader_pod}" >/dev/null 2>&1 || fail "the Lease holder ${holder} is not a Pod of the release"
old_password="$(secret_value password)"
calls_before="$(sim_get "requests?order_id=${order_id}" | json 'len(d)')"
# The provider takes 8 s for the next password change: the rotation is in flight when the leader goes.
sim_post faults '{"endpoint": "change", "latency_ms": 8000, "count": 1}' >/dev/null
k -n "${tenant}" annotate proxyorder scraper proxy-solutions.net/rotate-password=kind-2 --overwrite >/dev/null
in_flight() {
  sim_get "requests?order_id=${order_id}" | json "any(r['method']=='POST' and r['status']==0 for r in d[${calls_before}:])" | grep -qx True
}
wait_for "the rotation's provider call in flight" 30 in_flight
t0=${SECONDS}
k -n "${op_ns}" delete pod "${leader_pod}" --wait=false >/dev/null
new_holder() {
  local h
  h="$(k -n "${op_ns}" get lease "${lease}" -o jsonpath='{.spec.holderIdentity}')"
  [[ -n "${h}" && "${h}" != "${holder}" ]]
}
wait_for "another replica to hold the Lease" 120 new_holder
takeover=$((SECONDS - t0))
wait_for "the new password in the Secret" 120 password_changed
wait_for "ProxyOrder Ready" 60 order_ready
ready_after=$((SECONDS - t0))
sleep 10
[[ "$(secret_value password)" == "$(sim_password)" ]] || fail "the Secret's password is not the order's after the takeover"
generations="$(sim_get "requests?order_id=${order_id}" | json "sum(1 for r in d[${calls_before}:] if r['method']=='POST' and isinstance(r.get('body'), dict) and r['body'].get('gen_password'))")"
((generations == 1)) || { sim_get "requests?order_id=${order_id}" | json "d[${calls_before}:]"; fail "the rotation generated a password ${generations} times"; }
new_lease_holder="$(k -n "${op_ns}" get lease "${lease}" -o jsonpath='{.spec.holderIdentity}')"
echo "    leader ${holder} deleted mid-call; ${new_lease_holder} took the Lease after ${takeover}s, ProxyOrder Ready with the new password after ${ready_after}s; 1 password generation"
echo "suite-takeover ${takeover}" >>"${KIND_WORK}/times"
wait_for "2 operator replicas ready again" 120 operator_ready 2

step "helm uninstall keeps CRDs, ProxyOrders and Secrets; a reinstall adopts them with no provider call"
wait_for "the provider to be quiet" 60 provider_quiet
before="$(provider_calls)"
password="$(secret_value password)"
h uninstall "${release}" --namespace "${op_ns}" --wait --timeout 120s >"${logs}/helm-uninstall.txt" 2>&1 \
  || { cat "${logs}/helm-uninstall.txt"; fail "helm uninstall failed"; }
operator_gone() { [[ -z "$(k -n "${op_ns}" get pods -l app.kubernetes.io/name=proxy-order-operator -o name)" ]]; }
# The chart's pre-delete hook stopped the operator while its Role still held: the Pods are gone
# when helm uninstall returns, the leader gave the Lease up, and the hook cleaned up after itself.
operator_gone || fail "operator Pods still there when helm uninstall returned (the pre-delete hook did not stop them)"
[[ -z "$(k -n "${op_ns}" get lease "${lease}" -o jsonpath='{.spec.holderIdentity}')" ]] \
  || fail "the leader-election Lease still has a holder after helm uninstall: $(k -n "${op_ns}" get lease "${lease}" -o yaml)"
leftovers="$(k -n "${op_ns}" get job,serviceaccount,role,rolebinding -l app.kubernetes.io/component=uninstall -o name)"
[[ -z "${leftovers}" ]] || fail "the uninstall hook left objects behind: ${leftovers}"
k get crd proxyorders.proxy-solutions.net proxyproviders.proxy-solutions.net >/dev/null || fail "the CRDs were removed"
k -n "${tenant}" get proxyorder scraper >/dev/null || fail "the ProxyOrder was removed"
[[ "$(secret_value password)" == "${password}" ]] || fail "the credentials Secret was removed or changed"
t0=${SECONDS}
install_started="$(date +%s)"
h install "${release}" "${chart}" --namespace "${op_ns}" -f "${values}" --wait --timeout 180s \
  >"${logs}/helm-reinstall.txt" 2>&1 || { cat "${logs}/helm-reinstall.txt"; fail "helm reinstall failed"; }
wait_for "2 operator replicas ready" 120 operator_ready 2
# The released Lease is taken at once: no lease duration (15 s) waited for a holder that is gone.
lease_taken() { [[ -n "$(k -n "${op_ns}" get lease "${lease}" -o jsonpath='{.spec.holderIdentity}')" ]]; }
wait_for "a Lease holder after the reinstall" 30 lease_taken
ready_at=${SECONDS}
acquired="$(k -n "${op_ns}" get lease "${lease}" -o jsonpath='{.spec.acquireTime}')"
acquired_after=$(($(date -d "${acquired}" +%s) - install_started))
# Without the release the new Pods would wait out the old holder's lease (15 s) on top of their
# start.
((acquired_after <= 30)) || fail "the reinstall took the Lease ${acquired_after}s after helm install started"
sleep 15
all_orders_ready || fail "a ProxyOrder is not Ready after the reinstall"
is_true proxyprovider "" sim Ready || fail "the ProxyProvider is not Ready after the reinstall"
[[ "$(secret_value password)" == "${password}" ]] || fail "the reinstall changed the credentials"
read -r changes reads <<<"$(calls_since "${before}")"
((changes == 0 && reads == 0)) || { sim_get requests | json "d[${before}:]"; fail "the reinstall made ${changes} provider calls and ${reads} reads of the order list"; }
echo "    helm uninstall: operator stopped by its pre-delete hook, Lease released; reinstall ready after $((ready_at - t0))s, Lease taken ${acquired_after}s after helm install started"
echo "    provider calls from the uninstall to the reinstall's settling: ${changes} changes, ${reads} reads of the order list"
echo "suite-reinstall-reads ${reads}" >>"${KIND_WORK}/times"

step "a standby Pod deleted: it ends at once on SIGTERM (not after the 30 s grace period) and never takes the Lease"
holder="$(k -n "${op_ns}" get lease "${lease}" -o jsonpath='{.spec.holderIdentity}')"
standby="$(k -n "${op_ns}" get pods -l app.kubernetes.io/name=proxy-order-operator -o name | sed 's#pod/##' | grep -vF "${holder%%_*}" | head -n1)"
[[ -n "${standby}" ]] || fail "no standby Pod beside the Lease holder ${holder}"
before="$(provider_calls)"
t_ms() { date +%s%3N; }
t0_ms=$(t_ms)
k -n "${op_ns}" delete pod "${standby}" --wait=true --timeout=60s >/dev/null
stopped_ms=$(($(t_ms) - t0_ms))
((stopped_ms < 10000)) || fail "the standby ${standby} took ${stopped_ms} ms to end after SIGTERM (grace period 30 s)"
[[ "$(k -n "${op_ns}" get lease "${lease}" -o jsonpath='{.spec.holderIdentity}')" == "${holder}" ]] \
  || fail "the Lease changed hands when a standby was deleted"
wait_for "2 operator replicas ready again" 120 operator_ready 2
read -r changes reads <<<"$(calls_since "${before}")"
((changes == 0 && reads == 0)) || { sim_get requests | json "d[${before}:]"; fail "deleting a standby made ${changes} provider calls and ${reads} reads"; }
echo "    standby ${standby} deleted and gone after ${stopped_ms} ms; the Lease stayed with ${holder%%_*}"
echo "suite-standby-stop-ms ${stopped_ms}" >>"${KIND_WORK}/times"

step "helm upgrade back to 1 replica (leader election off): Recreate, no provider call, still Ready"
wait_for "the provider to be quiet" 60 provider_quiet
before="$(provider_calls)"
write_values 1 info
h upgrade "${release}" "${chart}" --namespace "${op_ns}" -f "${values}" --wait --timeout 180s \
  >"${logs}/helm-downgrade.txt" 2>&1 || { cat "${logs}/helm-downgrade.txt"; fail "helm upgrade to 1 replica failed"; }
[[ "$(k -n "${op_ns}" get deploy "${fullname}" -o jsonpath='{.spec.strategy.type}')" == Recreate ]] \
  || fail "turning leader election off did not roll out with Recreate"
k -n "${op_ns}" get deploy "${fullname}" -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q -- '--leader-election' \
  && fail "1 replica still runs with --leader-election"
wait_for "1 operator replica ready" 120 operator_ready 1
sleep 10
all_orders_ready || fail "a ProxyOrder is not Ready after turning leader election off"
read -r changes reads <<<"$(calls_since "${before}")"
((changes == 0 && reads == 0)) || { sim_get requests | json "d[${before}:]"; fail "turning leader election off made ${changes} provider calls and ${reads} reads of the order list"; }
echo "    Recreate; provider calls: ${changes} changes, ${reads} reads of the order list"

end_step
collect_logs >/dev/null 2>&1
echo "${passed} passed, 0 failed"
