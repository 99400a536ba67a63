#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Restarts the local control plane's kube-apiserver in place: kills the recorded process,
# keeps it down for a moment, starts it again with exactly the same command line (same port,
# certificates and etcd, so clients reconnect to the same address), and waits for /readyz.
# Used by the fault suite to take the API server away mid-run. A kube-controller-manager that
# exited meanwhile is started again too.
#
#   tests/controlplane/restart-apiserver.sh
#
# Environment:
#   CP_RESTART_SIGNAL    signal that stops it: KILL (default: a crash, down at once) or
#                        TERM (graceful: it drains open watches first, which can take 30 s+)
#   CP_RESTART_DOWNTIME  seconds to stay down before starting again (default 2)
#   CP_READY_TIMEOUT     seconds to wait for /readyz (default 120)
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

say() { echo "restart-apiserver.sh: $*"; }
die() { echo "restart-apiserver.sh: error: $*" >&2; exit 1; }

signal="${CP_RESTART_SIGNAL:-KILL}"
downtime="${CP_RESTART_DOWNTIME:-2}"
timeout_s="${CP_READY_TIMEOUT:-120}"
[[ "${signal}" == TERM || "${signal}" == KILL ]] || die "CP_RESTART_SIGNAL must be TERM or KILL, not ${signal}"

[[ -f "${CP_PIDS}" ]] || die "no control plane recorded in ${CP_PIDS}; start one with tests/controlplane/up.sh"
read -r _ pid bin < <(awk '$1 == "kube-apiserver"' "${CP_PIDS}") || true
[[ -n "${pid:-}" ]] || die "no kube-apiserver recorded in ${CP_PIDS}"
cp_pid_alive "${pid}" "${bin}" || die "kube-apiserver (pid ${pid}) is not running"

# The exact argv, NUL-separated, before the process goes away.
mapfile -d '' -t argv <"/proc/${pid}/cmdline"
(( ${#argv[@]} > 0 )) || die "could not read the command line of pid ${pid}"
# kube-controller-manager exits when the API server vanishes while it is still starting its
# controllers: keep its command line too, to start it again if it does.
read -r _ kcm_pid kcm_bin < <(awk '$1 == "kube-controller-manager"' "${CP_PIDS}") || true
kcm_argv=()
if [[ -n "${kcm_pid:-}" ]] && cp_pid_alive "${kcm_pid}" "${kcm_bin}"; then
  mapfile -d '' -t kcm_argv <"/proc/${kcm_pid}/cmdline"
fi

kill "-${signal}" "${pid}"
deadline=$((SECONDS + 30))
while cp_pid_alive "${pid}" "${bin}"; do
  if (( SECONDS >= deadline )); then
    kill -KILL "${pid}" 2>/dev/null || true
  fi
  sleep 0.2
done
say "stopped kube-apiserver (pid ${pid}, SIG${signal}); down for ${downtime}s"
sleep "${downtime}"

new_pid="$(cp_spawn "${CP_LOGS}/kube-apiserver.log" "${argv[@]}")" || die "could not start kube-apiserver again"
tmp="$(mktemp "${CP_PIDS}.XXXXXX")"
awk -v p="${new_pid}" '$1 == "kube-apiserver" { $2 = p } { print }' "${CP_PIDS}" >"${tmp}"
mv "${tmp}" "${CP_PIDS}"

kubectl=("${CP_BIN}/kubectl" --kubeconfig "${CP_KUBECONFIG}")
deadline=$((SECONDS + timeout_s))
until "${kubectl[@]}" --request-timeout=5s get --raw=/readyz >/dev/null 2>&1; do
  cp_pid_alive "${new_pid}" "${bin}" \
    || die "kube-apiserver exited after the restart; log: ${CP_LOGS}/kube-apiserver.log"
  (( SECONDS < deadline )) || die "kube-apiserver not ready ${timeout_s}s after the restart"
  sleep 0.5
done
say "kube-apiserver is back (pid ${new_pid})"

if (( ${#kcm_argv[@]} > 0 )) && ! cp_pid_alive "${kcm_pid}" "${kcm_bin}"; then
  kcm_new="$(cp_spawn "${CP_LOGS}/kube-controller-manager.log" "${kcm_argv[@]}")" \
    || die "could not start kube-controller-manager again"
  tmp="$(mktemp "${CP_PIDS}.XXXXXX")"
  awk -v p="${kcm_new}" '$1 == "kube-controller-manager" { $2 = p } { print }' "${CP_PIDS}" >"${tmp}"
  mv "${tmp}" "${CP_PIDS}"
  say "kube-controller-manager had exited with the API server; started it again (pid ${kcm_new})"
fi
