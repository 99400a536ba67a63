# proxy-order-operator: one entry point for people and CI.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
CRD_FILE := crds/proxyorders.proxy-solutions.net.yaml

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

.PHONY: test
test: fmt-check clippy deny generated-check chart-check unit cluster-tests ## every check and test (what CI runs)

.PHONY: fmt-check
fmt-check: ## cargo fmt --check
	$(CARGO) fmt --all -- --check

.PHONY: fmt
fmt: ## format the code
	$(CARGO) fmt --all

.PHONY: clippy
clippy: ## lints, warnings are errors
	$(CARGO) clippy --locked --all-targets -- -D warnings

.PHONY: unit
unit: ## unit tests, client-vs-simulator tests, golden files
	$(CARGO) test --locked

.PHONY: generate
generate: ## regenerate the CRD YAML from the Rust types, the chart's copy and deploy/
	$(CARGO) run --locked --quiet --bin crdgen > $(CRD_FILE)
	$(MAKE) --no-print-directory chart-generate

.PHONY: generated-check
generated-check: ## fail when the committed CRD differs from the generator's output
	@$(CARGO) run --locked --quiet --bin crdgen | diff -u $(CRD_FILE) - \
	  || { echo "$(CRD_FILE) is stale: run 'make generate' and commit it" >&2; exit 1; }
	@echo "generated files are up to date"

.PHONY: sim
sim: ## run the provider simulator on 127.0.0.1:18080 with API key 'dev-key'
	$(CARGO) run --locked --bin proxy-solutions-sim -- --listen 127.0.0.1:18080 --api-key dev-key

.PHONY: cluster-tests
cluster-tests: ## control-plane smoke checks and end-to-end scenarios on a fresh local control plane
	$(CARGO) test --locked --test e2e --test faults --no-run
	tests/controlplane/with-controlplane.sh tests/cluster-tests.sh

.PHONY: test-e2e
test-e2e: ## only the end-to-end scenarios (starts and stops the control plane)
	tests/controlplane/with-controlplane.sh $(CARGO) test --locked --test e2e

.PHONY: test-faults
test-faults: ## fault suite (200 orders, 30% provider faults, API-server restart) and crash suite (20 runs per kill point)
	$(CARGO) test --locked --test faults --no-run
	FAULTS_N=$${FAULTS_N:-200} CRASH_RUNS=$${CRASH_RUNS:-20} \
	  tests/controlplane/with-controlplane.sh $(CARGO) test --locked --test faults

.PHONY: dev
dev: ## local control plane + simulator + operator + example order; Ctrl-C stops all
	hack/dev.sh

include mk/controlplane.mk
include mk/chart.mk
include mk/bench.mk
include mk/deny.mk
