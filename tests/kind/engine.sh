#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The Docker engine of the kind tier.
#
#   tests/kind/engine.sh start   use the engine the user runs (DOCKER_HOST, or /var/run/docker.sock
#                                answering) as it is; else start Debian's dockerd (installed with
#                                apt-get when missing) on its own socket and folders under
#                                ${PROXY_ORDER_CACHE}/docker
#   tests/kind/engine.sh stop    stop the engine if this script started it (an engine the user runs
#                                is left alone)
#   tests/kind/engine.sh env     print DOCKER_HOST=... for the engine in use
#
# The engine started here changes nothing of the machine:
#  - no NAT, no iptables rules, and the machine's net.ipv4.ip_forward stays as it is
#    (--iptables=false --ip6tables=false --ip-masq=false --ip-forward=false), no default bridge
#    (--bridge=none): its containers reach nothing off the machine;
#  - its socket, data, exec root, pid file and log are under ${PROXY_ORDER_CACHE}/docker; the
#    files dockerd 20.10 writes to fixed places (/etc/docker/key.json, /opt/containerd,
#    /run/docker/plugins) go to folders there too, bound over those places in a mount namespace
#    of dockerd's own (so the machine's own /etc/docker, /opt and /run are never written);
#  - its containers' cgroups are under one parent, proxy-order-kind, removed when it stops;
#  - it cannot pull: its registry connections go to a proxy address where nothing listens
#    (HTTPS_PROXY=http://127.0.0.1:9), so a missing image fails at once instead of dockerd looking
#    the registry up through the machine's resolver (not with KIND_PUBLIC_IMAGES=1, which pulls).
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

say() { echo "engine: $*" >&2; }
die() { echo "engine: error: $*" >&2; exit 1; }

dir="${KIND_ENGINE_DIR}"
sock="${dir}/docker.sock"
pidfile="${dir}/dockerd.pid"
mode_file="${dir}/started-by-kind-tier"
CGROUP_PARENT=proxy-order-kind

user_engine() {
  if [[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != "unix://${sock}" ]]; then
    echo "${DOCKER_HOST}"
    return 0
  fi
  if [[ -S /var/run/docker.sock ]] && docker -H unix:///var/run/docker.sock version >/dev/null 2>&1; then
    echo unix:///var/run/docker.sock
    return 0
  fi
  return 1
}

own_running() {
  [[ -f "${pidfile}" ]] && kill -0 "$(cat "${pidfile}")" 2>/dev/null \
    && docker -H "unix://${sock}" version >/dev/null 2>&1
}

start() {
  local host
  if host="$(user_engine)"; then
    say "using the Docker engine at ${host} (left running)"
    return 0
  fi
  if own_running; then
    say "the kind tier's engine is already running (${sock})"
    return 0
  fi
  command -v docker >/dev/null 2>&1 || die "the docker client is not installed"
  if ! command -v dockerd >/dev/null 2>&1; then
    say "installing Debian's docker.io (dockerd) with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; } \
      || die "apt-get install docker.io failed"
  fi
  [[ -d /etc/docker ]] || die "/etc/docker (made by the docker.io package) does not exist"
  mkdir -p "${dir}/data" "${dir}/exec" "${dir}/etc-docker" "${dir}/opt" "${dir}/run"
  rm -f "${sock}" "${pidfile}"
  say "starting dockerd $(dockerd --version | sed 's/^Docker version //') on ${sock}"
  # A mount namespace of its own: folders of the cache bound over the fixed places dockerd writes
  # to, with mount(2) directly (the mount program would record the mounts under the machine's
  # /run/mount). Then dockerd in a session of its own, detached from this shell.
  python3 - "${dir}" "${sock}" "${pidfile}" "${CGROUP_PARENT}" <<'PY'
import ctypes, os, sys
d, sock, pidfile, cgroup_parent = sys.argv[1:5]
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x00020000, 4096, 16384, 1 << 18

def check(ret, what):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))

pid = os.fork()
if pid:
    sys.exit(0)
os.setsid()
check(libc.unshare(CLONE_NEWNS), "unshare")
check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
for src, dst in (("etc-docker", "/etc/docker"), ("opt", "/opt"), ("run", "/run")):
    check(libc.mount(os.path.join(d, src).encode(), dst.encode(), None, MS_BIND, None), "bind " + dst)
if os.environ.get("KIND_PUBLIC_IMAGES") != "1":
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        os.environ[var] = "http://127.0.0.1:9"
    for var in ("NO_PROXY", "no_proxy"):
        os.environ.pop(var, None)
log = os.open(os.path.join(d, "dockerd.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0); os.dup2(log, 1); os.dup2(log, 2)
os.closerange(3, 65536)
os.execvp("dockerd", [
    "dockerd", "--host", "unix://" + sock,
    "--data-root", os.path.join(d, "data"), "--exec-root", os.path.join(d, "exec"),
    "--pidfile", pidfile,
    "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false",
    "--bridge=none", "--storage-driver=overlay2",
    "--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", cgroup_parent,
])
PY
  local i
  for i in $(seq 1 120); do
    if docker -H "unix://${sock}" version >/dev/null 2>&1; then
      date -u +%Y-%m-%dT%H:%M:%SZ >"${mode_file}"
      say "dockerd ready ($(cat "${pidfile}"), ${i} tries); log: ${dir}/dockerd.log"
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "${dir}/dockerd.log" >&2 || true
  die "dockerd did not answer on ${sock} within 60 s"
}

# remove_cgroups: the cgroup folders of the engine's containers (and those that kubelet and
# systemd made inside them), deepest first; only empty ones can go, and only ours are touched.
remove_cgroups() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/ /sys/fs/cgroup/unified/; do
    [[ -d "${hierarchy}${CGROUP_PARENT}" ]] || continue
    find "${hierarchy}${CGROUP_PARENT}" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [[ ! -d "${hierarchy}${CGROUP_PARENT}" ]] || say "warning: ${hierarchy}${CGROUP_PARENT} is still there (busy)"
  done
}

stop() {
  if [[ ! -f "${mode_file}" ]]; then
    say "no engine started by the kind tier to stop"
    return 0
  fi
  local pid=""
  [[ -f "${pidfile}" ]] && pid="$(cat "${pidfile}")"
  if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
    # Containers left by an interrupted run first, so that none outlives the engine.
    local left
    left="$(docker -H "unix://${sock}" ps -aq 2>/dev/null || true)"
    if [[ -n "${left}" ]]; then
      # shellcheck disable=SC2086 # one id per word
      docker -H "unix://${sock}" rm -f -v ${left} >/dev/null 2>&1 || true
    fi
    say "stopping dockerd (${pid})"
    kill -TERM "${pid}"
    local i
    for i in $(seq 1 60); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "${pid}" 2>/dev/null; then
      say "dockerd did not stop within 30 s: killing it"
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  fi
  rm -f "${mode_file}" "${sock}"
  remove_cgroups
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env)
    if host="$(user_engine)"; then echo "DOCKER_HOST=${host}"; else echo "DOCKER_HOST=unix://${sock}"; fi
    ;;
  *) die "usage: $0 start|stop|env" ;;
esac
