#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build the test control plane binaries from Go modules, at the versions pinned
# in tests/controlplane/versions.env, into
#   ${PROXY_ORDER_CACHE:-$HOME/.cache/proxy-order-operator}/k8s-${KUBE_VERSION}/
# (etcd, kube-apiserver, kube-controller-manager, kubectl, helm).
# A binary that is already there (built from the same pinned versions) is
# skipped, so a second run takes about a second.
# Usage: tests/controlplane/build.sh [NAME...]   (default: all five; e.g. `build.sh helm`)
#
# The kind tier (tests/kind/) asks by name for what a kind node needs on top of
# the five, from the same modules into the same folder: kubelet, kubeadm,
# kube-scheduler, kube-proxy (k8s.io/kubernetes), coredns (tests/controlplane/coredns,
# only the plugins a cluster-local DNS needs) and pause (build/pause/linux/pause.c
# of the k8s.io/kubernetes module, linked statically with the machine's gcc).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${here}/versions.env"

say() { echo "build.sh: $*"; }
die() { echo "build.sh: error: $*" >&2; exit 1; }

# CP_FLOOR=1: the oldest supported Kubernetes (KUBE_FLOOR_VERSION, module kube-floor/): its
# kube-apiserver is built into a folder of its own, beside links to the etcd, kubectl and helm
# of the pinned version (built first when missing).
kube_mod=kube
if [[ "${CP_FLOOR:-0}" == 1 ]]; then
  main_bindir="${PROXY_ORDER_CACHE:-${HOME}/.cache/proxy-order-operator}/k8s-${KUBE_VERSION}"
  CP_FLOOR=0 "${BASH_SOURCE[0]}" etcd kubectl helm || exit
  KUBE_VERSION="${KUBE_FLOOR_VERSION}"
  kube_mod=kube-floor
fi

[[ "${KUBE_VERSION}" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "KUBE_VERSION=${KUBE_VERSION} is not of the form v1.Y.Z"
kube_minor="${BASH_REMATCH[1]}"

cache="${PROXY_ORDER_CACHE:-${HOME}/.cache/proxy-order-operator}"
bindir="${cache}/k8s-${KUBE_VERSION}"
logdir="${bindir}/logs"
mkdir -p "${logdir}" || die "cannot create ${logdir}"

# Only one build at a time per cache dir (parallel make targets, two shells).
if command -v flock >/dev/null 2>&1; then
  exec 9>"${bindir}/.build.lock"
  if ! flock -n 9; then
    say "another build.sh is running for ${bindir}; waiting for it"
    flock 9
  fi
fi

# -mod=mod: go.sum is committed complete, but let go fill it rather than fail
# if a fresh toolchain wants an extra hash. -buildvcs=false: the modules live
# inside the project's git checkout, which must not be stamped into binaries.
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

# stamp NAME: what a binary was built from; a changed stamp forces a rebuild.
stamp() {
  case "$1" in
    etcd) echo "etcd ${ETCD_VERSION} $(cksum <"${here}/etcd/go.mod")" ;;
    helm) echo "helm ${HELM_VERSION}" ;;
    promtool) echo "promtool ${PROMETHEUS_VERSION}" ;;
    kube-score) echo "kube-score ${KUBE_SCORE_VERSION}" ;;
    krew | validate-krew-manifest) echo "$1 ${KREW_VERSION}" ;;
    coredns) echo "coredns ${COREDNS_VERSION} $(cat "${here}/coredns/go.mod" "${here}/coredns/main.go" | cksum)" ;;
    pause) echo "pause ${PAUSE_VERSION} ${KUBE_VERSION} $(gcc --version 2>/dev/null | head -n1)" ;;
    *) echo "$1 ${KUBE_VERSION} $(cksum <"${here}/${kube_mod}/go.mod")" ;;
  esac
}

# up_to_date NAME: the binary exists and was built from the pinned versions.
up_to_date() {
  [[ -x "${bindir}/$1" && -f "${bindir}/$1.stamp" && "$(cat "${bindir}/$1.stamp")" == "$(stamp "$1")" ]]
}

build_pid=""
cleanup() {
  if [[ -n "${build_pid}" ]] && kill -0 "${build_pid}" 2>/dev/null; then
    kill "${build_pid}" 2>/dev/null || true
    wait "${build_pid}" 2>/dev/null || true
  fi
  rm -rf "${bindir}"/.tmp-* 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# build NAME DESCRIPTION CMD...: runs CMD (which must write ${bindir}/.tmp-NAME/NAME)
# in the background with its output in ${logdir}/build-NAME.log, printing a
# progress line every minute, then moves the binary into place.
build() {
  local name="$1" what="$2"
  shift 2
  local out="${bindir}/${name}" log="${logdir}/build-${name}.log"
  if up_to_date "${name}"; then
    fresh+=("${name}")
    return 0
  fi
  if [[ -z "${said_go:-}" ]]; then say "$(go version); output: ${bindir}"; said_go=1; fi
  say "building ${name} (${what}) ... log: ${log}"
  local start=${SECONDS} status=0 next=60
  rm -rf "${bindir}/.tmp-${name}"
  mkdir -p "${bindir}/.tmp-${name}"
  {
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(go version)"
    echo "# $*"
  } >"${log}"
  "$@" >>"${log}" 2>&1 &
  build_pid=$!
  while kill -0 "${build_pid}" 2>/dev/null; do
    sleep 2
    if (( SECONDS - start >= next )); then
      say "  still building ${name} ($((SECONDS - start))s so far)"
      next=$((next + 60))
    fi
  done
  wait "${build_pid}" || status=$?
  build_pid=""
  if (( status != 0 )) || [[ ! -x "${bindir}/.tmp-${name}/${name}" ]]; then
    tail -n 15 "${log}" | sed 's/^/    /' >&2
    die "building ${name} failed (exit ${status}) after $((SECONDS - start))s; full log: ${log}"
  fi
  mv -f "${bindir}/.tmp-${name}/${name}" "${out}"
  rmdir "${bindir}/.tmp-${name}"
  stamp "${name}" >"${out}.stamp"
  say "built ${name} in $((SECONDS - start))s"
}

# The modules must match versions.env (gen-kube-mod.sh regenerates both).
grep -q "^require k8s.io/kubernetes ${KUBE_VERSION}\$" "${here}/${kube_mod}/go.mod" \
  || die "${kube_mod}/go.mod does not require k8s.io/kubernetes ${KUBE_VERSION} (versions.env); run$([[ ${kube_mod} == kube ]] || echo " CP_FLOOR=1") tests/controlplane/gen-kube-mod.sh"
grep -q "go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\$" "${here}/etcd/go.mod" \
  || die "etcd/go.mod does not require go.etcd.io/etcd/server/v3 ${ETCD_VERSION} (versions.env); run tests/controlplane/gen-kube-mod.sh"

all=(etcd helm kubectl kube-apiserver kube-controller-manager)
# What a kind node needs besides (tests/kind/): built only when named.
node=(kubelet kubeadm kube-scheduler kube-proxy coredns pause)
# Built only when named too: promtool, for the chart's alert rules, and kube-score, for its
# rendered objects (make test-chart); krew and validate-krew-manifest, for the kubectl plugin's
# krew manifest and archives (tests/plugin-dist.sh).
node+=(promtool kube-score krew validate-krew-manifest)
if [[ "${kube_mod}" == kube-floor ]]; then
  for name in etcd kubectl helm; do
    ln -sfn "${main_bindir}/${name}" "${bindir}/${name}"
  done
  all=(kube-apiserver)
  node=()
fi
if (( $# )); then
  for name in "$@"; do
    [[ " ${all[*]} ${node[*]} " == *" ${name} "* ]] || die "unknown binary '${name}'; choose from: ${all[*]} ${node[*]}"
  done
  all=("$@")
fi
# wanted NAME: NAME is one of the binaries asked for.
wanted() { [[ " ${all[*]} " == *" $1 "* ]]; }
missing=()
for name in "${all[@]}"; do up_to_date "${name}" || missing+=("${name}"); done
if (( ${#missing[@]} == 0 )); then
  say "all binaries up to date in ${bindir}: ${all[*]}"
  exit 0
fi
command -v go >/dev/null 2>&1 \
  || die "'go' not found on PATH, needed to build ${missing[*]}; install Go >= 1.26 from https://go.dev/dl/ (or add /usr/local/go/bin to PATH)"

total_start=${SECONDS}
fresh=()

# etcd: tests/controlplane/etcd is a three-line main around etcdmain.Main.
if wanted etcd; then
  build etcd "go.etcd.io/etcd/server/v3 ${ETCD_VERSION}" \
    go build -C "${here}/etcd" -p 2 -trimpath -ldflags "-s -w" \
    -o "${bindir}/.tmp-etcd/etcd" .
fi

# helm: go install at the pinned release, with the ldflags of helm's Makefile
# (version, and the Kubernetes version that `helm template` assumes).
helm_ldflags() {
  local gomod cg major minor
  gomod="$(cd "${bindir}" && GOFLAGS=-buildvcs=false go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  cg="$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "${gomod}" 2>/dev/null | head -n1)"
  major=1 minor="${cg:-${kube_minor}}"
  printf '%s' "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
    " -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    " -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${major} -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${minor}" \
    " -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${major} -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${minor}"
}
if ! wanted helm; then
  :
elif ! up_to_date helm; then
  # go install pkg@version ignores the current module and refuses -mod.
  build helm "helm.sh/helm/v3 ${HELM_VERSION}" \
    env GOFLAGS=-buildvcs=false GOBIN="${bindir}/.tmp-helm" \
    go install -p 2 -trimpath -ldflags "$(helm_ldflags)" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
else
  fresh+=(helm)
fi

# Kubernetes: version ldflags as in kubernetes' hack/lib/version.sh, so that
# `kubectl version` reports the real version. The build date is the release
# tag's date from the module proxy, which keeps the binaries reproducible.
kube_ldflags() {
  local date="" flags="-s -w" pkg
  date="$(go list -C "${here}/${kube_mod}" -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes 2>/dev/null || true)"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${kube_minor}"
    flags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.gitCommit="
    if [[ -n "${date}" ]]; then flags+=" -X ${pkg}.buildDate=${date}"; fi
  done
  echo "${flags}"
}
ldflags=""
for name in kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubeadm kubelet; do
  wanted "${name}" || continue
  if [[ -z "${ldflags}" ]] && ! up_to_date "${name}"; then ldflags="$(kube_ldflags)"; fi
  build "${name}" "k8s.io/kubernetes/cmd/${name} ${KUBE_VERSION}" \
    go build -C "${here}/${kube_mod}" -p 2 -trimpath -ldflags "${ldflags}" \
    -o "${bindir}/.tmp-${name}/${name}" "k8s.io/kubernetes/cmd/${name}"
done

# promtool: go install at the pinned Prometheus module version (its go.mod has no replace).
if wanted promtool; then
  build promtool "github.com/prometheus/prometheus/cmd/promtool ${PROMETHEUS_VERSION}" \
    env GOFLAGS=-buildvcs=false GOBIN="${bindir}/.tmp-promtool" \
    go install -p 2 -trimpath -ldflags "-s -w" "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_VERSION}"
fi

# kube-score: go install at the pinned module version (its go.mod has no replace).
if wanted kube-score; then
  build kube-score "github.com/zegl/kube-score/cmd/kube-score ${KUBE_SCORE_VERSION}" \
    env GOFLAGS=-buildvcs=false GOBIN="${bindir}/.tmp-kube-score" \
    go install -p 2 -trimpath -ldflags "-s -w" "github.com/zegl/kube-score/cmd/kube-score@${KUBE_SCORE_VERSION}"
fi

# krew and its manifest validator: go install at the pinned module version.
for tool in krew validate-krew-manifest; do
  if wanted "${tool}"; then
    build "${tool}" "sigs.k8s.io/krew/cmd/${tool} ${KREW_VERSION}" \
      env GOFLAGS=-buildvcs=false GOBIN="${bindir}/.tmp-${tool}" \
      go install -p 2 -trimpath -ldflags "-s -w" "sigs.k8s.io/krew/cmd/${tool}@${KREW_VERSION}"
  fi
done

# coredns: tests/controlplane/coredns is CoreDNS's main with only the plugins a
# cluster-local DNS uses (kubernetes, cache, health, ready, ...): no forward (a
# Corefile that forwards outside the cluster does not even load) and none of the
# cloud DNS plugins, whose SDKs would double the build time.
if wanted coredns; then
  build coredns "github.com/coredns/coredns ${COREDNS_VERSION}, cluster-local plugins" \
    go build -C "${here}/coredns" -p 2 -trimpath \
    -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=${COREDNS_VERSION}" \
    -o "${bindir}/.tmp-coredns/coredns" .
fi

# pause: the C program of the pause image, from the k8s.io/kubernetes module
# (build/pause/linux/pause.c), linked statically as its Makefile does.
build_pause() {
  local dir
  dir="$(go list -C "${here}/kube" -m -f '{{.Dir}}' k8s.io/kubernetes)" || return 1
  [[ -n "${dir}" && -f "${dir}/build/pause/linux/pause.c" ]] || { go mod download -C "${here}/kube" k8s.io/kubernetes; dir="$(go list -C "${here}/kube" -m -f '{{.Dir}}' k8s.io/kubernetes)"; }
  command -v gcc >/dev/null 2>&1 || { echo "gcc not found: install it (apt-get install gcc libc6-dev)"; return 1; }
  gcc -Os -Wall -Werror -static -DVERSION="v${PAUSE_VERSION}" \
    -o "${bindir}/.tmp-pause/pause" "${dir}/build/pause/linux/pause.c"
  strip "${bindir}/.tmp-pause/pause"
}
if wanted pause; then
  build pause "build/pause/linux/pause.c of k8s.io/kubernetes ${KUBE_VERSION}" build_pause
fi

if (( ${#fresh[@]} )); then say "already built: ${fresh[*]}"; fi
say "ready in ${bindir} ($((SECONDS - total_start))s): ${all[*]}"
