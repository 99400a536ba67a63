#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Usage: tests/controlplane/with-controlplane.sh CMD [ARGS...]
# Brings the test control plane up (up.sh), runs CMD with
# target/controlplane/env sourced (KUBECONFIG, matching kubectl/helm on PATH),
# and ALWAYS tears it down again (down.sh), also when CMD fails or on Ctrl-C. A control plane
# that was already up and healthy (another run's, or `make controlplane-up`) is used and left
# running: only what this script started is stopped.
# Exits with CMD's exit status (or up.sh's, if the control plane did not start).
# Set CP_KEEP=1 to leave the control plane running afterwards (for debugging).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "${here}/lib.sh"

if (( $# == 0 )); then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

already_up=0
if [[ -f "${CP_PIDS}" && -f "${CP_KUBECONFIG}" ]] \
  && "${CP_BIN}/kubectl" --kubeconfig "${CP_KUBECONFIG}" --request-timeout=5s get --raw=/readyz >/dev/null 2>&1; then
  already_up=1
fi

# shellcheck disable=SC2317 # called by the EXIT trap
teardown() {
  local status=$?
  trap - EXIT INT TERM HUP
  if (( already_up )); then
    echo "with-controlplane: the control plane was already up before this run; leaving it running" >&2
  elif [[ "${CP_KEEP:-0}" == 1 ]]; then
    echo "with-controlplane: CP_KEEP=1, leaving the control plane running (. ${CP_ENV})" >&2
  else
    "${here}/down.sh" || echo "with-controlplane: warning: down.sh failed" >&2
  fi
  exit "${status}"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

"${here}/up.sh"

# shellcheck source=/dev/null
source "${CP_ENV}"
status=0
"$@" || status=$?
exit "${status}"
