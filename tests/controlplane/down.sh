#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stop the control plane started by up.sh: exactly the processes recorded in
# target/controlplane/pids (TERM, then KILL after a grace period), then remove
# its data, certificates and kubeconfig. Logs are kept in
# target/controlplane/logs/. Idempotent: does nothing if nothing is recorded.
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

say() { echo "down.sh: $*"; }

grace="${CP_STOP_GRACE:-10}"

if [[ ! -f "${CP_PIDS}" ]]; then
  say "no control plane recorded in ${CP_PIDS}; nothing to stop"
  exit 0
fi

# Stop in reverse start order: controller-manager, apiserver, then etcd.
mapfile -t entries < <(tac "${CP_PIDS}" 2>/dev/null || tail -r "${CP_PIDS}")
for entry in "${entries[@]}"; do
  read -r name pid bin <<<"${entry}"
  [[ -n "${pid:-}" ]] || continue
  if ! cp_pid_alive "${pid}" "${bin}"; then
    say "${name} (pid ${pid}) is not running"
    continue
  fi
  kill -TERM "${pid}" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while cp_pid_alive "${pid}" "${bin}" && (( SECONDS < deadline )); do
    sleep 0.2
  done
  if cp_pid_alive "${pid}" "${bin}"; then
    say "${name} (pid ${pid}) did not stop within ${grace}s; sending KILL"
    kill -KILL "${pid}" 2>/dev/null || true
    sleep 0.5
  fi
  if cp_pid_alive "${pid}" "${bin}"; then
    echo "down.sh: error: could not stop ${name} (pid ${pid})" >&2
    exit 1
  fi
  say "stopped ${name} (pid ${pid})"
done

rm -rf "${CP_DATA}" "${CP_PKI}" "${CP_KUBECONFIG}" "${CP_ENV}"
rm -f "${CP_PIDS}"
say "control plane stopped; logs kept in ${CP_LOGS}"
