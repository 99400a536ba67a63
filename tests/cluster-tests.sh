#!/usr/bin/env bash
# Everything that needs a cluster, against the one KUBECONFIG names: the control-plane smoke
# checks, the kubectl plugin without the CRDs, the Helm chart and manifests, the operator's
# end-to-end scenarios, then the short fault and crash suites. Run through
# tests/controlplane/with-controlplane.sh (make cluster-tests) or against any cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KUBECONFIG:?KUBECONFIG must name the cluster to test against}"
tests/controlplane/smoke.sh
# The kubectl plugin on a cluster without the CRDs (before tests/chart.sh installs them).
tests/plugin-no-crd.sh
# The chart tests install and remove the CRD themselves: run them before anything else
# installs it.
tests/chart.sh
# The operator binary with its crash points (Cargo feature `failpoints`), as `make` builds it.
features="${TEST_FEATURES:---features failpoints}"
# shellcheck disable=SC2086 # one or more cargo arguments
cargo test --locked ${features} --test e2e -- --test-threads="${E2E_THREADS:-4}"
# What a tenant trusted with nothing beyond its namespace can do (docs/security.md).
# shellcheck disable=SC2086 # one or more cargo arguments
cargo test --locked ${features} --test hostile -- --test-threads="${HOSTILE_THREADS:-2}"
# Short fault and crash suites (make test-faults runs the full ones). Last: the fault suite
# restarts the API server.
FAULTS_N="${FAULTS_N:-50}" FAULTS_BACKOFF_MAX="${FAULTS_BACKOFF_MAX:-10s}" \
  CRASH_RUNS="${CRASH_RUNS:-2}" cargo test --locked ${features} --test faults
