#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The kind cluster of the kind tier: one node, on a docker network with no route out.
#
#   tests/kind/cluster.sh create NODE_IMAGE   create it, check that nothing can leave the machine
#                                             and that the node cannot change the machine's kernel
#                                             settings (before any pod starts), then install the pod
#                                             network and wait for the node and CoreDNS
#   tests/kind/cluster.sh delete              delete it and its network
#
# Writes ${KIND_WORK}/kubeconfig (the host's view of the API server).
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
kind_engine_env

say() { echo "cluster: $*" >&2; }
die() { echo "cluster: error: $*" >&2; exit 1; }

kubeconfig="${KIND_WORK}/kubeconfig"
node="${KIND_CLUSTER_NAME}-control-plane"
kubectl="${KIND_K8S_BIN}/kubectl"
command -v "${kubectl}" >/dev/null 2>&1 || kubectl=kubectl
k() { "${kubectl}" --kubeconfig "${kubeconfig}" "$@"; }

# kind, with the docker shim first on its PATH (tests/kind/docker-shim/docker).
kind_cmd() {
  local privileged=replace
  if kind_public; then privileged=keep; fi
  PATH="${KIND_DIR}/docker-shim:${PATH}" KIND_EXPERIMENTAL_DOCKER_NETWORK="${KIND_NETWORK}" \
    KIND_SHIM_PRIVILEGED="${privileged}" KIND_SHIM_NODE_IP="${node_ip:-}" \
    KIND_SHIM_GATEWAY="${gateway:-}" "${KIND_BIN}" "$@"
}

# CoreDNS answers only for the cluster's own names (cluster.local and the reverse zones of
# Service and Pod addresses); any other name is REFUSED: there is no `forward`, so no query ever
# goes to a resolver outside the cluster. Otherwise kubeadm's Corefile (health, ready, kubernetes,
# prometheus, cache, loop, reload, loadbalance).
COREFILE='cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       ttl 30
    }
    prometheus :9153
    cache 30
    loop
    reload
    loadbalance
}'

create() {
  local image="$1"
  [[ -x "${KIND_BIN}" ]] || die "kind is not installed (${KIND_BIN}); run tests/kind/run.sh"
  mkdir -p "${KIND_WORK}"
  if kind_cmd get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER_NAME}"; then
    say "deleting the cluster ${KIND_CLUSTER_NAME} left by an earlier run"
    delete
  fi

  # The node's network: --internal, so Docker gives the node no default route and no port
  # publishing to the outside. (With the engine started by engine.sh there is no NAT either, and
  # the machine does not forward packets.)
  # Docker picks a free subnet; the network is made again with it given, so that the node can
  # have a fixed address (the first after the gateway), which kind is told is the API server's
  # (docker-shim/docker).
  docker network rm "${KIND_NETWORK}" >/dev/null 2>&1 || true
  docker network create --internal --driver bridge "${KIND_NETWORK}" >/dev/null
  local subnet
  subnet="$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "${KIND_NETWORK}")"
  gateway="$(docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "${KIND_NETWORK}")"
  docker network rm "${KIND_NETWORK}" >/dev/null
  node_ip="$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_address(sys.argv[1]) + 1)' "${gateway}")"
  docker network create --internal --driver bridge --subnet "${subnet}" --gateway "${gateway}" \
    --label proxy-order.kind/cluster="${KIND_CLUSTER_NAME}" "${KIND_NETWORK}" >/dev/null
  say "network ${KIND_NETWORK}: ${subnet}, internal; node ${node_ip}"

  local config="${KIND_WORK}/kind-config.yaml"
  cat >"${config}" <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: ${KIND_CLUSTER_NAME}
networking:
  # No kindnetd (it cannot be built here): tests/kind/node/10-proxy-order-ptp.conflist is the
  # pod network, installed below once the guards are checked, so no pod starts before.
  disableDefaultCNI: true
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/16
nodes:
  - role: control-plane
    image: ${image}
kubeadmConfigPatches:
  - |
    kind: KubeletConfiguration
    # WORKAROUND (cgroup v1): kubelet >= 1.35 refuses to run on a cgroup v1 host unless told
    # otherwise; this machine mounts cgroup v1 hierarchies. Remove on a cgroup v2 host.
    failCgroupV1: false
EOF
  say "kind create cluster (${image})"
  local start=${SECONDS}
  kind_cmd create cluster --config "${config}" --kubeconfig "${kubeconfig}" --retain >&2 \
    || { kind_cmd export logs "${KIND_WORK}/kind-logs" --name "${KIND_CLUSTER_NAME}" >/dev/null 2>&1 || true
         die "kind create cluster failed (node logs: ${KIND_WORK}/kind-logs)"; }
  echo "cluster-create $((SECONDS - start))" >>"${KIND_WORK}/times"

  # The API server from the host: the node's address on the internal network (a published port
  # needs a route from the engine's outside, which an internal network does not have).
  local ip
  ip="$(docker inspect -f "{{(index .NetworkSettings.Networks \"${KIND_NETWORK}\").IPAddress}}" "${node}")"
  [[ -n "${ip}" ]] || die "the node has no address on ${KIND_NETWORK}"
  sed -i "s#server: https://.*#server: https://${ip}:6443#" "${kubeconfig}"
  k get --raw /readyz >/dev/null || die "the API server does not answer at https://${ip}:6443"

  check_guards
  install_pod_network
}

# check_guards: nothing can leave the machine and the node cannot change the machine's kernel
# settings, checked on what was built, before any pod starts (no pod network yet: only the
# host-network static pods and kube-proxy may run).
check_guards() {
  local fail=0 status corefile
  check() { if "${@:2}"; then say "guard ok: $1"; else say "GUARD FAILED: $1"; fail=1; fi; }
  status="$(docker exec "${node}" /kind/proxy-order/node-guard --status 2>/dev/null || true)"
  network_internal() { [[ "$(docker network inspect -f '{{.Internal}}' "${KIND_NETWORK}")" == true ]]; }
  node_networks() {
    [[ "$(docker inspect -f '{{range $n, $v := .NetworkSettings.Networks}}{{$n}} {{end}}' "${node}")" == "${KIND_NETWORK} " ]]
  }
  no_forwarding() { [[ "$(cat /proc/sys/net/ipv4/ip_forward)" == 0 ]]; }
  guard_says() { grep -qx "$1" <<<"${status}"; }
  default_unreachable() { [[ "$(docker exec "${node}" ip -4 route show default)" == "unreachable default"* ]]; }
  no_route_out() { ! docker exec "${node}" ip -4 route get 192.0.2.1 >/dev/null 2>&1; }
  corefile_local() {
    ! grep -qE '^\s*(forward|grpc)\b' <<<"${corefile}" \
      && [[ "$(head -n1 <<<"${corefile}")" == "cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {" ]]
  }
  no_pod_started() {
    [[ -z "$(k get pods -A -o jsonpath='{range .items[?(@.spec.hostNetwork!=true)]}{.metadata.name} {.status.podIP}{"\n"}{end}' \
      | awk '$2 != ""')" ]]
  }
  no_pod_network() { ! docker exec "${node}" sh -c 'ls /etc/cni/net.d/*.conflist' >/dev/null 2>&1; }

  check "the docker network ${KIND_NETWORK} is internal" network_internal
  check "the node is on ${KIND_NETWORK} only" node_networks
  check "the machine does not forward packets (net.ipv4.ip_forward = 0)" no_forwarding
  if kind_public; then
    say "guard skipped: kindest/node has no node guard (KIND_PUBLIC_IMAGES=1); its default route is replaced here"
    docker exec "${node}" ip -4 route replace unreachable default
  else
    check "/proc/sys is read-only in the node" guard_says "proc-sys=ro"
    check "/proc/sys/net is the node's own, writable" guard_says "proc-sys-net=rw"
  fi
  check "the node's default route is unreachable" default_unreachable
  check "an address off the machine is unreachable from the node (192.0.2.1, TEST-NET-1)" no_route_out

  # CoreDNS: kubeadm's ConfigMap replaced by the cluster-local Corefile before CoreDNS can start.
  local cm="${KIND_WORK}/coredns-configmap.yaml"
  k -n kube-system create configmap coredns --from-literal=Corefile="${COREFILE}" \
    --dry-run=client -o yaml >"${cm}"
  k -n kube-system replace -f "${cm}" >/dev/null
  corefile="$(k -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}')"
  check "CoreDNS's Corefile has no forward (only cluster.local and the reverse zones)" corefile_local
  check "no pod outside the host network has started" no_pod_started
  check "no pod network is installed yet" no_pod_network
  ((fail == 0)) || die "a guard failed (above): not installing the pod network"
}

install_pod_network() {
  say "installing the pod network (ptp + host-local + portmap)"
  docker cp "${KIND_DIR}/node/10-proxy-order-ptp.conflist" "${node}:/etc/cni/net.d/10-proxy-order-ptp.conflist"
  k wait --for=condition=Ready "node/${node}" --timeout=120s >/dev/null || die "the node did not become Ready"
  k -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null || die "CoreDNS did not become ready"
  say "node and CoreDNS ready"
}

delete() {
  if [[ -x "${KIND_BIN}" ]] && kind_cmd get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER_NAME}"; then
    kind_cmd delete cluster --name "${KIND_CLUSTER_NAME}" >&2 || true
  fi
  docker network rm "${KIND_NETWORK}" >/dev/null 2>&1 || true
}

case "${1:-}" in
  create) [[ -n "${2:-}" ]] || die "usage: $0 create NODE_IMAGE"; create "$2" ;;
  delete) delete ;;
  *) die "usage: $0 create NODE_IMAGE | delete" ;;
esac
