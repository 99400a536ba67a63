#!/usr/bin/env bash
# Everything that needs a cluster, against the one KUBECONFIG names: the control-plane smoke
# checks, the Helm chart and manifests, then the operator's end-to-end scenarios. Run through
# tests/controlplane/with-controlplane.sh (make cluster-tests) or against any cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KUBECONFIG:?KUBECONFIG must name the cluster to test against}"
tests/controlplane/smoke.sh
# The chart tests install and remove the CRD themselves: run them before anything else
# installs it.
tests/chart.sh
cargo test --locked --test e2e -- --test-threads="${E2E_THREADS:-4}"
