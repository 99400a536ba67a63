#!/usr/bin/env bash
# Tests of the Helm chart (charts/proxy-order-operator) and the plain manifests (deploy/),
# run against the cluster KUBECONFIG names, with helm and kubectl from PATH (and python3).
# `make test-chart` runs it on a fresh local control plane (tests/controlplane/).
#
# Prints `ok - NAME` or `not ok - NAME` (followed by `#` lines with the evidence) per check
# and a final line `N passed, N failed`; exits 1 when a check failed. Every namespace it
# creates is labelled proxy-order-operator/chart-test=true and deleted at the end; the CRDs are
# deleted at the end only when this script created them.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart="${root}/charts/proxy-order-operator"
ha_values="${chart}/ci/ha-values.yaml"
# The chart's CRDs, each generated into crds/<name>.yaml.
crd_names=(proxyorders.proxy-solutions.net proxyproviders.proxy-solutions.net)
crd_files=()
for crd in "${crd_names[@]}"; do crd_files+=("${root}/crds/${crd}.yaml"); done
crd_name="${crd_names[0]}"       # the ProxyOrder CRD (t_install changes it to see the upgrade)
provider_crd_name="${crd_names[1]}"
release="t"                      # release name used for rendering
fullname="t-proxy-order-operator"
test_label="proxy-order-operator/chart-test"

passed=0
failed=0
skipped=0

for tool in helm kubectl python3; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    echo "chart.sh: '${tool}' not found on PATH" >&2
    exit 2
  fi
done
if [[ -z "${KUBECONFIG:-}" ]] && [[ ! -f "${HOME}/.kube/config" ]]; then
  echo "chart.sh: no KUBECONFIG; run it through 'make test-chart' or source target/controlplane/env" >&2
  exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/chart-test.XXXXXX")"
# The checks run in subshells; what they leave behind is recorded in these files.
: >"${work}/namespaces"       # one namespace per line
: >"${work}/releases"         # "release namespace" per line
: >"${work}/crd-created"      # non-empty: this script's release created the CRDs

cleanup() {
  local rel ns
  trap - EXIT INT TERM
  while read -r rel ns; do
    helm uninstall "${rel}" --namespace "${ns}" --ignore-not-found >/dev/null 2>&1 || true
  done <"${work}/releases"
  while read -r ns; do
    kubectl delete namespace "${ns}" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  done <"${work}/namespaces"
  if [[ -s "${work}/crd-created" ]]; then
    kubectl delete crd "${crd_names[@]}" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# check NAME FUNCTION [ARGS...]: runs FUNCTION with `set -e` in a subshell; its output is
# shown only when it fails.
check() {
  local name="$1" out rc
  shift
  out="$(set -e; "$@" 2>&1)"
  rc=$?
  if (( rc == 0 )); then
    passed=$((passed + 1))
    echo "ok - ${name}"
  else
    failed=$((failed + 1))
    echo "not ok - ${name}"
    if [[ -n "${out}" ]]; then
      tail -n 60 <<<"${out}" | sed 's/^/#   /'
    fi
  fi
}

skip() {
  skipped=$((skipped + 1))
  echo "ok - $1 # SKIP $2"
}

fail() {
  echo "$*" >&2
  return 1
}

# built_tool NAME: the path of a tool tests/controlplane/build.sh builds into the project cache
# (promtool, kube-score), built first when missing; its output goes to stderr.
built_tool() {
  "${root}/tests/controlplane/build.sh" "$1" >&2 || return 1
  echo "${PROXY_ORDER_CACHE:-${HOME}/.cache/proxy-order-operator}/k8s-$(sed -n 's/^KUBE_VERSION=//p' "${root}/tests/controlplane/versions.env")/$1"
}

# new_ns PREFIX: a fresh namespace labelled for Pod Security "restricted" (enforce + warn);
# prints its name.
new_ns() {
  local ns
  ns="$1-$(python3 -c 'import secrets; print(secrets.token_hex(3))')"
  echo "${ns}" >>"${work}/namespaces"
  kubectl create namespace "${ns}" >/dev/null || return 1
  kubectl label namespace "${ns}" "${test_label}=true" \
    pod-security.kubernetes.io/enforce=restricted \
    pod-security.kubernetes.io/warn=restricted >/dev/null || return 1
  echo "${ns}"
}

# render OUT.yaml [HELM TEMPLATE ARGS...]: helm template of the chart as release "t".
render() {
  local out="$1"
  shift
  helm template "${release}" "${chart}" "$@" >"${out}"
}

# to_json IN.yaml OUT.json: the objects as a stream of JSON documents (parsed by kubectl).
to_json() {
  kubectl create --dry-run=client -o json -f "$1" >"$2"
}

# py CMD ARGS...: the JSON helpers below.
py() {
  python3 -c "${PY}" "$@"
}

# shellcheck disable=SC2016 # Python source
PY='
import json, sys

def load(path):
    text = open(path).read()
    dec = json.JSONDecoder()
    i, objs = 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = dec.raw_decode(text, i)
        objs.extend(obj.get("items", []) if obj.get("kind") == "List" else [obj])
    return objs

def ns_of(o):
    return o["metadata"].get("namespace", "-")

cmd, args = sys.argv[1], sys.argv[2:]

if cmd == "objects":
    # Kind/name@namespace, sorted
    for line in sorted("%s/%s@%s" % (o["kind"], o["metadata"]["name"], ns_of(o)) for o in load(args[0])):
        print(line)

elif cmd == "rbac":
    # one line per Role/ClusterRole rule and per binding, sorted
    lines = []
    for o in load(args[0]):
        k = o["kind"]
        if k in ("Role", "ClusterRole"):
            for r in o.get("rules", []):
                for g in r.get("apiGroups", []):
                    for res in r.get("resources", []):
                        lines.append("%s %s %s: %s/%s %s names=%s" % (
                            k, o["metadata"]["name"], ns_of(o), g or "core", res,
                            ",".join(sorted(r.get("verbs", []))),
                            ",".join(r.get("resourceNames", [])) or "-"))
                if r.get("nonResourceURLs"):
                    lines.append("%s %s: nonResourceURLs %s" % (k, o["metadata"]["name"], r["nonResourceURLs"]))
        elif k in ("RoleBinding", "ClusterRoleBinding"):
            subj = ",".join("%s:%s/%s" % (s["kind"], s.get("namespace", "-"), s["name"]) for s in o.get("subjects", []))
            lines.append("%s %s %s -> %s/%s %s" % (k, o["metadata"]["name"], ns_of(o),
                o["roleRef"]["kind"], o["roleRef"]["name"], subj))
    print("\n".join(sorted(lines)))

elif cmd == "wildcards":
    # every "*" in a Role or ClusterRole rule; exit 1 if any
    bad = []
    for o in load(args[0]):
        if o["kind"] in ("Role", "ClusterRole"):
            if o.get("aggregationRule"):
                bad.append("%s/%s has an aggregationRule" % (o["kind"], o["metadata"]["name"]))
            for r in o.get("rules", []):
                for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                    for v in r.get(field, []):
                        if "*" in v:
                            bad.append("%s/%s %s contains %r" % (o["kind"], o["metadata"]["name"], field, v))
    roles = [o for o in load(args[0]) if o["kind"] in ("Role", "ClusterRole")]
    if not roles:
        bad.append("no Role or ClusterRole rendered")
    print("\n".join(bad))
    sys.exit(1 if bad else 0)

elif cmd == "deployment":
    # the operator container: args, env (name=value), image, strategy, security settings
    for o in load(args[0]):
        if o["kind"] != "Deployment":
            continue
        spec = o["spec"]
        pod = spec["template"]["spec"]
        c = pod["containers"][0]
        print("replicas=%s" % spec.get("replicas"))
        print("strategy=%s" % spec.get("strategy", {}).get("type"))
        print("image=%s" % c["image"])
        for a in c.get("args", []):
            print("arg=%s" % a)
        for e in c.get("env", []):
            if "value" in e:
                print("env=%s=%s" % (e["name"], e["value"]))
            else:
                print("env=%s<-%s" % (e["name"], e["valueFrom"]["fieldRef"]["fieldPath"]))
        psc, sc = pod.get("securityContext", {}), c.get("securityContext", {})
        print("automountServiceAccountToken=%s" % pod.get("automountServiceAccountToken"))
        print("pod.runAsNonRoot=%s pod.runAsUser=%s pod.seccomp=%s" % (
            psc.get("runAsNonRoot"), psc.get("runAsUser"), psc.get("seccompProfile", {}).get("type")))
        print("readOnlyRootFilesystem=%s allowPrivilegeEscalation=%s drop=%s seccomp=%s" % (
            sc.get("readOnlyRootFilesystem"), sc.get("allowPrivilegeEscalation"),
            ",".join(sc.get("capabilities", {}).get("drop", [])), sc.get("seccompProfile", {}).get("type")))
        print("liveness=%s:%s readiness=%s:%s" % (
            c["livenessProbe"]["httpGet"]["path"], c["livenessProbe"]["httpGet"]["port"],
            c["readinessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["port"]))
        print("ports=%s" % ",".join("%s:%s" % (p["name"], p["containerPort"]) for p in c.get("ports", [])))
        print("resources=%s" % json.dumps(c.get("resources", {}), sort_keys=True))

elif cmd == "test-pod":
    # the helm test hook Pod(s): hook annotation, image, the URL it fetches
    for o in load(args[0]):
        if o["kind"] == "Pod":
            c = o["spec"]["containers"][0]
            print("hook=%s image=%s url=%s" % (o["metadata"].get("annotations", {}).get("helm.sh/hook"),
                  c["image"], c.get("args", [""])[-1]))

elif cmd == "hook-job":
    # Jobs: name, hook annotation, args, image
    for o in load(args[0]):
        if o["kind"] == "Job":
            c = o["spec"]["template"]["spec"]["containers"][0]
            print(o["metadata"]["name"], o["metadata"].get("annotations", {}).get("helm.sh/hook"),
                  " ".join(c.get("args", [])), c["image"])

elif cmd == "pod-settings":
    # of every Deployment, Job and Pod: env names after RUST_LOG, volumes, mounts, the pod and
    # container security contexts, affinity and topology spread, as one JSON line each
    for o in load(args[0]):
        if o["kind"] == "Deployment" or o["kind"] == "Job":
            pod = o["spec"]["template"]["spec"]
        elif o["kind"] == "Pod":
            pod = o["spec"]
        else:
            continue
        c = pod["containers"][0]
        names = [e["name"] for e in c.get("env", [])]
        extra = names[names.index("RUST_LOG") + 1:] if "RUST_LOG" in names else names
        print("%s %s" % (o["kind"], json.dumps({
            "extraEnv": extra, "volumes": pod.get("volumes"), "mounts": c.get("volumeMounts"),
            "pod": pod.get("securityContext"), "container": c.get("securityContext"),
            "affinity": pod.get("affinity"), "spread": pod.get("topologySpreadConstraints")},
            sort_keys=True)))

elif cmd == "env-secrets":
    # the env-var-secret check of kube-linter: an env var of any container whose name says secret,
    # password or token and that has a literal value (exit 1 if any)
    bad = []
    for o in load(args[0]):
        spec = o.get("spec", {})
        pod = spec.get("template", {}).get("spec") if o["kind"] in ("Deployment", "Job") else spec if o["kind"] == "Pod" else None
        for c in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
            for e in c.get("env", []):
                name = e["name"].lower()
                if "value" in e and any(w in name for w in ("secret", "password", "token")):
                    bad.append("%s/%s %s: %s has a literal value" % (o["kind"], o["metadata"]["name"], c["name"], e["name"]))
    print("\n".join(bad))
    sys.exit(1 if bad else 0)

elif cmd == "egress-ports":
    # every port of every NetworkPolicy egress rule, one JSON object a line
    for o in load(args[0]):
        if o["kind"] == "NetworkPolicy":
            for rule in o["spec"].get("egress", []):
                for port in rule.get("ports", []):
                    print(json.dumps(port, sort_keys=True))

elif cmd == "dashboard":
    # the dashboard ConfigMap (labelled grafana_dashboard=1): valid JSON, 6 panels or more,
    # each querying something
    maps = [o for o in load(args[0]) if o["kind"] == "ConfigMap"
            and o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    if not maps:
        sys.exit("no ConfigMap labelled grafana_dashboard=1")
    for o in maps:
        dash = json.loads(o["data"]["proxy-order-operator.json"])
        panels = dash["panels"]
        if len(panels) < 6:
            sys.exit("only %d panels" % len(panels))
        for p in panels:
            if not (p["targets"] and all(t["expr"] for t in p["targets"])):
                sys.exit("panel %r queries nothing" % p["title"])
        print("dashboard %r: %d panels" % (dash["title"], len(panels)))

elif cmd == "selector-overlap":
    # every Pod or Pod template other than those of the operator Deployment that the selector of a
    # Deployment, Service, PodDisruptionBudget or NetworkPolicy of the chart matches
    objs = load(args[0])
    selectors = []
    for o in objs:
        k, spec = o["kind"], o.get("spec", {})
        if k == "Deployment":
            sel = spec["selector"]["matchLabels"]
        elif k == "Service":
            sel = spec.get("selector")
        elif k in ("PodDisruptionBudget",):
            sel = spec.get("selector", {}).get("matchLabels")
        elif k == "NetworkPolicy":
            sel = spec.get("podSelector", {}).get("matchLabels")
        else:
            continue
        if sel:
            selectors.append(("%s/%s" % (k, o["metadata"]["name"]), sel))
    if not any(name.startswith("Deployment/") for name, _ in selectors):
        sys.exit("no Deployment rendered")
    # only the selectors of the operator Pods (the NetworkPolicies of the test and hook Pods
    # select those Pods on purpose)
    ops = [o["spec"]["template"]["metadata"].get("labels", {}) for o in objs if o["kind"] == "Deployment"]
    selectors = [(name, sel) for name, sel in selectors
                 if any(all(labels.get(k) == v for k, v in sel.items()) for labels in ops)]
    pods = []
    for o in objs:
        if o["kind"] == "Pod":
            pods.append(("Pod/%s" % o["metadata"]["name"], o["metadata"].get("labels", {})))
        elif o["kind"] == "Job":
            pods.append(("Job/%s" % o["metadata"]["name"], o["spec"]["template"]["metadata"].get("labels", {})))
    if not pods:
        sys.exit("no Pod or Job rendered")
    bad = ["%s is selected by %s (%s)" % (p, s, sel)
           for p, labels in pods for s, sel in selectors
           if all(labels.get(k) == v for k, v in sel.items())]
    print("\n".join(bad))
    sys.exit(1 if bad else 0)

elif cmd == "crd-equal":
    # the CRDs in args[0] (a rendering) are those of args[1:] (crds/, one CRD per file), each
    # with the same spec, helm.sh/resource-policy: keep and the labels of the chart
    rendered = {o["metadata"]["name"]: o for o in load(args[0]) if o["kind"] == "CustomResourceDefinition"}
    want = {}
    for path in args[1:]:
        src = load(path)
        if len(src) != 1 or src[0]["kind"] != "CustomResourceDefinition":
            sys.exit("%s: expected one CRD" % path)
        want[src[0]["metadata"]["name"]] = src[0]
    if sorted(rendered) != sorted(want):
        sys.exit("rendered CRDs %s, want %s" % (sorted(rendered), sorted(want)))
    for name, src in sorted(want.items()):
        crd = rendered[name]
        if crd["spec"] != src["spec"]:
            sys.exit("%s: the rendered CRD spec differs from crds/" % name)
        policy = crd["metadata"].get("annotations", {}).get("helm.sh/resource-policy")
        if policy != "keep":
            sys.exit("%s: helm.sh/resource-policy is %r, want keep" % (name, policy))
        labels = crd["metadata"].get("labels", {})
        for key in ("helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
                    "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of"):
            if key not in labels:
                sys.exit("%s: no label %s (labels: %s)" % (name, key, labels))

elif cmd == "retarget":
    # args: IN OUT FROM_NS TO_NS: move the objects of namespace FROM_NS into TO_NS (also the
    # Namespace object and ServiceAccount subjects); drop CustomResourceDefinitions (checked
    # on their own) and write them as a JSON List
    src, dst, old, new = args
    out = []
    for o in load(src):
        if o["kind"] == "CustomResourceDefinition":
            continue
        m = o["metadata"]
        if o["kind"] == "Namespace" and m["name"] == old:
            m["name"] = new
        if m.get("namespace") == old:
            m["namespace"] = new
        for s in o.get("subjects", []):
            if s.get("namespace") == old:
                s["namespace"] = new
        out.append(o)
    json.dump({"apiVersion": "v1", "kind": "List", "items": out}, open(dst, "w"))

else:
    sys.exit("unknown helper " + cmd)
'

# expect_lines FILE: every line on stdin occurs in FILE (exact line match).
expect_lines() {
  local missing
  missing="$(grep -vxF -f "$1" || true)"
  [[ -z "${missing}" ]] || fail "missing:"$'\n'"${missing}"$'\n'"in:"$'\n'"$(cat "$1")"
}

# forbid_lines FILE: no line on stdin occurs in FILE.
forbid_lines() {
  local found
  found="$(grep -xF -f - "$1" || true)"
  [[ -z "${found}" ]] || fail "unexpected:"$'\n'"${found}"
}

# ---------------------------------------------------------------------------------------------
# Static checks: lint, rendering, schema.

# Chart.yaml kubeVersion is the floor make test-floor runs on (KUBE_FLOOR_VERSION): a 1.30
# API server, whose CRD validation lacks the CEL isIP() the CRDs use, is refused up front.
t_kube_version() {
  local floor
  floor="$(sed -n 's/^KUBE_FLOOR_VERSION=v//p' "${root}/tests/controlplane/versions.env")"
  [[ -n "${floor}" ]] || fail "no KUBE_FLOOR_VERSION in tests/controlplane/versions.env"
  grep -qx "kubeVersion: \">=${floor%.*}.0-0\"" "${chart}/Chart.yaml" \
    || fail "Chart.yaml kubeVersion is not >=${floor%.*}.0-0: $(grep kubeVersion "${chart}/Chart.yaml")"
  render "${work}/kv.yaml" --kube-version "${floor}" || fail "the chart refuses its floor ${floor}"
  if render "${work}/kv.yaml" --kube-version 1.30.14 2>"${work}/kv.err"; then
    fail "the chart renders for Kubernetes 1.30"
  fi
  grep -q 'kubeVersion' "${work}/kv.err" || fail "unexpected error: $(cat "${work}/kv.err")"
}

# helm lint --strict, not even an [INFO] line (such as "icon is recommended"); the icon is a file of
# this repository (docs/images/), named by its raw URL on the main branch.
t_lint_default() {
  helm lint --strict "${chart}" >"${work}/lint.out" || fail "$(cat "${work}/lint.out")"
  if grep '^\[' "${work}/lint.out"; then fail "helm lint has something to say (above)"; fi
  local icon
  icon="$(sed -n 's#^icon: https://raw.githubusercontent.com/proxy-order-operator/proxy-order-operator/main/##p' "${chart}/Chart.yaml")"
  [[ -n "${icon}" && -f "${root}/${icon}" ]] || fail "Chart.yaml icon is no file of this repository: $(grep '^icon:' "${chart}/Chart.yaml")"
  python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "${root}/${icon}" || fail "${icon} is no valid SVG"
}
t_lint_ha() { helm lint --strict "${chart}" -f "${ha_values}"; }

t_app_version() {
  local crate chart_app
  crate="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "${root}/Cargo.toml" | head -n 1)"
  chart_app="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "${chart}/Chart.yaml")"
  [[ -n "${crate}" && "${crate}" == "${chart_app}" ]] \
    || fail "Chart.yaml appVersion '${chart_app}' != Cargo.toml version '${crate}'"
}

t_template_default() {
  render "${work}/default.yaml" --namespace ops
  to_json "${work}/default.yaml" "${work}/default.json"
  py objects "${work}/default.json" >"${work}/default.objects"
  expect_lines "${work}/default.objects" <<EOF
ServiceAccount/${fullname}@ops
ClusterRole/${fullname}@-
ClusterRoleBinding/${fullname}@-
Role/${fullname}-operator-namespace@ops
RoleBinding/${fullname}-operator-namespace@ops
Deployment/${fullname}@ops
Service/${fullname}-metrics@ops
CustomResourceDefinition/${crd_name}@-
CustomResourceDefinition/${provider_crd_name}@-
Pod/${fullname}-test-healthz@ops
ClusterRole/${fullname}-view@-
ClusterRole/${fullname}-edit@-
EOF
  [[ "$(wc -l <"${work}/default.objects")" -eq 12 ]] \
    || fail "expected exactly 12 objects, got:"$'\n'"$(cat "${work}/default.objects")"
  py deployment "${work}/default.json" >"${work}/default.deploy"
  expect_lines "${work}/default.deploy" <<'EOF'
replicas=1
strategy=Recreate
image=ghcr.io/proxy-order-operator/proxy-order-operator:0.1.0
env=POD_NAME<-metadata.name
env=POD_NAMESPACE<-metadata.namespace
env=PROXY_ORDER_OPERATOR_NAMESPACE<-metadata.namespace
arg=--allow-api-key-secret-ref=true
env=PROXY_ORDER_PROVIDER_URL=https://v3.proxy-solutions.net/api
env=PROXY_ORDER_AUTH_HEADER=Authorization
env=PROXY_ORDER_AUTH_SCHEME=Bearer
env=PROXY_ORDER_IP_AUTH_CLEAR=empty-list
env=PROXY_ORDER_EMPTY_CHANGE_READ=true
env=PROXY_ORDER_REFRESH_INTERVAL=10m
env=PROXY_ORDER_CONCURRENCY=8
env=PROXY_ORDER_RATE_LIMIT=5
env=PROXY_ORDER_LOG_FORMAT=json
env=PROXY_ORDER_METRICS_ADDR=0.0.0.0:8080
automountServiceAccountToken=True
pod.runAsNonRoot=True pod.runAsUser=65532 pod.seccomp=RuntimeDefault
readOnlyRootFilesystem=True allowPrivilegeEscalation=False drop=ALL seccomp=RuntimeDefault
liveness=/healthz:metrics readiness=/readyz:metrics
ports=metrics:8080
EOF
  # no leader election, namespace, selector or query-parameter auth by default
  if grep -vx 'arg=--allow-api-key-secret-ref=true' "${work}/default.deploy" \
    | grep -E '^arg=|^env=PROXY_ORDER_(AUTH_QUERY_PARAM|SELECTOR|LEASE_DURATION|VERIFY_CREDENTIALS|PROBE_[A-Z]+)='; then
    fail "unexpected default args/env (above)"
  fi
  grep -q '^resources=.*"limits"' "${work}/default.deploy" || fail "no resource limits"
  py test-pod "${work}/default.json" >"${work}/default.testpod"
  expect_lines "${work}/default.testpod" <<EOF
hook=test image=ghcr.io/proxy-order-operator/proxy-order-operator:0.1.0 url=http://${fullname}-metrics.ops.svc:8080/healthz
EOF
}

t_template_ha() {
  render "${work}/ha.yaml" --namespace ops -f "${ha_values}"
  to_json "${work}/ha.yaml" "${work}/ha.json"
  py objects "${work}/ha.json" >"${work}/ha.objects"
  expect_lines "${work}/ha.objects" <<EOF
ServiceAccount/${fullname}@ops
Role/${fullname}@proxy-orders
RoleBinding/${fullname}@proxy-orders
ClusterRole/${fullname}@-
ClusterRoleBinding/${fullname}@-
Role/${fullname}-operator-namespace@ops
RoleBinding/${fullname}-operator-namespace@ops
Role/${fullname}-leader-election@ops
RoleBinding/${fullname}-leader-election@ops
Role/${fullname}-provider-keys@provider-keys
RoleBinding/${fullname}-provider-keys@provider-keys
Deployment/${fullname}@ops
Service/${fullname}-metrics@ops
NetworkPolicy/${fullname}@ops
NetworkPolicy/${fullname}-test@ops
NetworkPolicy/${fullname}-uninstall@ops
PodDisruptionBudget/${fullname}@ops
CustomResourceDefinition/${crd_name}@-
CustomResourceDefinition/${provider_crd_name}@-
Pod/${fullname}-test-healthz@ops
EOF
  forbid_lines "${work}/ha.objects" <<EOF
Role/${fullname}-default-api-key@ops
RoleBinding/${fullname}-default-api-key@ops
EOF
  if grep -q '^ServiceMonitor/' "${work}/ha.objects"; then fail "ServiceMonitor rendered although disabled"; fi
  py deployment "${work}/ha.json" >"${work}/ha.deploy"
  expect_lines "${work}/ha.deploy" <<'EOF'
replicas=2
strategy=Recreate
arg=--leader-election
arg=--leader-election-namespace=ops
arg=--lease-name=t-proxy-order-operator
arg=--namespace=proxy-orders
arg=--default-api-key-secret=ops/provider-key
arg=--terminal-recheck=15m
env=PROXY_ORDER_OPERATOR_NAMESPACE<-metadata.namespace
arg=--allow-api-key-secret-ref=false
env=PROXY_ORDER_PROVIDER_URL=https://proxy-solutions.example/api
env=PROXY_ORDER_AUTH_HEADER=X-API-KEY
env=PROXY_ORDER_AUTH_SCHEME=
env=PROXY_ORDER_IP_AUTH_CLEAR=clear-string
env=PROXY_ORDER_EMPTY_CHANGE_READ=false
env=PROXY_ORDER_PROVIDER_KEY_NAMESPACES=provider-keys
env=PROXY_ORDER_SELECTOR=shard=a
env=PROXY_ORDER_LEASE_DURATION=60s
env=PROXY_ORDER_RATE_LIMIT=2.5
env=PROXY_ORDER_LOG_FORMAT=text
EOF
}

t_template_options() {
  local objs
  # leader election follows replicaCount
  render "${work}/r2.yaml" --namespace ops --set replicaCount=2
  to_json "${work}/r2.yaml" "${work}/r2.json"
  # Into a file first: `grep -q` stops reading at the first match, and under pipefail the
  # writer's broken pipe would fail the check.
  py deployment "${work}/r2.json" >"${work}/r2.deploy"
  grep -qx 'arg=--leader-election' "${work}/r2.deploy" || fail "replicaCount=2 without --leader-election"
  # an explicit tag, a digest
  render "${work}/img.yaml" --namespace ops --set image.tag=1.2.3
  grep -q 'image: "ghcr.io/proxy-order-operator/proxy-order-operator:1.2.3"' "${work}/img.yaml" || fail "image.tag not used"
  render "${work}/img.yaml" --namespace ops --set image.digest=sha256:"$(printf 'a%.0s' {1..64})"
  grep -q 'image: "ghcr.io/proxy-order-operator/proxy-order-operator@sha256:a' "${work}/img.yaml" || fail "image.digest not used"
  # query-parameter auth, selector
  render "${work}/q.yaml" --namespace ops --set provider.authQueryParam=api_key --set selector=shard=b
  to_json "${work}/q.yaml" "${work}/q.json"
  py deployment "${work}/q.json" >"${work}/q.deploy"
  expect_lines "${work}/q.deploy" <<'EOF'
env=PROXY_ORDER_AUTH_QUERY_PARAM=api_key
env=PROXY_ORDER_SELECTOR=shard=b
EOF
  # namespaced API keys switched off: the argument says false (and is given once)
  render "${work}/nokeyref.yaml" --namespace ops --set allowApiKeySecretRef=false
  to_json "${work}/nokeyref.yaml" "${work}/nokeyref.json"
  py deployment "${work}/nokeyref.json" >"${work}/nokeyref.deploy"
  expect_lines "${work}/nokeyref.deploy" <<'EOF'
arg=--allow-api-key-secret-ref=false
EOF
  [[ "$(grep -c '^arg=--allow-api-key-secret-ref=' "${work}/nokeyref.deploy")" == 1 ]] \
    || fail "--allow-api-key-secret-ref is given more than once"
  # ServiceMonitor only when enabled, with the relabelings given
  render "${work}/sm.yaml" --namespace ops --set metrics.serviceMonitor.enabled=true \
    --set 'metrics.serviceMonitor.relabelings[0].targetLabel=cluster' --set 'metrics.serviceMonitor.relabelings[0].replacement=prod-eu' \
    --set 'metrics.serviceMonitor.metricRelabelings[0].action=drop' --set 'metrics.serviceMonitor.metricRelabelings[0].regex=.*_bucket'
  grep -q '^kind: ServiceMonitor$' "${work}/sm.yaml" || fail "no ServiceMonitor with metrics.serviceMonitor.enabled=true"
  grep -A3 '^      relabelings:$' "${work}/sm.yaml" >"${work}/sm.relabelings" || true
  grep -A3 '^      metricRelabelings:$' "${work}/sm.yaml" >"${work}/sm.metric-relabelings" || true
  grep -q 'targetLabel: cluster' "${work}/sm.relabelings" || fail "relabelings not in the ServiceMonitor: $(cat "${work}/sm.yaml")"
  grep -q 'action: drop' "${work}/sm.metric-relabelings" || fail "metricRelabelings not in the ServiceMonitor: $(cat "${work}/sm.yaml")"
  # no CRD with installCrds=false (neither of them)
  render "${work}/nocrd.yaml" --namespace ops --set installCrds=false
  objs="$(grep -c '^kind: CustomResourceDefinition$' "${work}/nocrd.yaml" || true)"
  [[ "${objs}" == 0 ]] || fail "${objs} CRD(s) rendered with installCrds=false"
  # a PDB with one replica is refused
  if render "${work}/pdb.yaml" --set podDisruptionBudget.enabled=true 2>"${work}/pdb.err"; then
    fail "podDisruptionBudget.enabled with replicaCount 1 was accepted"
  fi
  grep -q 'needs replicaCount > 1' "${work}/pdb.err" || fail "unexpected error: $(cat "${work}/pdb.err")"
  # the credentials probe: off by default (checked above), on with its settings, and refused
  # without a target
  render "${work}/probe.yaml" --namespace ops --set verifyCredentials.enabled=true \
    --set verifyCredentials.target=example.net:443 --set verifyCredentials.interval=1h
  to_json "${work}/probe.yaml" "${work}/probe.json"
  py deployment "${work}/probe.json" >"${work}/probe.deploy"
  expect_lines "${work}/probe.deploy" <<'EOF'
env=PROXY_ORDER_VERIFY_CREDENTIALS=true
env=PROXY_ORDER_PROBE_TARGET=example.net:443
env=PROXY_ORDER_PROBE_TIMEOUT=10s
env=PROXY_ORDER_PROBE_INTERVAL=1h
env=PROXY_ORDER_PROBE_RATE=2
EOF
  if render "${work}/notarget.yaml" --set verifyCredentials.enabled=true 2>"${work}/notarget.err"; then
    fail "verifyCredentials.enabled without a target was accepted"
  fi
  grep -q 'verifyCredentials.target is required' "${work}/notarget.err" || fail "unexpected error: $(cat "${work}/notarget.err")"
}

# pod_settings VALUES_ARGS...: the pod-settings lines of the chart rendered with the HA values
# (a Deployment, the uninstall hook's Job and the helm test Pod) and these arguments.
pod_settings() {
  render "${work}/ps.yaml" --namespace ops -f "${ha_values}" "$@" || fail "render failed: $*"
  to_json "${work}/ps.yaml" "${work}/ps.json"
  py pod-settings "${work}/ps.json" >"${work}/ps.lines"
  [[ "$(wc -l <"${work}/ps.lines")" == 3 ]] || fail "expected a Deployment, a Job and a Pod: $(cat "${work}/ps.lines")"
}
# pod_field KIND FIELD: FIELD of KIND's line in ps.lines, as JSON.
pod_field() {
  grep "^$1 " "${work}/ps.lines" | cut -d' ' -f2- | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[sys.argv[1]], sort_keys=True))' "$2"
}

t_pod_settings() {
  local v
  # defaults: UID 65532, read-only root, no extra env or volumes; soft anti-affinity with 2
  # replicas (ci/ha-values.yaml has an affinity of its own: unset here); the hook and the test
  # Pod share the security contexts
  pod_settings --set affinity=null
  for kind in Deployment Job Pod; do
    [[ "$(pod_field "${kind}" pod)" == *'"runAsUser": 65532'* ]] || fail "${kind}: pod runAsUser is not 65532: $(pod_field "${kind}" pod)"
    [[ "$(pod_field "${kind}" container)" == *'"readOnlyRootFilesystem": true'* ]] || fail "${kind}: no read-only root"
  done
  [[ "$(pod_field Deployment extraEnv)" == "[]" ]] || fail "extra env by default: $(pod_field Deployment extraEnv)"
  [[ "$(pod_field Deployment affinity)" == *preferredDuringScheduling*'"topologyKey": "kubernetes.io/hostname"'* ]] \
    || fail "2 replicas without a preferred anti-affinity: $(pod_field Deployment affinity)"
  # OpenShift: the fixed IDs unset everywhere, the rest kept
  pod_settings --set podSecurityContext.runAsUser=null --set podSecurityContext.runAsGroup=null \
    --set podSecurityContext.fsGroup=null --set securityContext.runAsUser=null --set securityContext.runAsGroup=null
  for kind in Deployment Job Pod; do
    v="$(pod_field "${kind}" pod) $(pod_field "${kind}" container)"
    [[ "${v}" != *65532* ]] || fail "${kind}: a fixed ID is left: ${v}"
    [[ "$(pod_field "${kind}" container)" == *'"runAsNonRoot": true'*'"type": "RuntimeDefault"'* ]] || fail "${kind}: lost the rest: ${v}"
  done
  # extra env after the chart's, volumes and mounts, hard anti-affinity, a spread constraint
  # with the operator's selector filled in
  pod_settings --set 'extraEnv[0].name=HTTPS_PROXY' --set 'extraEnv[0].value=http://proxy.corp:3128' \
    --set 'extraEnv[1].name=SSL_CERT_FILE' --set 'extraEnv[1].value=/etc/corp/ca.pem' \
    --set 'extraVolumes[0].name=corp-ca' --set 'extraVolumes[0].configMap.name=corp-ca' \
    --set 'extraVolumeMounts[0].name=corp-ca' --set 'extraVolumeMounts[0].mountPath=/etc/corp' \
    --set 'extraVolumeMounts[0].readOnly=true' --set affinity=null --set podAntiAffinity=hard \
    --set 'topologySpreadConstraints[0].maxSkew=1' --set 'topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone' \
    --set 'topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway'
  [[ "$(pod_field Deployment extraEnv)" == '["HTTPS_PROXY", "SSL_CERT_FILE"]' ]] || fail "extraEnv: $(pod_field Deployment extraEnv)"
  [[ "$(pod_field Deployment volumes)" == '[{"configMap": {"name": "corp-ca"}, "name": "corp-ca"}]' ]] || fail "volumes: $(pod_field Deployment volumes)"
  [[ "$(pod_field Deployment mounts)" == '[{"mountPath": "/etc/corp", "name": "corp-ca", "readOnly": true}]' ]] || fail "mounts: $(pod_field Deployment mounts)"
  [[ "$(pod_field Deployment affinity)" == *requiredDuringScheduling* ]] || fail "podAntiAffinity=hard: $(pod_field Deployment affinity)"
  [[ "$(pod_field Deployment spread)" == *'"app.kubernetes.io/instance": "t"'*'"maxSkew": 1'* ]] || fail "spread: $(pod_field Deployment spread)"
  # an explicit affinity replaces the default; one replica or none: no anti-affinity
  pod_settings --set 'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool' \
    --set 'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists'
  [[ "$(pod_field Deployment affinity)" == '{"nodeAffinity"'* ]] || fail "affinity not used as given: $(pod_field Deployment affinity)"
  pod_settings --set affinity=null --set podAntiAffinity=none
  [[ "$(pod_field Deployment affinity)" == null ]] || fail "podAntiAffinity=none: $(pod_field Deployment affinity)"
  render "${work}/one.yaml" --namespace ops
  grep -q 'podAntiAffinity' "${work}/one.yaml" && fail "one replica with a podAntiAffinity"
  # the schema: an env var without a name, a mount without a path, an unknown preset
  schema_rejects "name" --set 'extraEnv[0].value=x'
  schema_rejects "mountPath" --set 'extraVolumeMounts[0].name=x'
  schema_rejects "podAntiAffinity" --set podAntiAffinity=maybe
  true
}

# With verifyCredentials the NetworkPolicy must let the probes reach the proxies: without their
# ports the chart refuses to render, with them they are an egress rule.
t_networkpolicy_probes() {
  if render "${work}/np.yaml" --namespace ops --set networkPolicy.enabled=true --set verifyCredentials.enabled=true \
    --set verifyCredentials.target=example.net:443 2>"${work}/np.err"; then
    fail "verifyCredentials with a NetworkPolicy and no proxyEgressPorts was accepted"
  fi
  grep -q 'needs networkPolicy.proxyEgressPorts' "${work}/np.err" || fail "unexpected error: $(cat "${work}/np.err")"
  render "${work}/np.yaml" --namespace ops --set networkPolicy.enabled=true --set verifyCredentials.enabled=true \
    --set verifyCredentials.target=example.net:443 --set 'networkPolicy.proxyEgressPorts[0].port=8000' \
    --set 'networkPolicy.proxyEgressPorts[0].endPort=8999'
  to_json "${work}/np.yaml" "${work}/np.json"
  py egress-ports "${work}/np.json" >"${work}/np.ports"
  grep -qx '{"endPort": 8999, "port": 8000, "protocol": "TCP"}' "${work}/np.ports" \
    || fail "no egress rule for the proxies' ports: $(cat "${work}/np.ports")"
  # and without the probe, no such rule
  render "${work}/np.yaml" --namespace ops --set networkPolicy.enabled=true --set 'networkPolicy.proxyEgressPorts[0].port=8000'
  grep -q 'endPort\|port: 8000' "${work}/np.yaml" && fail "a proxy egress rule without verifyCredentials"
  true
}

# kube-score on the default and the ha rendering, with the checks of
# tests/kube-score/skipped-checks.txt skipped (each there with its reason); every skip must be
# needed: without it, kube-score fails.
t_kube_score() {
  local score list="${root}/tests/kube-score/skipped-checks.txt" rendering check args skip
  score="${KUBE_SCORE:-$(built_tool kube-score)}" || fail "could not build kube-score"
  kscore() { # FILE [--ignore-test CHECK]...
    "${score}" score --kubernetes-version v1.31 --output-format ci --exit-one-on-warning \
      --enable-optional-test container-seccomp-profile --enable-optional-test container-ports-check "${@:2}" "$1"
  }
  render "${work}/ks-default.yaml" --namespace ops
  render "${work}/ks-ha.yaml" --namespace ops -f "${ha_values}"
  for rendering in default ha; do
    args=()
    while read -r skip check _; do
      [[ -z "${skip}" || "${skip}" == \#* ]] && continue
      [[ -n "${check}" ]] || fail "skipped-checks.txt: no check on the line of ${skip}"
      [[ "${skip}" == all || "${skip}" == default || "${skip}" == ha ]] || fail "skipped-checks.txt: unknown rendering ${skip}"
      [[ "${skip}" == all || "${skip}" == "${rendering}" ]] && args+=(--ignore-test "${check}")
    done <"${list}"
    kscore "${work}/ks-${rendering}.yaml" "${args[@]}" >"${work}/ks.out" \
      || fail "kube-score on the ${rendering} rendering:"$'\n'"$(grep -v '\[OK\]\|\[SKIPPED\]' "${work}/ks.out")"
    echo "${rendering}: $(grep -c '\[OK\]' "${work}/ks.out") checks passed, $(( ${#args[@]} / 2 )) skipped"
    # each skip needed
    for ((i = 1; i < ${#args[@]}; i += 2)); do
      if kscore "${work}/ks-${rendering}.yaml" "${args[@]:0:i-1}" "${args[@]:i+1}" >/dev/null; then
        fail "skipping ${args[i]} is not needed on the ${rendering} rendering: remove it from skipped-checks.txt"
      fi
    done
  done
}

# Settings the operator refuses at start (it would crash-loop) are refused by helm install, with
# the operator's reason: a lease not above the provider timeout + 3 s, a log filter that is no
# filter, a selector that is no label selector; a PriorityClass name that is no DNS name.
t_refused_settings() {
  refused() { # WANT VALUES-YAML: rendering with these values fails with WANT in the message
    printf '%s\n' "$2" >"${work}/refused.yaml"
    if render "${work}/refused.out" --namespace ops -f "${work}/refused.yaml" 2>"${work}/refused.err"; then
      fail "accepted: $2"
    fi
    grep -qF -- "$1" "${work}/refused.err" || fail "for $2: the error does not say '$1': $(cat "${work}/refused.err")"
  }
  accepted() { # VALUES-YAML
    printf '%s\n' "$1" >"${work}/accepted.yaml"
    render "${work}/accepted.out" --namespace ops -f "${work}/accepted.yaml" 2>"${work}/accepted.err" \
      || fail "refused: $1: $(cat "${work}/accepted.err")"
  }
  refused "leaderElection.leaseDuration (32s) must be at least provider.timeout (30s) + 3s" $'replicaCount: 2\nleaderElection: {leaseDuration: 32s}'
  refused "leaderElection.leaseDuration (1m) must be at least provider.timeout (1m) + 3s" $'leaderElection: {enabled: true, leaseDuration: 1m}\nprovider: {timeout: 1m}'
  refused "must be at least provider.timeout (58) + 3s" $'replicaCount: 2\nprovider: {timeoutSeconds: 58}'
  accepted $'replicaCount: 2\nleaderElection: {leaseDuration: 33s}'
  accepted $'replicaCount: 2\nleaderElection: {leaseDuration: 1m5s}\nprovider: {timeout: 1m2s}'
  accepted $'leaderElection: {leaseDuration: 5s}\nprovider: {timeout: 1m}'   # no leader election: no lease
  refused 'logLevel "verbose": each comma-separated directive is a level' 'logLevel: verbose'
  refused 'logLevel "info,": each' 'logLevel: "info,"'
  accepted 'logLevel: "info,proxy_order_operator=debug,kube_runtime::controller=warn"'
  refused 'selector "shard=a b" is no label selector' 'selector: "shard=a b"'
  refused 'selector "shard in a" is no label selector' 'selector: "shard in a"'
  refused 'selector "a,,b" is no label selector' 'selector: "a,,b"'
  accepted 'selector: "proxy-solutions.net/shard in (a, b),!legacy,tier!=x"'
  refused "priorityClassName" 'priorityClassName: Bad_Name'
  accepted 'priorityClassName: system-cluster-critical'
}

# What linters in users' CI gates flag as a secret in an environment variable (kube-linter's
# env-var-secret, polaris): no variable whose name says secret, password or token has a literal
# value, with default values, ci/ha-values.yaml or the credentials probe on.
t_no_secret_env() {
  local name args
  for args in "" "-f ${ha_values}" "--set verifyCredentials.enabled=true --set verifyCredentials.target=x:443"; do
    name="envsec-$((++envsec_n))"
    # shellcheck disable=SC2086 # args is a list of words
    render "${work}/${name}.yaml" --namespace ops ${args}
    to_json "${work}/${name}.yaml" "${work}/${name}.json"
    py env-secrets "${work}/${name}.json" || fail "with '${args}' (above)"
  done
}
envsec_n=0

# The helm test Pod and the uninstall hook's Pods carry labels of their own: the Deployment's
# selector counting them would, for one, make kubectl get pods -l of the operator see a Pod more.
t_selectors_own_pods() {
  render "${work}/selectors.yaml" --namespace ops -f "${ha_values}" --set podDisruptionBudget.enabled=true \
    --set networkPolicy.enabled=true
  to_json "${work}/selectors.yaml" "${work}/selectors.json"
  py selector-overlap "${work}/selectors.json" || fail "a Pod that is not the operator's matches a selector (above)"
}

t_crd_rendered() {
  render "${work}/crd.yaml" --namespace ops --show-only templates/crds.yaml
  to_json "${work}/crd.yaml" "${work}/crd.json"
  local i srcs=()
  for i in "${!crd_files[@]}"; do
    to_json "${crd_files[$i]}" "${work}/crd-src-${i}.json"
    srcs+=("${work}/crd-src-${i}.json")
  done
  py crd-equal "${work}/crd.json" "${srcs[@]}"
}

# schema_rejects WHAT-IN-ERROR HELM-ARGS...: helm template fails and names WHAT-IN-ERROR;
# the same without HELM-ARGS succeeds.
schema_rejects() {
  local want="$1"
  shift
  render "${work}/ok.yaml" || fail "the chart does not render with default values"
  if render "${work}/bad.yaml" "$@" 2>"${work}/bad.err"; then
    fail "helm accepted $*"
  fi
  grep -q "${want}" "${work}/bad.err" || fail "error does not mention ${want}: $(cat "${work}/bad.err")"
  grep -q "schema" "${work}/bad.err" || fail "not a schema error: $(cat "${work}/bad.err")"
}

t_schema_type() { schema_rejects "replicaCount" --set replicaCount=two; }
t_schema_unknown() { schema_rejects "bogus" --set bogus=1; }
t_schema_nested_unknown() { schema_rejects "bogus" --set provider.bogus=1; }
t_schema_nested_type() {
  printf 'metrics:\n  serviceMonitor:\n    enabled: "yes"\n' >"${work}/bad-values.yaml"
  schema_rejects "serviceMonitor/enabled" -f "${work}/bad-values.yaml"
}
t_schema_enum() { schema_rejects "ipAuthClear" --set provider.ipAuthClear=clear; }
t_schema_rollout() {
  schema_rejects "rollout" --set rollout.enabled=maybe
  schema_rejects "bogus" --set rollout.bogus=1
}
t_schema_tenancy() {
  schema_rejects "allowApiKeySecretRef" --set allowApiKeySecretRef=maybe
  schema_rejects "providerKeyNamespaces" --set 'providerKeyNamespaces={Not_A_Namespace}'
  schema_rejects "providerKeyNamespaces" --set 'providerKeyNamespaces={keys,keys}'
  schema_rejects "providerKeyNamespaces" --set 'providerKeyNamespaces[0]='
}

# ---------------------------------------------------------------------------------------------
# RBAC: exactly the rules the operator uses, no wildcards, in every combination of values.

rbac_combos=(
  "default|"
  "ha|-f ${ha_values}"
  "default-key-cluster-wide|--set defaultApiKeySecret.name=provider-key"
  "watch-release-namespace|--set watchNamespace=ops --set defaultApiKeySecret.name=provider-key"
  "two-replicas|--set replicaCount=2"
  "leader-election|--set leaderElection.enabled=true --set watchNamespace=team-a"
  "existing-service-account|--set serviceAccount.create=false --set serviceAccount.name=existing"
  "provider-key-namespaces|--set providerKeyNamespaces={keys-a,keys-b,ops}"
  "provider-key-namespaces-watch|--set watchNamespace=team-a --set providerKeyNamespaces={team-a,keys-a} --set allowApiKeySecretRef=false"
  "rollout|--set rollout.enabled=true"
  "rollout-watch-namespace|--set rollout.enabled=true --set watchNamespace=team-a"
  "no-user-roles|--set rbac.aggregateToDefaultRoles=false"
)

rbac_of() { # COMBO-NAME: the normalised RBAC of that combination into ${work}/rbac-NAME
  local entry name args
  for entry in "${rbac_combos[@]}"; do
    name="${entry%%|*}"
    [[ "${name}" == "$1" ]] || continue
    args="${entry#*|}"
    # shellcheck disable=SC2086 # args is a list of words
    render "${work}/rbac-${name}.yaml" --namespace ops ${args}
    to_json "${work}/rbac-${name}.yaml" "${work}/rbac-${name}.json"
    py rbac "${work}/rbac-${name}.json" >"${work}/rbac-${name}"
    return 0
  done
  fail "unknown combination $1"
}

t_no_wildcards() {
  local entry name bad=0
  for entry in "${rbac_combos[@]}"; do
    name="${entry%%|*}"
    rbac_of "${name}"
    py wildcards "${work}/rbac-${name}.json" >"${work}/wild-${name}" || {
      echo "${name}:"; cat "${work}/wild-${name}"; bad=1
    }
  done
  (( bad == 0 ))
}

# The namespaced rules: in the ClusterRole (cluster-wide), or in a Role in watchNamespace.
watch_rules() { # KIND NAME NAMESPACE
  cat <<EOF
$1 $2 $3: proxy-solutions.net/proxyorders get,list,patch,watch names=-
$1 $2 $3: proxy-solutions.net/proxyorders/status get,patch,update names=-
$1 $2 $3: proxy-solutions.net/proxyorders/finalizers update names=-
$1 $2 $3: core/secrets create,get,list,patch,watch names=-
$1 $2 $3: events.k8s.io/events create,patch names=-
EOF
}

# With rollout.enabled: the workloads to restart, beside the other namespaced rules.
rollout_rules() { # KIND NAME NAMESPACE
  local res
  for res in daemonsets deployments statefulsets; do
    echo "$1 $2 $3: apps/${res} get,list,patch,watch names=-"
  done
}

# The cluster-scoped rules, always in the ClusterRole, and its binding.
cluster_rules() { # NAMESPACE-NAMES ("-": every namespace) SA
  cat <<EOF
ClusterRole ${fullname} -: proxy-solutions.net/proxyproviders get,list,watch names=-
ClusterRole ${fullname} -: proxy-solutions.net/proxyproviders/status patch names=-
ClusterRole ${fullname} -: core/namespaces get,list,watch names=$1
ClusterRoleBinding ${fullname} - -> ClusterRole/${fullname} ServiceAccount:ops/$2
EOF
}

# Cluster-wide mode: everything in the ClusterRole.
cluster_wide_rules() { # SA
  watch_rules ClusterRole "${fullname}" -
  cluster_rules - "$1"
}

# watchNamespace mode: a Role there, the ClusterRole for ProxyProviders and that Namespace.
watch_namespace_rules() { # NAMESPACE SA
  watch_rules Role "${fullname}" "$1"
  echo "RoleBinding ${fullname} $1 -> Role/${fullname} ServiceAccount:ops/$2"
  cluster_rules "$1" "$2"
}

# Always, in the release namespace: API-key Secrets (read-only) and the order claims.
operator_namespace_rules() { # SA
  cat <<EOF
Role ${fullname}-operator-namespace ops: core/secrets get,list,watch names=-
Role ${fullname}-operator-namespace ops: coordination.k8s.io/leases create,list,watch names=-
Role ${fullname}-operator-namespace ops: coordination.k8s.io/leases delete,get,update names=-
RoleBinding ${fullname}-operator-namespace ops -> Role/${fullname}-operator-namespace ServiceAccount:ops/$1
EOF
}

leader_rules() { # NAMESPACE SA
  cat <<EOF
Role ${fullname}-leader-election $1: coordination.k8s.io/leases create names=-
Role ${fullname}-leader-election $1: coordination.k8s.io/leases get,update names=${fullname}
RoleBinding ${fullname}-leader-election $1 -> Role/${fullname}-leader-election ServiceAccount:ops/$2
EOF
}

# With leader election: the pre-delete hook that stops the operator before helm uninstall.
uninstall_rules() {
  cat <<EOF
Role ${fullname}-uninstall ops: apps/deployments get,patch names=${fullname}
Role ${fullname}-uninstall ops: core/pods list names=-
RoleBinding ${fullname}-uninstall ops -> Role/${fullname}-uninstall ServiceAccount:ops/${fullname}-uninstall
EOF
}

provider_key_rules() { # NAMESPACE SA
  cat <<EOF
Role ${fullname}-provider-keys $1: core/secrets get,list,watch names=-
RoleBinding ${fullname}-provider-keys $1 -> Role/${fullname}-provider-keys ServiceAccount:ops/$2
EOF
}

# rbac_is COMBO: the combination's RBAC equals stdin (order-insensitive).
# The ClusterRoles aggregated into view, edit and admin (rbac.aggregateToDefaultRoles, on in
# every combination but no-user-roles).
user_roles() {
  cat <<EOF
ClusterRole ${fullname}-view -: proxy-solutions.net/proxyorders get,list,watch names=-
ClusterRole ${fullname}-edit -: proxy-solutions.net/proxyorders create,delete,deletecollection,patch,update names=-
EOF
}
rbac_is() {
  rbac_of "$1"
  { cat; [[ "$1" == no-user-roles ]] || user_roles; } | sort >"${work}/want-$1"
  diff -u "${work}/want-$1" "${work}/rbac-$1" || fail "RBAC of '$1' differs (- expected, + rendered)"
}

t_rbac_exact() {
  {
    cluster_wide_rules "${fullname}"
    operator_namespace_rules "${fullname}"
  } | rbac_is default
  {
    cluster_wide_rules "${fullname}"
    operator_namespace_rules "${fullname}"
  } | rbac_is default-key-cluster-wide
  {
    watch_namespace_rules proxy-orders "${fullname}"
    operator_namespace_rules "${fullname}"
    leader_rules ops "${fullname}"
    uninstall_rules
    provider_key_rules provider-keys "${fullname}"
  } | rbac_is ha
  {
    watch_namespace_rules ops "${fullname}"
    operator_namespace_rules "${fullname}"
  } | rbac_is watch-release-namespace
  {
    cluster_wide_rules "${fullname}"
    operator_namespace_rules "${fullname}"
    leader_rules ops "${fullname}"
    uninstall_rules
  } | rbac_is two-replicas
  {
    watch_namespace_rules team-a "${fullname}"
    operator_namespace_rules "${fullname}"
    leader_rules ops "${fullname}"
    uninstall_rules
  } | rbac_is leader-election
  {
    cluster_wide_rules existing
    operator_namespace_rules existing
  } | rbac_is existing-service-account
  if grep -q '^ServiceAccount/' <(py objects "${work}/rbac-existing-service-account.json"); then
    fail "a ServiceAccount is rendered with serviceAccount.create=false"
  fi
  {
    cluster_wide_rules "${fullname}"
    operator_namespace_rules "${fullname}"
    provider_key_rules keys-a "${fullname}"
    provider_key_rules keys-b "${fullname}"
  } | rbac_is provider-key-namespaces
  {
    watch_namespace_rules team-a "${fullname}"
    operator_namespace_rules "${fullname}"
    provider_key_rules team-a "${fullname}"
    provider_key_rules keys-a "${fullname}"
  } | rbac_is provider-key-namespaces-watch
  {
    cluster_wide_rules "${fullname}"
    rollout_rules ClusterRole "${fullname}" -
    operator_namespace_rules "${fullname}"
  } | rbac_is rollout
  {
    watch_namespace_rules team-a "${fullname}"
    rollout_rules Role "${fullname}" team-a
    operator_namespace_rules "${fullname}"
  } | rbac_is rollout-watch-namespace
  {
    cluster_wide_rules "${fullname}"
    operator_namespace_rules "${fullname}"
  } | rbac_is no-user-roles
}

# rollout.enabled: the operator flag and the apps rules come together; without it, neither
# (the operator then reports RolloutDisabled instead of being refused).
t_rollout() {
  local entry name
  render "${work}/rollout.yaml" --namespace ops --set rollout.enabled=true
  to_json "${work}/rollout.yaml" "${work}/rollout.json"
  [[ "$(py deployment "${work}/rollout.json" | grep -cx 'arg=--rollout-targets')" == 1 ]] \
    || fail "rollout.enabled=true does not pass --rollout-targets once"
  for entry in "${rbac_combos[@]}"; do
    name="${entry%%|*}"
    [[ "${name}" == rollout* ]] && continue
    rbac_of "${name}"
    # (the uninstall hook's own Role scales the operator's Deployment: t_uninstall_hook)
    if grep -E ': apps/' "${work}/rbac-${name}" | grep -v -- '-uninstall '; then
      fail "${name}: apps rules without rollout.enabled (above)"
    fi
    if py deployment "${work}/rbac-${name}.json" | grep -x 'arg=--rollout-targets'; then
      fail "${name}: --rollout-targets without rollout.enabled"
    fi
  done
}

# The Role in the release namespace grants the order-claim Leases (create, list; get, update,
# delete: their names are hashes) in every combination; only the leader-election Lease is
# limited by name.
t_rbac_claims() {
  local entry name
  for entry in "${rbac_combos[@]}"; do
    name="${entry%%|*}"
    rbac_of "${name}"
    expect_lines "${work}/rbac-${name}" <<EOF
Role ${fullname}-operator-namespace ops: coordination.k8s.io/leases create,list,watch names=-
Role ${fullname}-operator-namespace ops: coordination.k8s.io/leases delete,get,update names=-
Role ${fullname}-operator-namespace ops: core/secrets get,list,watch names=-
EOF
    # no other Role in the release namespace reaches every Lease for get/update/delete
    if grep -E "^Role [^ ]+ ops: coordination.k8s.io/leases .*(get|update|delete).* names=-$" "${work}/rbac-${name}" \
        | grep -v "^Role ${fullname}-operator-namespace "; then
      fail "${name}: another Role grants unnamed Lease access (above)"
    fi
  done
}

# providerKeyNamespaces: one read-only Secrets Role (get, list, watch) and its binding per namespace listed,
# none for the release namespace (its Role covers it) and none by default.
t_rbac_provider_keys() {
  rbac_of provider-key-namespaces
  py objects "${work}/rbac-provider-key-namespaces.json" >"${work}/pk.objects"
  expect_lines "${work}/pk.objects" <<EOF
Role/${fullname}-provider-keys@keys-a
RoleBinding/${fullname}-provider-keys@keys-a
Role/${fullname}-provider-keys@keys-b
RoleBinding/${fullname}-provider-keys@keys-b
EOF
  forbid_lines "${work}/pk.objects" <<EOF
Role/${fullname}-provider-keys@ops
RoleBinding/${fullname}-provider-keys@ops
EOF
  [[ "$(grep -c "^Role/${fullname}-provider-keys@" "${work}/pk.objects")" == 2 ]] \
    || fail "expected 2 provider-key Roles, got:"$'\n'"$(grep "provider-keys" "${work}/pk.objects")"
  rbac_of default
  if grep -q -- "-provider-keys " "${work}/rbac-default"; then
    fail "a provider-key Role is rendered by default"
  fi
}

# watchNamespace: the ClusterRole reaches Namespaces only by that name, and holds no
# namespaced rule; cluster-wide: every Namespace.
t_rbac_namespaces() {
  local name ns
  for name in watch-release-namespace:ops leader-election:team-a ha:proxy-orders; do
    ns="${name#*:}"
    name="${name%%:*}"
    rbac_of "${name}"
    expect_lines "${work}/rbac-${name}" <<EOF
ClusterRole ${fullname} -: core/namespaces get,list,watch names=${ns}
EOF
    if grep "^ClusterRole ${fullname} -: " "${work}/rbac-${name}" \
        | grep -vE ": proxy-solutions.net/proxyproviders(/status)? |: core/namespaces .* names=${ns}$"; then
      fail "${name}: the ClusterRole has more than ProxyProviders and Namespace ${ns} (above)"
    fi
  done
  rbac_of default
  expect_lines "${work}/rbac-default" <<EOF
ClusterRole ${fullname} -: core/namespaces get,list,watch names=-
EOF
}

# ---------------------------------------------------------------------------------------------
# Server-side dry-run into fresh namespaces with Pod Security "restricted" (enforce + warn):
# no errors and no warnings.

# dry_run FILE: kubectl apply --dry-run=server; fails on an error or any warning.
dry_run() {
  kubectl apply --dry-run=server -f "$1" >"${work}/dry.out" 2>"${work}/dry.err" \
    || fail "apply failed: $(cat "${work}/dry.err")"
  if grep -qi "warning" "${work}/dry.err"; then
    fail "warnings: $(cat "${work}/dry.err")"
  fi
  cat "${work}/dry.out"
}

t_dry_run_crd() {
  local f
  for f in "${crd_files[@]}"; do
    dry_run "${f}"
  done
}

# The pod settings a platform team adds, under Pod Security restricted: extra env, a CA bundle
# volume, the IDs left to the platform, a spread constraint, 2 replicas.
t_dry_run_pod_settings() {
  local ns
  ns="$(new_ns chart-pod)"
  render "${work}/dr-pod.yaml" --namespace "${ns}" --set installCrds=false --set replicaCount=2 \
    --set 'extraEnv[0].name=HTTPS_PROXY' --set 'extraEnv[0].value=http://proxy.corp:3128' \
    --set 'extraVolumes[0].name=corp-ca' --set 'extraVolumes[0].configMap.name=corp-ca' \
    --set 'extraVolumeMounts[0].name=corp-ca' --set 'extraVolumeMounts[0].mountPath=/etc/corp' \
    --set podSecurityContext.runAsUser=null --set podSecurityContext.runAsGroup=null \
    --set podSecurityContext.fsGroup=null --set securityContext.runAsUser=null --set securityContext.runAsGroup=null \
    --set 'topologySpreadConstraints[0].maxSkew=1' --set 'topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone' \
    --set 'topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway'
  dry_run "${work}/dr-pod.yaml"
}

t_dry_run_default() {
  local ns
  ns="$(new_ns chart-default)"
  render "${work}/dr-default.yaml" --namespace "${ns}" --set installCrds=false
  dry_run "${work}/dr-default.yaml"
}

t_dry_run_ha() {
  local ns watch keys
  ns="$(new_ns chart-ha)"
  watch="$(new_ns chart-ha-watch)"
  keys="$(new_ns chart-ha-keys)"
  render "${work}/dr-ha.yaml" --namespace "${ns}" --set installCrds=false \
    -f "${ha_values}" --set watchNamespace="${watch}" --set "providerKeyNamespaces={${keys}}"
  grep -q "namespace: ${keys}$" "${work}/dr-ha.yaml" || fail "no object in the provider-key namespace ${keys}"
  dry_run "${work}/dr-ha.yaml"
}

t_dry_run_deploy() {
  local ns
  # kustomize builds the same objects as the two manifests
  kubectl kustomize "${root}/deploy" >"${work}/kustomized.yaml"
  to_json "${work}/kustomized.yaml" "${work}/kustomized.json"
  cat "${root}/deploy/namespace.yaml" "${root}/deploy/proxy-order-operator.yaml" >"${work}/deploy.yaml"
  to_json "${work}/deploy.yaml" "${work}/deploy.json"
  diff <(py objects "${work}/kustomized.json") <(py objects "${work}/deploy.json") \
    || fail "kubectl kustomize deploy/ and deploy/*.yaml differ"
  grep -qx 'Namespace/proxy-order-operator@-' <(py objects "${work}/deploy.json") \
    || fail "deploy/ has no Namespace proxy-order-operator"
  # The CRDs are apart, in deploy/crds/: `kubectl delete -f deploy/` must leave them (and every
  # ProxyOrder and credentials Secret in the cluster) alone.
  if grep -q '^kind: CustomResourceDefinition' "${root}"/deploy/*.yaml; then
    fail "deploy/ holds a CRD: deleting it would delete every ProxyOrder"
  fi
  kubectl kustomize "${root}/deploy/crds" >"${work}/deploy-crds.yaml"
  to_json "${work}/deploy-crds.yaml" "${work}/deploy-crds.json"
  py objects "${work}/deploy-crds.json" >"${work}/deploy-crds.objects"
  expect_lines "${work}/deploy-crds.objects" <<EOF
CustomResourceDefinition/${crd_name}@-
CustomResourceDefinition/${provider_crd_name}@-
EOF
  local f
  for f in "${crd_files[@]}"; do
    diff -q "${f}" "${root}/deploy/crds/$(basename "${f}")" >/dev/null \
      || fail "deploy/crds/$(basename "${f}") differs from ${f}"
  done
  # deploy/namespace.yaml carries the restricted label; apply it (renamed) for real, then the rest
  grep -q 'pod-security.kubernetes.io/enforce: restricted' "${root}/deploy/namespace.yaml" \
    || fail "deploy/namespace.yaml does not enforce Pod Security restricted"
  ns="chart-deploy-$(python3 -c 'import secrets; print(secrets.token_hex(3))')"
  echo "${ns}" >>"${work}/namespaces"
  py retarget "${work}/deploy.json" "${work}/deploy-retargeted.json" proxy-order-operator "${ns}"
  kubectl create namespace "${ns}" >/dev/null
  kubectl label namespace "${ns}" "${test_label}=true" >/dev/null
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ns = [o for o in d["items"] if o["kind"] == "Namespace"]
json.dump({"apiVersion": "v1", "kind": "List", "items": ns}, open(sys.argv[2], "w"))
d["items"] = [o for o in d["items"] if o["kind"] != "Namespace"]
json.dump(d, open(sys.argv[3], "w"))
' "${work}/deploy-retargeted.json" "${work}/deploy-ns.json" "${work}/deploy-rest.json"
  kubectl apply -f "${work}/deploy-ns.json" >/dev/null
  [[ "$(kubectl get namespace "${ns}" -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}')" == restricted ]] \
    || fail "namespace ${ns} is not labelled restricted"
  dry_run "${work}/deploy-rest.json"
}

# ---------------------------------------------------------------------------------------------
# helm install / upgrade / uninstall on the control plane (no nodes: no Pods will run).

t_install() {
  local ns rel="chart-install" name="chart-install-proxy-order-operator" crd_arg=()
  ns="$(new_ns chart-install)"
  echo "${rel} ${ns}" >>"${work}/releases"
  if [[ -s "${work}/crd-preexisting" ]]; then
    crd_arg=(--set installCrds=false)
  else
    # an "older" chart whose ProxyOrder CRD differs (short name), to see the upgrade update it
    sed -i.bak 's/^    - pxo$/    - pxoold/' "${work}/old-chart/crds-source/${crd_name}.yaml"
    grep -q -- '- pxoold' "${work}/old-chart/crds-source/${crd_name}.yaml" || fail "could not prepare the old chart"
  fi
  helm install "${rel}" "${work}/old-chart" --namespace "${ns}" --wait=false "${crd_arg[@]+"${crd_arg[@]}"}" >/dev/null \
    2>"${work}/install.err" || fail "helm install failed: $(cat "${work}/install.err")"
  if [[ ! -s "${work}/crd-preexisting" ]]; then echo 1 >"${work}/crd-created"; fi
  kubectl get -n "${ns}" "deployment/${name}" "serviceaccount/${name}" "service/${name}-metrics" \
    "role/${name}-operator-namespace" "rolebinding/${name}-operator-namespace" -o name
  kubectl get "clusterrole/${name}" "clusterrolebinding/${name}" "crd/${crd_name}" "crd/${provider_crd_name}" -o name
  [[ "$(kubectl get -n "${ns}" "deployment/${name}" -o jsonpath='{.spec.template.spec.containers[0].image}')" \
     == ghcr.io/proxy-order-operator/proxy-order-operator:0.1.0 ]] || fail "unexpected image"
  if [[ ! -s "${work}/crd-preexisting" ]]; then
    kubectl wait --for condition=established --timeout=60s "crd/${crd_name}" "crd/${provider_crd_name}" >/dev/null
    [[ "$(kubectl get "crd/${crd_name}" -o jsonpath='{.spec.names.shortNames[0]}')" == pxoold ]] \
      || fail "the ProxyOrder CRD was not installed by the release"
    [[ "$(kubectl get "crd/${provider_crd_name}" -o jsonpath='{.metadata.annotations.meta\.helm\.sh/release-name}')" == "${rel}" ]] \
      || fail "the ProxyProvider CRD was not installed by the release"
    [[ "$(kubectl get "crd/${provider_crd_name}" -o jsonpath='{.spec.scope}')" == Cluster ]] \
      || fail "the ProxyProvider CRD is not cluster-scoped"
  fi
}

t_upgrade() {
  local ns rel="chart-install" name="chart-install-proxy-order-operator" crd_arg=()
  ns="$(awk '$1 == "chart-install" {print $2}' "${work}/releases")"
  [[ -n "${ns}" ]] || fail "no release from the install check"
  [[ -s "${work}/crd-preexisting" ]] && crd_arg=(--set installCrds=false)
  helm upgrade "${rel}" "${chart}" --namespace "${ns}" --wait=false --set replicaCount=2 \
    "${crd_arg[@]+"${crd_arg[@]}"}" >/dev/null 2>"${work}/upgrade.err" \
    || fail "helm upgrade failed: $(cat "${work}/upgrade.err")"
  kubectl get -n "${ns}" "role/${name}-leader-election" "rolebinding/${name}-leader-election" -o name
  [[ "$(kubectl get -n "${ns}" "deployment/${name}" -o jsonpath='{.spec.replicas}')" == 2 ]] || fail "replicas not 2"
  # Leader election turned on: the running operator does not take the Lease, so the rollout
  # must end it before a new one starts (Recreate); once every operator takes the Lease, a
  # rolling update is safe; turned off again, Recreate again.
  strategy() { kubectl get -n "${ns}" "deployment/${name}" -o jsonpath='{.spec.strategy.type}'; }
  [[ "$(strategy)" == Recreate ]] || fail "leader election turned on with a $(strategy) rollout"
  helm upgrade "${rel}" "${chart}" --namespace "${ns}" --wait=false --reuse-values --set logLevel=debug \
    >/dev/null 2>"${work}/upgrade.err" || fail "helm upgrade failed: $(cat "${work}/upgrade.err")"
  [[ "$(strategy)" == RollingUpdate ]] || fail "leader election on before and after, but a $(strategy) rollout"
  helm upgrade "${rel}" "${chart}" --namespace "${ns}" --wait=false --reuse-values --set replicaCount=1 \
    >/dev/null 2>"${work}/upgrade.err" || fail "helm upgrade failed: $(cat "${work}/upgrade.err")"
  [[ "$(strategy)" == Recreate ]] || fail "leader election turned off with a $(strategy) rollout"
  helm upgrade "${rel}" "${chart}" --namespace "${ns}" --wait=false --reuse-values --set replicaCount=2 \
    >/dev/null 2>"${work}/upgrade.err" || fail "helm upgrade failed: $(cat "${work}/upgrade.err")"
  if [[ ! -s "${work}/crd-preexisting" ]]; then
    [[ "$(kubectl get "crd/${crd_name}" -o jsonpath='{.spec.names.shortNames[0]}')" == pxo ]] \
      || fail "helm upgrade did not update the CRD"
  fi
}

# The pre-delete hook that stops the operator before helm uninstall: a Job from the operator's
# image running `quiesce RELEASE-NAMESPACE DEPLOYMENT`, only with leader election and unless
# leaderElection.stopBeforeUninstall=false.
t_uninstall_hook() {
  local jobs
  hook_jobs() { # helm template args...: "NAME HOOK ARGS... IMAGE" per Job
    render "${work}/hook.yaml" --namespace ops "$@"
    to_json "${work}/hook.yaml" "${work}/hook.json"
    py hook-job "${work}/hook.json"
  }
  jobs="$(hook_jobs --set leaderElection.enabled=true)"
  [[ "${jobs}" == "${fullname}-uninstall pre-delete quiesce ops ${fullname} 120 "* ]] \
    || fail "with leader election: expected the pre-delete quiesce Job, got: ${jobs:-nothing}"
  [[ "${jobs}" == *" $(py deployment "${work}/hook.json" | sed -n 's/^image=//p')" ]] \
    || fail "the hook Job does not run the operator's image: ${jobs}"
  jobs="$(hook_jobs)"
  [[ -z "${jobs}" ]] || fail "without leader election: a hook Job: ${jobs}"
  jobs="$(hook_jobs --set replicaCount=2 --set leaderElection.stopBeforeUninstall=false)"
  [[ -z "${jobs}" ]] || fail "stopBeforeUninstall=false: a hook Job: ${jobs}"
  grep -q 'kind: Job' "${root}/deploy/proxy-order-operator.yaml" \
    && fail "deploy/ (kubectl apply, no Helm hooks) holds a Job"
  return 0
}

# This tier has no nodes, so no hook Job can run: the release is uninstalled with --no-hooks
# after checking that Helm recorded the hook (the kind tier runs it: tests/kind/run.sh).
# A namespace's users, impersonated, with the built-in roles bound in their namespace only:
# edit creates and deletes ProxyOrders there, view reads them; neither writes a status, reads
# ProxyProviders or touches the operator's namespace (claims, API keys).
t_user_roles() {
  local ns tenant i verb user
  ns="$(awk '$1 == "chart-install" {print $2}' "${work}/releases")"
  [[ -n "${ns}" ]] || fail "no release from the install check"
  tenant="$(new_ns chart-tenant)"
  kubectl -n "${tenant}" create rolebinding alice-edit --clusterrole=edit --user=alice >/dev/null
  kubectl -n "${tenant}" create rolebinding bob-view --clusterrole=view --user=bob >/dev/null
  can() { # USER VERB RESOURCE [NAMESPACE [SUBRESOURCE]]: yes or no
    kubectl auth can-i "$2" "$3" --as "$1" -n "${4:-${tenant}}" ${5:+--subresource="$5"} 2>/dev/null || true
  }
  # the aggregation controller fills the built-in roles within moments
  for ((i = 0; i < 60; i++)); do
    [[ "$(can alice create proxyorders.proxy-solutions.net)" == yes && "$(can bob list proxyorders.proxy-solutions.net)" == yes ]] && break
    sleep 0.5
  done
  for verb in create update patch delete get list watch; do
    [[ "$(can alice "${verb}" proxyorders.proxy-solutions.net)" == yes ]] || fail "edit cannot ${verb} ProxyOrders"
  done
  for verb in get list watch; do
    [[ "$(can bob "${verb}" proxyorders.proxy-solutions.net)" == yes ]] || fail "view cannot ${verb} ProxyOrders"
  done
  [[ "$(can bob create proxyorders.proxy-solutions.net)" == no ]] || fail "view can create ProxyOrders"
  for user in alice bob; do
    [[ "$(can "${user}" update proxyorders.proxy-solutions.net "${tenant}" status)" == no ]] || fail "${user} can write a ProxyOrder's status"
    [[ "$(can "${user}" patch proxyorders.proxy-solutions.net "${tenant}" status)" == no ]] || fail "${user} can patch a ProxyOrder's status"
    [[ "$(can "${user}" get proxyproviders.proxy-solutions.net)" == no ]] || fail "${user} can read ProxyProviders"
    [[ "$(can "${user}" get leases.coordination.k8s.io "${ns}")" == no ]] || fail "${user} can read the order claims"
    [[ "$(can "${user}" get secrets "${ns}")" == no ]] || fail "${user} can read the operator namespace's Secrets"
    [[ "$(can "${user}" list proxyorders.proxy-solutions.net default)" == no ]] || fail "${user} reaches another namespace's ProxyOrders"
  done
  # and for real: alice creates and deletes one, bob reads it and cannot delete it
  kubectl --as alice -n "${tenant}" apply -f - >/dev/null <<EOF || fail "edit could not create a ProxyOrder"
apiVersion: proxy-solutions.net/v1alpha1
kind: ProxyOrder
metadata:
  name: mine
spec:
  orderId: 10001
  providerRef: {name: shared}
EOF
  kubectl --as bob -n "${tenant}" get proxyorder mine -o name >/dev/null || fail "view could not read the ProxyOrder"
  if kubectl --as bob -n "${tenant}" delete proxyorder mine >/dev/null 2>&1; then fail "view deleted a ProxyOrder"; fi
  kubectl --as alice -n "${tenant}" delete proxyorder mine --wait=false >/dev/null || fail "edit could not delete its ProxyOrder"
}

# Chart.yaml's metadata for catalogues: the examples of the CRDs it shows (artifacthub.io) are
# accepted by the installed CRDs (server dry run), and its CRD list names both of them.
t_chart_metadata() {
  local copy="${work}/meta-chart"
  rm -rf "${copy}" && cp -R "${chart}" "${copy}"
  printf '%s\n' 'apiVersion: v1' 'kind: List' 'items:' \
    '{{- index .Chart.Annotations "artifacthub.io/crdsExamples" | nindent 2 }}' >"${copy}/templates/zz-examples.yaml"
  printf '%s\n' 'kind: Listing' 'crds: |' '{{- index .Chart.Annotations "artifacthub.io/crds" | nindent 2 }}' >"${copy}/templates/zz-crds.txt"
  helm template meta "${copy}" --show-only templates/zz-examples.yaml >"${work}/examples.yaml"
  helm template meta "${copy}" --show-only templates/zz-crds.txt >"${work}/crds.txt"
  kubectl apply --dry-run=server -n default -f "${work}/examples.yaml" >"${work}/examples.out" 2>&1 \
    || fail "the Chart.yaml CRD examples are refused: $(cat "${work}/examples.out")"
  grep -q 'proxyorder.proxy-solutions.net/example created (server dry run)' "${work}/examples.out" \
    && grep -q 'proxyprovider.proxy-solutions.net/shared created (server dry run)' "${work}/examples.out" \
    || fail "not both examples: $(cat "${work}/examples.out")"
  for crd in "${crd_name}" "${provider_crd_name}"; do
    grep -q "  name: ${crd}$" "${work}/crds.txt" || fail "artifacthub.io/crds does not name ${crd}: $(cat "${work}/crds.txt")"
  done
  grep -qx 'home: https://github.com/proxy-order-operator/proxy-order-operator' "${chart}/Chart.yaml" \
    || fail "Chart.yaml home is not the project"
  [[ -n "$(helm show readme "${chart}")" ]] || fail "helm show readme prints nothing"
}

# The alerts (prometheusRule.enabled): promtool checks the rules the PrometheusRule carries and
# runs their unit tests (tests/prometheus/alerts_test.yaml: each alert fires when it should and a
# healthy operator, or another release's, fires none); the dashboard ConfigMap holds valid JSON
# whose every panel queries something. (That every metric they name is exported is a unit test
# of src/metrics.rs.)
t_alerts_and_dashboard() {
  local dir="${work}/alerts" copy="${work}/alerts-chart" promtool
  promtool="${PROMTOOL:-$(built_tool promtool)}" || fail "could not build promtool"
  rm -rf "${dir}" "${copy}" && mkdir -p "${dir}" && cp -R "${chart}" "${copy}"
  printf '%s\n' '{{ include "proxy-order-operator.alertRules" . }}' >"${copy}/templates/zz-rules.yaml"
  helm template t "${copy}" --namespace ops --set prometheusRule.enabled=true \
    --show-only templates/zz-rules.yaml >"${dir}/rules.yaml"
  cp "${root}/tests/prometheus/alerts_test.yaml" "${dir}/"
  "${promtool}" check rules "${dir}/rules.yaml" || fail "promtool check rules (above)"
  "${promtool}" test rules "${dir}/alerts_test.yaml" || fail "promtool test rules (above)"
  # The PrometheusRule carries exactly those rules.
  render "${work}/pr.yaml" --namespace ops --set prometheusRule.enabled=true --set prometheusRule.labels.release=kps
  grep -q '^kind: PrometheusRule$' "${work}/pr.yaml" || fail "no PrometheusRule"
  [[ "$(grep -c '^ *- alert: ' "${work}/pr.yaml")" == "$(grep -c '^ *- alert: ' "${dir}/rules.yaml")" ]] \
    || fail "the PrometheusRule does not carry the rules promtool checked"
  grep -q '^    release: kps$' "${work}/pr.yaml" || fail "prometheusRule.labels not on the PrometheusRule"
  render "${work}/nopr.yaml" --namespace ops
  grep -q 'PrometheusRule\|grafana_dashboard' "${work}/nopr.yaml" && fail "a PrometheusRule or dashboard by default"
  # The dashboard ConfigMap.
  render "${work}/dash.yaml" --namespace ops --set grafanaDashboard.enabled=true
  to_json "${work}/dash.yaml" "${work}/dash.json"
  py dashboard "${work}/dash.json" || fail "the dashboard ConfigMap (above)"
}

# A second release (a selector shard) beside the one that installed the CRDs: with the default
# installCrds it is refused naming the CRDs' release and the value to set, not with Helm's
# ownership error; with installCrds=false it installs.
t_second_release() {
  local ns ns2
  ns="$(awk '$1 == "chart-install" {print $2}' "${work}/releases")"
  [[ -n "${ns}" ]] || fail "no release from the install check"
  ns2="$(new_ns chart-shard)"
  if helm install shard-b "${chart}" --namespace "${ns2}" --set selector=shard=b --dry-run=server \
    >/dev/null 2>"${work}/shard.err"; then
    fail "a second release installing the CRDs again was accepted"
  fi
  grep -q "belongs to the release chart-install in namespace ${ns}: install this release (e.g. a selector shard) with --set installCrds=false" "${work}/shard.err" \
    || fail "unexpected error: $(cat "${work}/shard.err")"
  helm install shard-b "${chart}" --namespace "${ns2}" --set selector=shard=b --set installCrds=false --wait=false \
    >/dev/null 2>"${work}/shard.err" || fail "the shard with installCrds=false: $(cat "${work}/shard.err")"
  [[ "$(kubectl -n "${ns2}" get deploy shard-b-proxy-order-operator -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="PROXY_ORDER_SELECTOR")].value}')" == shard=b ]] \
    || fail "the shard's Deployment has no selector"
  helm uninstall shard-b --namespace "${ns2}" --no-hooks >/dev/null
}

# CRDs applied from crds/ (GitOps: no Helm annotations) are named as such, with the value to set.
t_gitops_crds() {
  local ns
  ns="$(new_ns chart-gitops)"
  kubectl annotate crd "${crd_name}" "${provider_crd_name}" meta.helm.sh/release-name- meta.helm.sh/release-namespace- >/dev/null
  if helm install gitops "${chart}" --namespace "${ns}" --dry-run=server >/dev/null 2>"${work}/gitops.err"; then
    fail "installing the CRDs over GitOps-applied ones was accepted"
  fi
  grep -q "exists and no Helm release manages it (applied from crds/, e.g. by GitOps): install with --set installCrds=false" "${work}/gitops.err" \
    || fail "unexpected error: $(cat "${work}/gitops.err")"
  helm install gitops "${chart}" --namespace "${ns}" --set installCrds=false --dry-run=server >/dev/null 2>"${work}/gitops.err" \
    || fail "installCrds=false over GitOps-applied CRDs: $(cat "${work}/gitops.err")"
}

t_uninstall() {
  local ns rel="chart-install" name="chart-install-proxy-order-operator"
  ns="$(awk '$1 == "chart-install" {print $2}' "${work}/releases")"
  [[ -n "${ns}" ]] || fail "no release from the install check"
  if [[ "$(helm get values "${rel}" --namespace "${ns}" --all -o json | python3 -c '
import json, sys
v = json.load(sys.stdin)
print("yes" if v["leaderElection"]["enabled"] or v["replicaCount"] > 1 else "no")')" == yes ]]; then
    # Into a file first: grep -q stopping early would fail a pipe under pipefail.
    helm get hooks "${rel}" --namespace "${ns}" >"${work}/hooks.yaml"
    grep -q "name: ${name}-uninstall" "${work}/hooks.yaml" \
      || fail "the release has leader election but no uninstall hook: $(cat "${work}/hooks.yaml")"
  fi
  helm uninstall "${rel}" --namespace "${ns}" --no-hooks >/dev/null
  if kubectl get "clusterrole/${name}" -o name 2>/dev/null; then fail "ClusterRole still there after uninstall"; fi
  if kubectl get -n "${ns}" "deployment/${name}" -o name 2>/dev/null; then fail "Deployment still there after uninstall"; fi
  kubectl get "crd/${crd_name}" "crd/${provider_crd_name}" -o name || fail "a CRD was deleted by helm uninstall"
}

t_chart_check() {
  command -v make >/dev/null 2>&1 || fail "make not found"
  make --no-print-directory -C "${root}" -f mk/chart.mk chart-check HELM="$(command -v helm)"
}

# ---------------------------------------------------------------------------------------------

echo "# chart tests against $(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null)"
echo "# helm $(helm version --short 2>/dev/null), kubectl $(kubectl version --client -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])' 2>/dev/null)"
if kubectl get crd "${crd_names[@]}" -o name 2>/dev/null | grep -q .; then
  echo 1 >"${work}/crd-preexisting"
else
  : >"${work}/crd-preexisting"
fi
cp -R "${chart}" "${work}/old-chart"   # t_install changes its CRD, to see helm upgrade update it

check "Chart.yaml appVersion is the crate version" t_app_version
check "Chart.yaml kubeVersion: the floor of make test-floor, 1.30 refused" t_kube_version
check "helm lint --strict (default values): nothing to say, the icon a file of this repository" t_lint_default
check "helm lint --strict (ci/ha-values.yaml)" t_lint_ha
check "helm template (default values): objects, Deployment settings, test hook" t_template_default
check "helm template (ci/ha-values.yaml): objects, args, env" t_template_ha
check "helm template: replicaCount, image, auth, allowApiKeySecretRef, ServiceMonitor, installCrds, PDB, credentials probe options" t_template_options
check "extraEnv, extraVolumes, security contexts (OpenShift: IDs unset), anti-affinity, topology spread; hook and test Pod alike" t_pod_settings
check "NetworkPolicy with verifyCredentials: proxyEgressPorts required, then an egress rule" t_networkpolicy_probes
check "alerts: promtool check rules and test rules on the PrometheusRule's rules; the Grafana dashboard ConfigMap" t_alerts_and_dashboard
check "kube-score (default and ha renderings): passes, each skipped check justified and needed" t_kube_score
check "settings the operator refuses at start are refused at install, with its reason (lease vs timeout, logLevel, selector, priorityClassName)" t_refused_settings
check "no env var named like a secret has a literal value (kube-linter env-var-secret), in 3 value sets" t_no_secret_env
check "the helm test and uninstall hook Pods match no selector of the operator's Pods" t_selectors_own_pods
check "the rendered CRDs are crds/ (both) with helm.sh/resource-policy: keep" t_crd_rendered
check "values.schema.json rejects a wrong type (replicaCount: two)" t_schema_type
check "values.schema.json rejects an unknown key (bogus)" t_schema_unknown
check "values.schema.json rejects an unknown nested key (provider.bogus)" t_schema_nested_unknown
check "values.schema.json rejects a wrong nested type (metrics.serviceMonitor.enabled)" t_schema_nested_type
check "values.schema.json rejects an unknown enum value (provider.ipAuthClear)" t_schema_enum
check "values.schema.json checks allowApiKeySecretRef and providerKeyNamespaces" t_schema_tenancy
check "values.schema.json checks rollout.enabled" t_schema_rollout
check "no '*' in any rendered Role/ClusterRole (${#rbac_combos[@]} value combinations)" t_no_wildcards
check "RBAC is exactly what the operator uses (${#rbac_combos[@]} value combinations)" t_rbac_exact
check "the Role in the release namespace grants the order-claim Lease verbs (every combination)" t_rbac_claims
check "providerKeyNamespaces renders a read-only Secrets Role per namespace" t_rbac_provider_keys
check "watchNamespace: the ClusterRole reaches Namespaces only by that name" t_rbac_namespaces
check "rollout.enabled: --rollout-targets and the apps rules, only then" t_rollout
check "uninstall hook: a quiesce Job from the operator's image, with leader election only" t_uninstall_hook
check "server dry-run: both CRDs apply without warnings" t_dry_run_crd
check "server dry-run: chart (default values) in a restricted namespace, no warnings" t_dry_run_default
check "server dry-run: chart (ci/ha-values.yaml) in restricted namespaces, no warnings" t_dry_run_ha
check "server dry-run: extraEnv, extraVolumes, IDs unset, a spread constraint, in a restricted namespace, no warnings" t_dry_run_pod_settings
check "server dry-run: deploy/ (kustomize = -f; namespace.yaml restricted), no warnings" t_dry_run_deploy
check "helm install: Deployment, ServiceAccount, Service, RBAC, both CRDs created" t_install
check "helm upgrade: replicaCount 2 adds the leader-election Role; Recreate whenever leader election is turned on or off, RollingUpdate only between elected operators; the CRD is updated" t_upgrade
check "Chart.yaml metadata: the Artifact Hub CRD examples pass the CRDs (server dry run), both CRDs listed, home, helm show readme" t_chart_metadata
check "view and edit users of a namespace (impersonated; admin aggregates what edit has): ProxyOrders there, never their status, ProxyProviders or the operator's namespace" t_user_roles
if [[ -s "${work}/crd-preexisting" ]]; then
  skip "a second release: installCrds=true refused naming the CRDs' release, installCrds=false installs" "a CRD existed before"
else
  check "a second release (a selector shard): installCrds=true refused naming the CRDs' release, installCrds=false installs" t_second_release
fi
check "helm uninstall: objects deleted, both CRDs kept (hooks recorded, not run: no nodes)" t_uninstall
if [[ -s "${work}/crd-preexisting" ]]; then
  skip "helm install/upgrade manage the CRDs" "a CRD existed before (not created by this release): installed with installCrds=false"
  skip "GitOps-applied CRDs: installCrds=true refused saying so, installCrds=false installs" "a CRD existed before"
else
  check "GitOps-applied CRDs: installCrds=true refused saying so, installCrds=false installs" t_gitops_crds
fi
check "chart-check: crds-source/, deploy/ and the chart README are up to date" t_chart_check

echo "${passed} passed, ${failed} failed"
(( failed == 0 ))
